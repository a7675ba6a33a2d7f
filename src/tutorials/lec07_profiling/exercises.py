"""Self-checks for the exercises of Lecture 7 (profiling and mixed precision).

Each ``check_*`` function takes *your* answer, runs it on inputs it builds itself
(under the profiler where that matters), prints a one-line confirmation when the
answer is right, and raises an ``AssertionError`` that says what is wrong otherwise.

Examples:
    >>> def mean_loss(step, batches):
    ...     total = torch.zeros(())
    ...     for xb, yb in batches:
    ...         total += step(xb, yb)
    ...     return total.item() / len(batches)
    >>> check_sync_free_mean_loss(mean_loss)
    ✓ mean_loss: right mean loss over 6 steps with 1 sync point
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.profiler import ProfilerActivity, profile

__all__ = ["check_bf16_step", "check_sync_free_mean_loss", "check_top_ops"]

Batch = tuple[Tensor, Tensor]


def _task(seed: int = 0) -> tuple[nn.Module, list[Batch]]:
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    batches = [(torch.randn(8, 10, generator=g), torch.randint(0, 3, (8,), generator=g))
               for _ in range(6)]
    return model, batches


def _make_step(model: nn.Module) -> Callable[[Tensor, Tensor], Tensor]:
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def step(xb: Tensor, yb: Tensor) -> Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.detach()

    return step


#: How each Tensor method that hands a value to Python is shown in messages. On a GPU
#: every one of them waits until the GPU has finished all the work queued before it.
_HOST_READS = {
    "item": ".item()", "tolist": ".tolist()", "numpy": ".numpy()", "cpu": ".cpu()",
    "__float__": "float()", "__int__": "int()", "__index__": "an index",
    "__complex__": "complex()", "__bool__": "a truth test (if / bool())",
    "__format__": "an f-string or format()", "__repr__": "print() / repr()",
    "__array__": "a NumPy conversion",
}


class _HostReads(TorchFunctionMode):
    """Record, between the calls of ``step``, each way a tensor's value reaches Python.

    The profiler shows ``.item()`` as ``aten::_local_scalar_dense``, but on a CPU
    ``.tolist()``, ``.numpy()`` and ``.cpu()`` dispatch no op at all, so they leave no
    trace in it; on a GPU each of them waits for the queued work just the same. A
    ``TorchFunctionMode`` sees every Tensor method call from Python (and only the
    outermost one: ``print(t)`` is one ``__repr__``, whatever it reads inside).
    """

    def __init__(self) -> None:
        super().__init__()
        self.gap = 0          # 0: before the first step; k: after the k-th step
        self.in_step = False  # the training step's own ops are not the answer's reads
        self.reads: list[tuple[int, str]] = []  # (gap, how)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if not self.in_step:
            if name in _HOST_READS:
                self.reads.append((self.gap, _HOST_READS[name]))
            elif name == "to" and args:
                device = torch._C._nn._parse_to(*args[1:], **kwargs)[0]
                if device is not None and device.type == "cpu":
                    self.reads.append((self.gap, ".to('cpu')"))
        return func(*args, **kwargs)


def check_sync_free_mean_loss(
    fn: Callable[[Callable[[Tensor, Tensor], Tensor], Sequence[Batch]], float],
) -> None:
    """Exercise 1: the mean loss of a training run with at most one sync point.

    ``fn(step, batches)`` must call ``step(xb, yb)`` once per batch, in order (it trains
    and returns the detached loss tensor), and return the mean loss as a Python float,
    reading a tensor's value on the CPU (``.item()``, ``float()``, ``.tolist()``,
    ``.numpy()``, ``.cpu()``, printing...) at one point of the run only: after the
    last step. Every such read is a sync point on a GPU; reads at the same point
    (with no step between them) count once, since the GPU has nothing left to finish.

    Raises:
        AssertionError: the result is not a float, the mean is wrong, ``step`` was not
            called once per batch, or tensor values were read at more than one point.
    """
    name = getattr(fn, "__name__", "your function")
    model, batches = _task()
    reference_step = _make_step(copy.deepcopy(model))
    expected = sum(reference_step(xb, yb).item() for xb, yb in batches) / len(batches)

    inner = _make_step(model)
    mode = _HostReads()

    def step(xb: Tensor, yb: Tensor) -> Tensor:
        mode.in_step = True
        try:
            return inner(xb, yb)
        finally:
            mode.in_step = False
            mode.gap += 1

    with mode:
        result = fn(step, batches)
    assert isinstance(result, float), (
        f"{name} must return a Python float (e.g. total.item() / len(batches)), "
        f"got {type(result).__name__}"
    )
    assert mode.gap == len(batches), (
        f"{name} called step {mode.gap} times for {len(batches)} batches; call it once per batch"
    )
    assert abs(result - expected) < 1e-5, (
        f"{name} returned {result:.6f}, the mean loss over the {len(batches)} steps is "
        f"{expected:.6f}; add up the losses step returns and divide by the number of batches"
    )
    points = len({gap for gap, _ in mode.reads})
    if points > 1:
        how = Counter(what for _, what in mode.reads)
        shown = ", ".join(f"{what} ×{k}" for what, k in how.most_common())
        raise AssertionError(
            f"{name} read tensor values on the CPU at {points} points of the run ({shown}), "
            "at most 1 expected. On a GPU each read waits for all the queued work, whatever "
            "the call (.item(), float(), .tolist(), .numpy(), .cpu(), print): keep the "
            "running total as a tensor (total += loss) and read it once, after the loop"
        )
    print(f"✓ {name}: right mean loss over {len(batches)} steps with {points} sync point")


def check_top_ops(fn: Callable[[profile, int], list[str]]) -> None:
    """Exercise 2: the ``n`` most-called ``aten::`` ops of a profile.

    ``fn(prof, n)`` must return the names of the ``n`` ``aten::`` ops with the most
    calls in ``prof.key_averages()``, most calls first, ties in alphabetical order.

    Raises:
        AssertionError: the list differs from the expected one.
    """
    name = getattr(fn, "__name__", "your function")
    model, batches = _task()
    step = _make_step(model)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for xb, yb in batches[:3]:
            step(xb, yb)
    # A tie listed against the alphabet: key_averages() keeps the order in which ops
    # first ran, so mul (first) comes before add, both with 3 calls.
    a, b = torch.ones(4), torch.ones(4)
    with profile(activities=[ProfilerActivity.CPU]) as tie:
        for _ in range(3):
            torch.mul(a, b)
            torch.add(a, b)
    for p, n in ((tie, 2), (prof, 1), (prof, 4), (prof, 8), (prof, 10)):
        rows = [e for e in p.key_averages() if e.key.startswith("aten::")]
        rows.sort(key=lambda e: (-e.count, e.key))
        counts = {e.key: e.count for e in rows}
        expected = [e.key for e in rows[:n]]
        got = fn(p, n)
        assert isinstance(got, list) and all(isinstance(s, str) for s in got), (
            f"{name}(prof, {n}) must return a list of op names (str), got {got!r}"
        )
        if got == expected:
            continue
        got_counts = [counts.get(k) for k in got]
        if sorted(got) == sorted(expected) and got_counts == [counts[k] for k in expected]:
            ties = sorted({c for c in got_counts if got_counts.count(c) > 1}, reverse=True)
            raise AssertionError(
                f"{name}(prof, {n}) returned the right ops with the right counts, but ops "
                f"with the same number of calls ({', '.join(map(str, ties))}) in the wrong "
                f"order: {got}. Ties go in alphabetical order of their names"
            )
        shown = ", ".join(f"{k} ({counts.get(k, 'absent')})" for k in got[:n])
        raise AssertionError(
            f"{name}(prof, {n}) returned [{shown}]; expected {expected} (calls: "
            f"{[counts[k] for k in expected]}). Use e.key and e.count of "
            "prof.key_averages(), keep names starting with 'aten::', sort by "
            "(-count, name)"
        )
    print(f"✓ {name}: the most-called aten ops, in order, ties by name")


def check_bf16_step(fn: Callable[[nn.Module, torch.optim.Optimizer, Tensor, Tensor], Tensor]):
    """Exercise 3: one training step with the forward pass under bfloat16 autocast on CPU.

    ``fn(model, opt, x, y)`` must compute ``F.cross_entropy(model(x), y)`` under
    ``torch.amp.autocast(device_type="cpu", dtype=torch.bfloat16)``, run backward and
    the optimizer step, and return the loss.

    Raises:
        AssertionError: the linear layers did not run in bfloat16, the parameters or
            their gradients are not float32, the loss is wrong, or no step was taken.
    """
    name = getattr(fn, "__name__", "your function")
    model, batches = _task()
    x, y = batches[0]
    before = [p.detach().clone() for p in model.parameters()]
    dtypes: dict[str, torch.dtype] = {}
    hooks = [
        m.register_forward_hook(lambda m, i, o, k=k: dtypes.__setitem__(k, o.dtype))
        for k, m in model.named_children() if isinstance(m, nn.Linear)
    ]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    try:
        loss = fn(model, opt, x, y)
    finally:
        for h in hooks:
            h.remove()
    assert dtypes, f"{name} never called the model's forward"
    wrong = {k: str(v) for k, v in dtypes.items() if v != torch.bfloat16}
    assert not wrong, (
        f"{name}: the Linear layers produced {wrong}, expected torch.bfloat16; run the "
        "forward pass inside `with torch.amp.autocast(device_type='cpu', "
        "dtype=torch.bfloat16):`"
    )
    for (pname, p), old in zip(model.named_parameters(), before):
        assert p.dtype == torch.float32, (
            f"{name}: parameter {pname!r} is {p.dtype}; autocast keeps parameters float32 "
            "(do not call model.bfloat16())"
        )
        assert p.grad is not None and p.grad.dtype == torch.float32, (
            f"{name}: parameter {pname!r} has no float32 gradient; call loss.backward()"
        )
        assert not torch.equal(p.detach(), old), (
            f"{name}: parameter {pname!r} did not change; call opt.step() after backward"
        )
    assert isinstance(loss, Tensor) and loss.dtype == torch.float32, (
        f"{name} must return the float32 loss tensor (autocast computes cross_entropy in "
        f"float32), got {getattr(loss, 'dtype', type(loss).__name__)}"
    )
    model_ref, _ = _task()
    with torch.no_grad():
        ref = F.cross_entropy(model_ref(x), y)
    assert abs(float(loss.detach()) - float(ref)) < 0.05, (
        f"{name} returned loss {float(loss.detach()):.4f}; the fp32 loss of this batch is "
        f"{float(ref):.4f} — return F.cross_entropy(model(x), y) computed before the step"
    )
    print(f"✓ {name}: Linear layers ran in bfloat16; parameters and gradients stayed float32")
