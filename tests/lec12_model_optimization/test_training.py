import copy

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tutorials.lec12_model_optimization.early_stopping import EarlyStopping
from tutorials.lec12_model_optimization.training import (
    TrainConfig,
    autocast_for,
    evaluate,
    fit,
    train_one_epoch,
)

CPU = torch.device("cpu")


def task(n=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    data = TensorDataset(torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g))
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    return data, model


@pytest.mark.parametrize("batch,accum", [(8, 4), (10, 3), (7, 5)])
def test_accumulation_equals_the_large_batch(batch, accum):
    """30 samples: micro-batches with a short last one, one optimizer step each way."""
    data, model = task()
    big = copy.deepcopy(model)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    opt_big = torch.optim.SGD(big.parameters(), lr=0.5)
    out = train_one_epoch(model, DataLoader(data, batch_size=batch), loss_fn, opt, device=CPU,
                          accumulation_steps=accum, progress=False)
    train_one_epoch(big, DataLoader(data, batch_size=30), loss_fn, opt_big, device=CPU, progress=False)
    assert out["steps"] == 1 and out["samples"] == 30  # every case is one group of 30
    for p, q in zip(model.parameters(), big.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_clipping_bounds_the_update():
    data, model = task()
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    train_one_epoch(model, DataLoader(data, batch_size=30), nn.CrossEntropyLoss(), opt, device=CPU,
                    clip_grad_norm=1e-3, progress=False)
    step = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(model.parameters(), before)))
    assert float(step) <= 1e-3 * 1.0001  # lr 1: the update is the clipped gradient


def test_bf16_autocast_on_cpu_and_bad_mode():
    data, model = task()
    with autocast_for(CPU, "bf16"):
        assert model(data.tensors[0]).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="amp must be one of"):
        autocast_for(CPU, "fp8")
    with pytest.raises(ValueError, match="amp must be one of"):
        TrainConfig(amp="half")
    hist = fit(model, DataLoader(data, batch_size=10), DataLoader(data, batch_size=30),
               nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), 1e-2),
               config=TrainConfig(epochs=2, amp="bf16", device="cpu", progress=False))
    assert len(hist) == 2 and all(h["train_loss"] > 0 for h in hist)


def test_scheduler_interval_and_plateau():
    data, model = task()
    loaders = DataLoader(data, batch_size=10), DataLoader(data, batch_size=30)
    for interval, expected in (("step", 3 * 2), ("epoch", 2)):
        opt = torch.optim.SGD(model.parameters(), lr=1.0)
        calls: list[int] = []

        def factor(n, calls=calls):
            calls.append(n)
            return 1.0

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        fit(model, *loaders, nn.CrossEntropyLoss(), opt, sched,
            config=TrainConfig(epochs=2, scheduler_interval=interval, device="cpu", progress=False))
        assert len(calls) - 1 == expected, interval  # one call at construction
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    fit(model, *loaders, nn.CrossEntropyLoss(), opt, plateau,
        config=TrainConfig(epochs=3, device="cpu", progress=False))
    assert opt.param_groups[0]["lr"] <= 1.0


def test_modes_early_stopping_and_divergence():
    data, _ = task()
    model = nn.Sequential(nn.Linear(6, 16), nn.Dropout(0.5), nn.Linear(16, 3))
    res = evaluate(model, DataLoader(data, batch_size=30), nn.CrossEntropyLoss(), device=CPU)
    assert not model.training and 0 <= res["accuracy"] <= 1
    hist = fit(model, DataLoader(data, batch_size=10), DataLoader(data, batch_size=30),
               nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.0),
               config=TrainConfig(epochs=10, device="cpu", progress=False),
               early_stopping=EarlyStopping(patience=2, mode="min", min_delta=1.0))
    # epoch 0 sets the best; nothing improves by min_delta after it: the second bad
    # epoch in a row (the patience-th) is the last
    assert len(hist) == 3
    with pytest.raises(RuntimeError, match="epoch 0: loss is not finite") as info:
        fit(model, DataLoader(data, batch_size=10), DataLoader(data, batch_size=30),
            lambda out, y: out.sum() * float("nan"), torch.optim.SGD(model.parameters(), lr=0.1),
            config=TrainConfig(device="cpu", progress=False))
    assert info.value.history == []


def test_records_grad_norm_and_lr_per_step():
    data, model = task()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    hist = fit(model, DataLoader(data, batch_size=10), DataLoader(data, batch_size=30),
               nn.CrossEntropyLoss(), opt, sched, config=TrainConfig(epochs=1, device="cpu", progress=False))
    assert hist[0]["lrs"] == [1.0, 0.5, 0.25]  # the LR each of the 3 steps used
    assert hist[0]["grad_norm"] > 0


def test_tensorboard_missing_is_a_clear_error(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    data, model = task()
    with pytest.raises(RuntimeError, match="needs TensorBoard: pip install tensorboard"):
        fit(model, DataLoader(data, batch_size=10), DataLoader(data, batch_size=30),
            nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
            config=TrainConfig(device="cpu", log_dir=str(tmp_path), progress=False))


def test_tensorboard_scalars_are_written_per_epoch(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data, model = task()
    hist = fit(model, DataLoader(data, batch_size=10), DataLoader(data, batch_size=30),
               nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
               config=TrainConfig(epochs=3, device="cpu", log_dir=str(tmp_path / "tb"), progress=False))
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"train_loss", "val_loss", "val_accuracy", "lr", "grad_norm"}
    logged = events.Scalars("val_loss")
    assert [e.step for e in logged] == [0, 1, 2]
    assert [e.value for e in logged] == pytest.approx([h["val_loss"] for h in hist])


def test_on_epoch_end_sees_the_stopper_after_this_epoch():
    """A checkpoint saved from on_epoch_end holds this epoch's early-stopping counters."""
    data, model = task()
    stopper = EarlyStopping(patience=2, mode="min", min_delta=1.0)  # nothing improves by 1.0 after epoch 0
    seen = []
    hist = fit(model, DataLoader(data, batch_size=10), DataLoader(data, batch_size=30),
               nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
               config=TrainConfig(epochs=10, device="cpu", progress=False), early_stopping=stopper,
               on_epoch_end=lambda rec: seen.append((rec["epoch"], dict(stopper.state_dict()))))
    assert [(h["is_best"], h["stop"]) for h in hist] == [(True, False), (False, False), (False, True)]
    assert [s["epoch"] for _, s in seen] == [0, 1, 2], "stepped before the callback, once per epoch"
    assert seen[-1][1] == stopper.state_dict() and seen[-1][1]["bad_epochs"] == 2
