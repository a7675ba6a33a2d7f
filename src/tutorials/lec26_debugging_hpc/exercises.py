"""Self-checks for the exercises of Lecture 26 (large-scale debugging and HPC practice).

Each ``check_*`` function takes *your* answer, exercises it on inputs it builds
itself, prints a one-line confirmation when the answer is right, and raises an
``AssertionError`` that says what is wrong (and usually a hint) when it is not.

Examples:
    >>> def scale_after(overflows, init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5,
    ...                 growth_interval=2000):
    ...     scale, clean = init_scale, 0
    ...     for inf in overflows:
    ...         if inf:
    ...             scale, clean = scale * backoff_factor, 0
    ...         else:
    ...             clean += 1
    ...             if clean == growth_interval:
    ...                 scale, clean = scale * growth_factor, 0
    ...     return scale
    >>> check_scale_after(scale_after)
    ✓ scale_after: matches torch.amp.GradScaler on 6 sequences of steps
"""

from __future__ import annotations

import gc
import math
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["check_evaluate", "check_first_missing", "check_first_nonfinite_grad", "check_scale_after"]


# ----------------------------------------------------------------- exercise 1


class _Sqrt(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.sqrt()  # finite at 0 in forward; its backward divides by 2 * sqrt(0) = 0


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.act = _Sqrt()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.lin(x))


def _grad_cases() -> list[tuple[str, nn.Module, Callable[[nn.Module], Tensor], str | None]]:
    torch.manual_seed(0)
    x = torch.randn(3, 4)
    flat = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), _Sqrt(), nn.Linear(4, 1))
    with torch.no_grad():
        flat[0].weight.zero_()  # tanh(0) = 0: the square root's input is exactly 0
        flat[0].bias.zero_()
    nested = nn.Sequential(nn.Linear(4, 4), _Block(), nn.Linear(4, 2))
    with torch.no_grad():
        nested[1].lin.weight.zero_()
        nested[1].lin.bias.zero_()  # the square root of exactly 0 inside the block
    fine = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    return [
        ("Sequential(Linear, Tanh, Sqrt, Linear) with sqrt at 0", flat, lambda m: m(x).sum(), "2"),
        ("Sequential(Linear, Block(lin, act=Sqrt), Linear) with sqrt at 0", nested, lambda m: m(x).sum(),
         "1.act"),
        ("a finite MLP", fine, lambda m: m(x).pow(2).mean(), None),
    ]


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._backward_hooks) + len(m._backward_pre_hooks) for m in model.modules())


def check_first_nonfinite_grad(first_nonfinite_grad: Callable[[nn.Module, Callable], str | None]) -> None:
    """Exercise 1: name the module whose backward first produced a non-finite gradient.

    Args:
        first_nonfinite_grad: your ``first_nonfinite_grad(model, loss_fn)``: it calls
            ``loss_fn(model).backward()`` with full backward hooks on every module, and
            returns the qualified name (``"1.act"``) of the first module whose
            ``grad_input`` (the gradient it sends back towards its input) holds NaN or
            Inf, or ``None`` when all are finite; no hook may remain afterwards.

    Raises:
        AssertionError: a wrong name, a leftover hook, or an error, with a hint.
    """
    for label, model, loss_fn, expected in _grad_cases():
        try:
            with warnings.catch_warnings():  # the first layer's input needs no gradient: torch says so
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                got = first_nonfinite_grad(model, loss_fn)
        except Exception as err:  # say which case broke it
            hint = (" grad_input may hold None (for an input that needs no gradient): skip those."
                    if isinstance(err, (TypeError, AttributeError)) else "")
            raise AssertionError(
                f"first_nonfinite_grad raised {type(err).__name__}: {err} on {label}.{hint}") from err
        left = _hook_count(model)
        assert left == 0, (
            f"{left} backward hook(s) still on the model after first_nonfinite_grad on {label}: remove "
            "each handle in a finally block, or every later backward pass runs (and may raise in) them")
        if got == expected:
            continue
        if expected is None:
            raise AssertionError(
                f"{label}: every gradient is finite, but first_nonfinite_grad returned {got!r}")
        raise AssertionError(
            f"{label}: expected {expected!r}, got {got!r}. Check grad_input (what the module sends back), "
            "not grad_output (what it received): the module that turned a finite grad_output into a "
            "non-finite grad_input made the bad values; and use the names of model.named_modules().")
    print("✓ first_nonfinite_grad: names the module on 3 models (flat, nested, finite), no hook left behind")


