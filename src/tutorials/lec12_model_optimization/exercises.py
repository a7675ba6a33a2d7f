"""Self-checks for the exercises of Lecture 12 (training, schedules, checkpoints).

Each ``check_*`` function takes *your* answer, exercises it on inputs it builds
itself, prints a one-line confirmation when the answer is right, and raises an
``AssertionError`` that says what is wrong (and usually a hint) when it is not.

Examples:
    >>> import torch.nn.functional as F
    >>> def train_step(model, optimizer, inputs, targets):
    ...     optimizer.zero_grad(set_to_none=True)
    ...     loss = F.cross_entropy(model(inputs), targets)
    ...     loss.backward()
    ...     optimizer.step()
    ...     return loss.item()
    >>> check_train_step(train_step)
    ✓ train_step: fresh gradients, one optimizer step, a float returned
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["check_resume", "check_train_step", "check_warmup_cosine"]


def _mlp(seed: int, dropout: float = 0.0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 3))


def _batch(seed: int, n: int = 32) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


def _max_diff(a: nn.Module, b: nn.Module) -> float:
    with torch.no_grad():
        return max(float((p - q).abs().max()) for p, q in zip(a.parameters(), b.parameters()))


def check_train_step(train_step: Callable[..., Any]) -> None:
    """Exercise 1: ``train_step(model, optimizer, inputs, targets) -> float``.

    One optimizer step on one batch with ``F.cross_entropy``: fresh gradients,
    backward, step, and the loss returned as a Python float.

    Args:
        train_step: your function.

    Raises:
        AssertionError: stale gradients were used, the weights did not move as
            one SGD step moves them, or the return value is not the float loss.
    """
    x, y = _batch(0)
    mine, ref = _mlp(0), _mlp(0)
    opt_mine = torch.optim.SGD(mine.parameters(), lr=0.1, momentum=0.9)
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    for p in mine.parameters():  # stale gradients, as a previous step leaves them
        p.grad = torch.ones_like(p)
    expected_loss = None
    for step in range(2):
        before = [p.detach().clone() for p in mine.parameters()]
        result = train_step(mine, opt_mine, x, y)
        opt_ref.zero_grad(set_to_none=True)
        loss = F.cross_entropy(ref(x), y)
        loss.backward()
        opt_ref.step()
        expected_loss = loss.item()
        moved = any(not torch.equal(b, p) for b, p in zip(before, mine.parameters()))
        assert moved, (
            f"step {step}: the parameters did not change; call optimizer.step() after "
            "loss.backward() (and zero the gradients before backward, not between backward and step)"
        )
        d = _max_diff(mine, ref)
        assert d < 1e-6, (
            f"step {step}: weights differ from one SGD step by up to {d:.3g}; the stale "
            "gradients were added in. Call optimizer.zero_grad(set_to_none=True) before backward()"
        )
        assert isinstance(result, float), (
            f"train_step returned {type(result).__name__}; return loss.item(), a Python float "
            "(a tensor keeps the graph alive and forces a sync wherever it is printed)"
        )
        assert abs(result - expected_loss) < 1e-6, (
            f"train_step returned {result:.6f}, but the batch loss before the step is "
            f"{expected_loss:.6f}; return the loss computed in this step"
        )
    print("✓ train_step: fresh gradients, one optimizer step, a float returned")


def _expected_lr(base: float, step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))


def check_warmup_cosine(make_scheduler: Callable[[torch.optim.Optimizer, int, int], Any]) -> None:
    """Exercise 2: ``make_scheduler(optimizer, warmup_steps, total_steps)``.

    The LR used by optimizer step ``s`` (counting from 0) must be
    ``base * (s + 1) / warmup_steps`` during warmup, then
    ``base * (1 + cos(pi * (s - warmup_steps) / (total_steps - warmup_steps))) / 2``.
    The scheduler is stepped once after every ``optimizer.step()``.

    Args:
        make_scheduler: your function returning a ``torch.optim.lr_scheduler`` object.

    Raises:
        AssertionError: an LR differs from the formula (the first wrong step is named).
    """
    for base, warmup, total in ((0.1, 5, 20), (0.5, 3, 12)):
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base)
        sched = make_scheduler(opt, warmup, total)
        assert hasattr(sched, "step"), (
            f"make_scheduler returned {type(sched).__name__}, not a scheduler with .step()")
        for s in range(total):
            got = opt.param_groups[0]["lr"]
            want = _expected_lr(base, s, warmup, total)
            assert abs(got - want) < 1e-9 * max(1.0, base), (
                f"warmup={warmup}, total={total}, base lr {base}: step {s} used lr {got:.6g}, "
                f"expected {want:.6g}. "
                + ("During warmup the LR grows linearly and reaches the base LR at the last "
                   "warmup step (s + 1) / warmup" if s < warmup else
                   "After warmup, the cosine starts at the base LR and reaches 0 at total_steps")
            )
            opt.step()
            sched.step()
    print("✓ warmup + cosine: every step's learning rate matches the formula")


def check_resume(save: Callable[..., Any], load: Callable[..., int]) -> None:
    """Exercise 3: ``save(path, model, optimizer, scheduler, epoch)`` and ``load(...) -> int``.

    ``load(path, model, optimizer, scheduler)`` restores everything in place and
    returns the epoch to continue from (the saved epoch + 1). A run interrupted
    after epoch 2 and resumed must end with exactly the weights of a run that was
    never interrupted. The model uses dropout, so the random generator's state
    is part of the training state. The file must load with
    ``torch.load(path, weights_only=True)``.

    Args:
        save: your save function.
        load: your load function.

    Raises:
        AssertionError: the file holds arbitrary objects, a piece of state was not
            restored (named), or the resumed weights differ.
    """
    data = [_batch(i, 16) for i in range(3)]  # one "epoch" = 3 batches

    def make(seed: int):
        model = _mlp(seed, dropout=0.3)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        return model, opt, sched

    def epoch(model, opt, sched) -> None:
        model.train()
        for x, y in data:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
        sched.step()

    reference = make(0)
    torch.manual_seed(123)
    for _ in range(5):
        epoch(*reference)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ckpt.pt"
        run = make(0)
        torch.manual_seed(123)
        for _ in range(3):  # epochs 0, 1, 2, then the "crash"
            epoch(*run)
        save(path, *run, 2)
        saved_weights = {k: v.clone() for k, v in run[0].state_dict().items()}
        saved_lr = run[1].param_groups[0]["lr"]
        try:
            torch.load(path, weights_only=True)
        except Exception as err:
            raise AssertionError(
                f"torch.load({path.name}, weights_only=True) refused the file ({type(err).__name__}); "
                "save only state_dicts, tensors, numbers and plain containers"
            ) from err
        torch.manual_seed(999)  # a new process starts with other RNG state
        resumed = make(1)  # ...and other initial weights
        start = load(path, *resumed)
    assert start == 3, f"load returned {start!r}; after saving epoch 2 the run continues at epoch 3"
    state = resumed[0].state_dict()
    assert all(torch.equal(state[k], saved_weights[k]) for k in saved_weights), (
        "the model's weights after load differ from the saved ones: "
        "save model.state_dict() and call model.load_state_dict(...)"
    )
    assert resumed[1].state_dict()["state"], (
        "the optimizer has no state after load, so momentum restarts at zero: "
        "save optimizer.state_dict() and call optimizer.load_state_dict(...)"
    )
    assert resumed[1].param_groups[0]["lr"] == saved_lr and resumed[2].last_epoch == 3, (
        f"the scheduler was not restored (lr {resumed[1].param_groups[0]['lr']:g}, expected {saved_lr:g}): "
        "save scheduler.state_dict() and load it"
    )
    for _ in range(start, 5):
        epoch(*resumed)
    d = _max_diff(reference[0], resumed[0])
    assert d == 0.0, (
        f"model, optimizer and scheduler were restored, but the final weights differ by up to {d:.3g}: "
        "dropout drew other masks. Save torch.get_rng_state() and restore it with torch.set_rng_state()"
    )
    print("✓ resume: the interrupted run ends bit-identical to the uninterrupted one")
