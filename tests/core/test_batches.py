"""In-memory batches: every sample once per pass, an order fixed by the seed, a resumable pass."""

import pytest
import torch

from tutorials.core.batches import Batches, shuffled_batches


def _data(n=10):
    return torch.arange(float(n)).unsqueeze(1), torch.arange(n)


def test_without_a_generator_the_order_is_the_identity():
    x, y = _data()
    batches = list(shuffled_batches(x, y, batch_size=4))
    assert [b.tolist() for _, b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(torch.equal(xb.squeeze(1).long(), yb) for xb, yb in batches), "inputs and targets stay paired"


def test_the_order_is_one_randperm_of_the_generator():
    x, y = _data(7)
    got = torch.cat([b for _, b in shuffled_batches(x, y, 3, torch.Generator().manual_seed(5))])
    assert torch.equal(got, torch.randperm(7, generator=torch.Generator().manual_seed(5)))


def test_start_skips_the_first_batches_of_the_same_permutation():
    x, y = _data()
    whole = [b.tolist() for _, b in shuffled_batches(x, y, 3, torch.Generator().manual_seed(1))]
    rest = [b.tolist() for _, b in shuffled_batches(x, y, 3, torch.Generator().manual_seed(1), start=2)]
    assert rest == whole[2:] and len(whole) == 4
    assert list(shuffled_batches(x, y, 3, torch.Generator().manual_seed(1), start=4)) == []


def test_each_pass_reshuffles_from_the_iterators_own_generator():
    x, y = _data(20)
    batches = Batches(x, y, batch_size=6, seed=0)
    assert len(batches) == 4
    passes = [torch.cat([b for _, b in batches]) for _ in range(3)]
    for order in passes:
        assert sorted(order.tolist()) == list(range(20)), "every sample once per pass"
    assert not torch.equal(passes[0], passes[1])
    g = torch.Generator().manual_seed(0)
    assert all(torch.equal(p, torch.randperm(20, generator=g)) for p in passes), "one randperm per pass"
    again = Batches(x, y, batch_size=6, seed=0)
    assert torch.equal(torch.cat([b for _, b in again]), passes[0]), "the seed fixes the order"


def test_the_global_rng_is_neither_used_nor_changed():
    x, y = _data(20)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = [b.tolist() for _, b in Batches(x, y, 6, seed=3)]
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(999)
    assert [b.tolist() for _, b in Batches(x, y, 6, seed=3)] == first


def test_without_a_seed_every_pass_is_in_order():
    x, y = _data(5)
    batches = Batches(x, y, batch_size=2)
    assert [[b.tolist() for _, b in batches] for _ in range(2)] == [[[0, 1], [2, 3], [4]]] * 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batches_stay_on_the_tensors_device():
    x, y = (t.cuda() for t in _data())
    xb, yb = next(iter(Batches(x, y, 4, seed=0)))
    assert xb.is_cuda and yb.is_cuda