# ----------------------------------------------------------------- exercise 2


def _eval_setup() -> tuple[nn.Module, list[tuple[Tensor, Tensor]], float]:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    g = torch.Generator().manual_seed(2)
    batches = [(torch.randn(16, 8, generator=g), torch.randn(16, 1, generator=g)) for _ in range(4)]
    with torch.no_grad():
        mean = sum(F.mse_loss(model(x), y).item() for x, y in batches) / len(batches)
    return model, batches, mean


def check_evaluate(evaluate: Callable[[nn.Module, Sequence[tuple[Tensor, Tensor]]], Any]) -> None:
    """Exercise 2: an evaluation loop that keeps no autograd graph alive.

    Args:
        evaluate: your ``evaluate(model, batches)``: the mean over the batches of
            ``F.mse_loss(model(x), y)``, returned as a Python float, with nothing of the
            forward passes kept after it returns.

    Raises:
        AssertionError: a wrong value, a tensor instead of a float, or activations kept, with a hint.
    """
    model, batches, expected = _eval_setup()
    alive: list[weakref.ref] = []
    handle = model[1].register_forward_hook(lambda m, i, out: alive.append(weakref.ref(out)))
    try:
        got = evaluate(model, batches)
        kept = sum(r() is not None for r in alive)
        gc.collect()
        kept_after_gc = sum(r() is not None for r in alive)
    finally:
        handle.remove()
    assert isinstance(got, float), (
        f"evaluate returned {type(got).__name__}, expected a Python float: a tensor result keeps its "
        "graph (and every activation in it) alive for as long as you keep the number; use .item()")
    assert alive, "the model's forward never ran: call model(x) for each batch"
    assert math.isclose(got, expected, rel_tol=1e-5), f"evaluate returned {got}, expected {expected:.6f}"
    assert kept == 0 and kept_after_gc == 0, (
        f"{kept} of {len(alive)} hidden activations are still alive after evaluate returned: something "
        "keeps a graph (a list of loss tensors, a tensor total += loss). Run the loop under "
        "torch.no_grad() and keep .item() values")
    print(f"✓ evaluate: {got:.4f} as a float, no activation alive after the call ({len(alive)} batches)")


# ----------------------------------------------------------------- exercise 3


def _scaler_truth(overflows: Sequence[bool], init_scale: float, growth_factor: float, backoff_factor: float,
                  growth_interval: int) -> float:
    """Drive a real torch.amp.GradScaler with gradients that are Inf exactly when asked."""
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.0)
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale, growth_factor=growth_factor,
                                  backoff_factor=backoff_factor, growth_interval=growth_interval)
    for inf in overflows:
        opt.zero_grad()
        scaler.scale(p.sum()).backward()
        if inf:
            p.grad.fill_(float("inf"))
        scaler.step(opt)
        scaler.update()
    return scaler.get_scale()


def check_scale_after(scale_after: Callable[..., float]) -> None:
    """Exercise 3: the loss scale after a sequence of steps with and without Inf/NaN gradients.

    Args:
        scale_after: your ``scale_after(overflows, init_scale=2.0**16, growth_factor=2.0,
            backoff_factor=0.5, growth_interval=2000)``; ``overflows[i]`` is True when step
            ``i`` found Inf/NaN gradients. It returns the scale after the last
            ``scaler.update()``.

    Raises:
        AssertionError: a scale that differs from ``torch.amp.GradScaler``'s, with a hint.
    """
    cases = [
        ([True] * 3, {}),
        ([False] * 5, {"growth_interval": 5}),
        ([False] * 4 + [True] + [False] * 4, {"growth_interval": 5}),
        ([False] * 3 + [True] + [False] * 5 + [False] * 2, {"growth_interval": 5, "init_scale": 1024.0}),
        ([True, False, False, True, False, False, False], {"growth_interval": 3, "growth_factor": 4.0,
                                                           "backoff_factor": 0.25}),
        ([False] * 12, {"growth_interval": 4}),
    ]
    for overflows, kwargs in cases:
        params = {"init_scale": 2.0**16, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
                  **kwargs}
        expected = _scaler_truth(overflows, **params)
        got = scale_after(list(overflows), **params)
        if got == expected:
            continue
        steps = "".join("X" if o else "." for o in overflows)
        hint = ("the count of clean steps restarts at 0 after an overflow, and after each growth"
                if any(overflows) or len(overflows) > params["growth_interval"]
                else "the scale grows once growth_interval clean steps in a row have passed, not before")
        raise AssertionError(f"steps {steps} (X = Inf/NaN found) with {params}: expected {expected:g}, "
                             f"got {got:g}. Hint: {hint}")
    print(f"✓ scale_after: matches torch.amp.GradScaler on {len(cases)} sequences of steps")


