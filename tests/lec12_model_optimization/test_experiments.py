"""The controlled runs of Lecture 12: one model, seeded runs, NaN reported, fair comparisons."""

import math

import pytest
import torch

from tutorials.core.batches import Batches
from tutorials.core.datasets import digits_split
from tutorials.lec12_model_optimization.experiments import (
    SCHEDULES,
    final,
    make_model,
    manual_accumulation,
    max_param_diff,
    optimizer_factories,
    train_run,
    warmup_cosine,
)

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def data():
    return digits_split(seed=0)


def test_the_model_and_its_dropout():
    model = make_model()
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Dropout"] * 2 + ["Linear"]
    assert (model[0].in_features, model[0].out_features, model[6].out_features) == (64, 128, 10)
    assert model[2].p == 0.1 and make_model(dropout=0.2)[5].p == 0.2
    assert set(make_model(hidden=16, dropout=0.0).state_dict()) == set(model.state_dict()), (
        "without dropout the layers keep their indices: the same state_dict keys")


def test_a_run_is_a_function_of_its_seed(data):
    def run(seed):
        return train_run(data, lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), epochs=1,
                         batch_size=64, seed=seed, device=CPU)

    first, again, other = run(0), run(0), run(1)
    assert len(first["history"]) == 1 and len(first["lrs"]) == 23 and first["error"] is None
    assert max_param_diff(first["model"], again["model"]) == 0.0
    assert max_param_diff(first["model"], other["model"]) > 0.0
    assert final(first, "val_accuracy") == first["history"][-1]["val_accuracy"] > 0.5


def test_a_nan_run_is_recorded_not_raised(data):
    run = train_run(data, lambda p: torch.optim.SGD(p, lr=float("inf")), epochs=2,
                    batch_size=256, seed=0, device=CPU)
    assert run["error"].startswith("epoch 0: loss is not finite")
    assert run["history"] == [] and math.isnan(final(run, "val_loss"))


def test_init_state_and_the_scheduler_reach_the_run(data):
    torch.manual_seed(7)
    init = make_model().state_dict()
    still = train_run(data, lambda p: torch.optim.SGD(p, lr=0.0), epochs=1, batch_size=512, seed=0,
                      device=CPU, init_state=init)
    assert all(torch.equal(v, init[k]) for k, v in still["model"].state_dict().items()), "lr 0: the start"
    run = train_run(data, lambda p: torch.optim.SGD(p, lr=0.1), epochs=2, batch_size=512, seed=0,
                    device=CPU, scheduler_fn=lambda opt, total: SCHEDULES["cosine"](opt, total, 0.1))
    # ceil(1438 / 512) = 3 optimizer steps per epoch; the cosine spans all 6
    assert run["lrs"] == pytest.approx([0.1 * (1 + math.cos(math.pi * t / 6)) / 2 for t in range(6)])


def test_optimizer_factories():
    opts = {name: make(list(make_model().parameters()))
            for name, make in optimizer_factories(lr=0.1, adam_lr=1e-3, weight_decay=0.01).items()}
    assert [type(o).__name__ for o in opts.values()] == ["SGD", "SGD", "Adam", "AdamW"]
    assert opts["SGD+momentum"].defaults["momentum"] == 0.9 and opts["SGD"].defaults["momentum"] == 0
    assert opts["Adam"].defaults["lr"] == 1e-3 and opts["AdamW"].defaults["weight_decay"] == 0.01


def _lrs(name, total=100, lr=0.05):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = SCHEDULES[name](opt, total, lr)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_schedules_have_their_shapes():
    assert set(SCHEDULES) == {"constant", "step decay", "cosine", "warmup + cosine", "OneCycle"}
    assert _lrs("constant") == [0.05] * 100
    assert sorted(set(_lrs("step decay")), reverse=True) == pytest.approx([0.05, 0.005, 0.0005, 0.00005])
    warm = _lrs("warmup + cosine")
    assert warm[0] == pytest.approx(0.0005) and max(warm) == pytest.approx(0.05)
    assert warm.index(max(warm)) == 10, "10 % of the steps warm up"
    one = _lrs("OneCycle")
    assert 25 <= one.index(max(one)) <= 35 and one[-1] < 1e-4


def test_warmup_cosine_warms_up_at_least_one_step():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    warmup_cosine(opt, total=3)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)


def test_manual_accumulation_against_the_large_batch(data):
    """One epoch, no dropout: fit's weighting matches the large batch; the hand loops do not."""
    x, y = data[0][:200], data[1][:200]  # 200 = 3 x 64 + 8: a short last group
    torch.manual_seed(0)
    init = make_model(dropout=0.0).state_dict()
    sgd = lambda p: torch.optim.SGD(p, lr=0.1)  # noqa: E731

    def hand(divide):
        net = make_model(dropout=0.0)
        net.load_state_dict(init)
        manual_accumulation(net, Batches(x, y, 16, 0), sgd(list(net.parameters())), 4, divide_by_k=divide)
        return net

    big = make_model(dropout=0.0)
    big.load_state_dict(init)
    opt = sgd(list(big.parameters()))
    for xb, yb in Batches(x, y, 64, 0):  # the same sample order as the 16-sample batches
        opt.zero_grad()
        torch.nn.functional.cross_entropy(big(xb), yb).backward()
        opt.step()
    divided, unscaled = max_param_diff(big, hand(True)), max_param_diff(big, hand(False))
    assert 1e-5 < divided < unscaled, (divided, unscaled)
