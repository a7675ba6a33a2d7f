"""Throughput measurement of DataLoader settings."""

import pytest
import torch
from torch.utils.data import TensorDataset

from tutorials.loader_bench import LoaderThroughput, best_setting, measure_loader, sweep


@pytest.fixture(scope="module")
def dataset():
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(40, 3, 4, 4, generator=g), torch.arange(40))


def test_one_epoch_is_counted(dataset):
    seen = []
    r = measure_loader(dataset, num_workers=0, batch_size=16, pin_memory=False,
                       step=lambda batch: seen.extend(batch[1].tolist()))
    assert (r.images, r.batches) == (40, 3)
    assert sorted(seen) == list(range(40)), "one shuffled epoch, every sample once"
    assert r.seconds >= r.first_batch_s > 0
    assert r.images_per_s == pytest.approx(40 / r.seconds)
    assert set(r.as_row()) >= {"num_workers", "batch_size", "pin_memory", "images_per_s"}


def test_seed_fixes_the_order(dataset):
    def order(seed):
        seen = []
        measure_loader(dataset, num_workers=0, batch_size=8, pin_memory=False, seed=seed,
                       step=lambda b: seen.extend(b[1].tolist()))
        return seen

    assert order(3) == order(3) != order(4)


def test_pin_memory_is_recorded_not_faked(dataset):
    r = measure_loader(dataset, num_workers=0, batch_size=8, pin_memory=True)
    assert r.pin_memory is True
    assert r.pinned is torch.cuda.is_available()


def test_sweep_grid_order_and_best(dataset):
    printed = []
    results = sweep(dataset, [0, 1], [8, 20], [False], progress=printed.append)
    assert [(r.num_workers, r.batch_size) for r in results] == [(0, 8), (0, 20), (1, 8), (1, 20)]
    assert printed == results
    assert best_setting(results).images_per_s == max(r.images_per_s for r in results)


def test_best_setting_picks_the_argmax():
    def fake(w, rate):
        return LoaderThroughput(w, 8, False, False, 8, 1, 1.0, 0.1, rate)

    assert best_setting([fake(0, 5.0), fake(1, 9.0), fake(2, 7.0)]).num_workers == 1
    with pytest.raises(ValueError, match="at least one"):
        best_setting([])


def test_bad_arguments(dataset):
    with pytest.raises(ValueError, match="num_workers must be >= 0"):
        measure_loader(dataset, num_workers=-1, batch_size=8, pin_memory=False)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        measure_loader(dataset, num_workers=0, batch_size=0, pin_memory=False)


def test_sweep_repeats_keep_the_median(dataset):
    results = sweep(dataset, [0], [10], [False], repeats=3)
    assert len(results) == 1 and results[0].images == 40
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        sweep(dataset, [0], [10], [False], repeats=0)