# ----------------------------------------------------------------- exercise 4


def _entry(group: str, seq: int, op: str = "gloo:all_reduce") -> dict[str, Any]:
    return {"process_group": (group, "undefined"), "collective_seq_id": seq, "profiling_name": op,
            "is_p2p": False}


def _dumps_cases() -> list[tuple[str, dict[int, dict[str, Any]], Any]]:
    two_ranks = {0: {"entries": [_entry("0", 1), _entry("0", 2), _entry("0", 3)]},
                 1: {"entries": [_entry("0", 1), _entry("0", 2)]}}
    four_ranks = {r: {"entries": [_entry("0", s) for s in range(1, 5 if r in (0, 3) else 4)]}
                  for r in range(4)}
    groups = {  # group "1" is the data-parallel group; "2" a second group, where rank 0 is behind
        0: {"entries": [_entry("1", 1), _entry("1", 2), _entry("2", 1)]},
        1: {"entries": [_entry("1", 1), _entry("1", 2), _entry("2", 1), _entry("2", 2)]},
    }
    same = {r: {"entries": [_entry("0", 1), _entry("0", 2)]} for r in range(3)}
    return [
        ("2 ranks, rank 1 one collective behind", two_ranks, ("0", 3, [1])),
        ("4 ranks, ranks 1 and 2 behind", four_ranks, ("0", 4, [1, 2])),
        ("2 ranks, 2 process groups, rank 0 behind in group '2'", groups, ("2", 2, [0])),
        ("3 ranks in step", same, None),
    ]


def check_first_missing(first_missing: Callable[[dict[int, dict[str, Any]]], Any]) -> None:
    """Exercise 4: read flight-recorder dumps: the first collective some ranks never issued.

    Args:
        first_missing: your ``first_missing(dumps)``; ``dumps`` maps each rank to its dump,
            whose ``"entries"`` hold ``process_group`` (``(name, desc)``),
            ``collective_seq_id`` and ``profiling_name``. It returns ``(group name,
            sequence number, sorted list of the ranks that did not issue it)`` for the
            first such collective (lowest group name, then lowest number), or ``None``
            when every rank issued the same collectives.

    Raises:
        AssertionError: a wrong answer, with a hint.
    """
    for label, dumps, expected in _dumps_cases():
        got = first_missing(dumps)
        if got is not None and not isinstance(got, tuple):
            got = tuple(got)
        if got is not None and len(got) == 3:
            got = (got[0], got[1], sorted(got[2]))
        if got == expected:
            continue
        wrong_group = expected is not None and (got is None or len(got) != 3 or got[0] != expected[0])
        if wrong_group and (got is not None or label.startswith("2 ranks, 2 process")):
            hint = ("sequence numbers count per process group: compare the ranks group by group "
                    "(entry['process_group'][0]) and return that group's name")
        elif expected is not None and got is not None and got[1] == expected[1]:
            hint = ("the missing ranks are those that did NOT issue it (their last sequence number is "
                    "lower): they are the ones to look at")
        else:
            hint = ("per group, the first missing number is one more than the lowest last "
                    "collective_seq_id over the ranks; None only when all ranks agree")
        raise AssertionError(f"{label}: expected {expected!r}, got {got!r}. Hint: {hint}")
    print("✓ first_missing: finds the collective and the missing ranks in 4 sets of dumps (2 groups too)")
