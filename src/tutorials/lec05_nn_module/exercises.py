"""Self-checks for the exercises of Lecture 5 (nn.Module from scratch).

Each ``check_*`` function takes *your* answer, exercises it on inputs it builds
itself, prints a one-line confirmation when the answer is right, and raises an
``AssertionError`` that says what is wrong (and usually a hint) when it is not.

Examples:
    >>> from torch import nn
    >>> def init_weights(m):
    ...     if isinstance(m, nn.Linear):
    ...         nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    ...         nn.init.zeros_(m.bias)
    >>> check_init_weights(init_weights)
    ✓ init_weights: Kaiming-normal Linear weights, zero biases, other modules untouched
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["check_conv2d", "check_init_weights", "check_mlp", "check_multi_head"]


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _name(obj: object) -> str:
    return getattr(obj, "__name__", type(obj).__name__)


def check_mlp(cls: type) -> None:
    """Exercise 1: ``cls(widths)``, Linear layers in an ``nn.ModuleList`` named ``layers``.

    Args:
        cls: your class; ``cls([4, 8, 8, 3])`` must have three Linear layers with
            ReLU between them and none after the last.

    Raises:
        AssertionError: parameters are not registered, names or shapes are wrong,
            or the forward pass differs from Linear-ReLU-…-Linear.
    """
    name = _name(cls)
    widths = [4, 8, 8, 3]
    with torch.random.fork_rng():  # the same weights every time, your RNG untouched
        torch.manual_seed(0)
        model = cls(widths)
    assert isinstance(model, nn.Module), f"{name}(...) must be an nn.Module"
    expected = sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
    got = _count(model)
    assert got == expected, (
        f"{name}({widths}) has {got} registered parameters, expected {expected}; "
        "layers kept in a plain Python list are invisible to nn.Module (no "
        "parameters(), no state_dict, no .to()): use nn.ModuleList"
    )
    assert isinstance(getattr(model, "layers", None), nn.ModuleList), (
        f"{name}.layers must be an nn.ModuleList, got {type(getattr(model, 'layers', None)).__name__}"
    )
    names = [n for n, _ in model.named_parameters()]
    want = [f"layers.{i}.{p}" for i in range(len(widths) - 1) for p in ("weight", "bias")]
    assert names == want, f"parameter names should be {want}, got {names}"
    with torch.no_grad():  # negative outputs, so a ReLU after the last layer shows
        model.layers[-1].bias.fill_(-1.0)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    ref = x
    for i, layer in enumerate(model.layers):
        ref = layer(ref)
        if i < len(model.layers) - 1:
            ref = torch.relu(ref)
    out = model(x)
    assert out.shape == (5, 3), f"{name} output should have shape (5, 3), got {tuple(out.shape)}"
    assert torch.allclose(out, ref, atol=1e-6), (
        f"{name}'s forward differs from Linear-ReLU-Linear-ReLU-Linear; "
        "apply ReLU between layers but not after the last one"
    )
    print(f"✓ {name}: {got} parameters registered through nn.ModuleList, forward correct")


def check_multi_head(cls: type) -> None:
    """Exercise 2: ``cls(in_features, hidden, heads)`` with a shared trunk and ModuleDict heads.

    Args:
        cls: your class; ``forward(x, task)`` returns the output of ``task``'s head.

    Raises:
        AssertionError: the heads are not an ``nn.ModuleDict``, shapes are wrong,
            or the trunk is not shared between tasks.
    """
    name = _name(cls)
    heads = {"digit": 10, "parity": 2}
    model = cls(6, 16, heads)
    assert isinstance(getattr(model, "heads", None), nn.ModuleDict), (
        f"{name}.heads must be an nn.ModuleDict (a plain dict hides its layers from "
        f"nn.Module), got {type(getattr(model, 'heads', None)).__name__}"
    )
    assert set(model.heads) == set(heads), (
        f"{name}.heads keys should be {sorted(heads)}, got {sorted(model.heads)}"
    )
    expected = 6 * 16 + 16 + sum(16 * n + n for n in heads.values())
    got = _count(model)
    assert got == expected, (
        f"{name}(6, 16, {heads}) has {got} parameters, expected {expected} "
        "(one Linear(6, 16) trunk shared by all tasks, one Linear(16, n) per task)"
    )
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    for task, n in heads.items():
        out = model(x, task)
        assert tuple(out.shape) == (4, n), (
            f"{name}(x, {task!r}) should have shape (4, {n}), got {tuple(out.shape)}"
        )
    model.zero_grad()
    model(x, "parity").sum().backward()
    digit_grads = [p.grad for p in model.heads["digit"].parameters()]
    assert all(g is None for g in digit_grads), (
        "the loss of task 'parity' changed the 'digit' head: forward(x, task) must use only "
        "heads[task]"
    )
    print(f"✓ {name}: shared trunk, {len(heads)} heads in an nn.ModuleDict, shapes correct")


def check_conv2d(cls: type) -> None:
    """Exercise 3: a ``Conv2d`` module equal to ``nn.Conv2d`` given the same seed.

    Args:
        cls: your class, called as ``cls(in_channels, out_channels, kernel_size,
            stride=..., padding=..., bias=...)``.

    Raises:
        AssertionError: state dict keys or shapes differ, the initialization
            differs from ``nn.Conv2d``'s, or the output differs.
    """
    name = _name(cls)
    for kwargs in ({"stride": 1, "padding": 1, "bias": True},
                   {"stride": 2, "padding": 0, "bias": False}):
        torch.manual_seed(0)
        mine = cls(3, 5, 3, **kwargs)
        torch.manual_seed(0)
        ref = nn.Conv2d(3, 5, 3, **kwargs)
        keys, ref_keys = list(mine.state_dict()), list(ref.state_dict())
        assert keys == ref_keys, (
            f"{name}(3, 5, 3, {kwargs}) state_dict keys {keys}, nn.Conv2d has {ref_keys}; "
            "register 'weight' (out, in, k, k) and 'bias' (or register_parameter('bias', None))"
        )
        for key in keys:
            a, b = mine.state_dict()[key], ref.state_dict()[key]
            assert a.shape == b.shape, f"{key}: shape {tuple(a.shape)}, expected {tuple(b.shape)}"
            assert torch.equal(a, b), (
                f"{key} differs from nn.Conv2d's with the same seed; initialize the weight "
                "with kaiming_uniform_(a=math.sqrt(5)) first, then the bias from "
                "U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels * k * k"
            )
        x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
        out, want = mine(x), ref(x)
        assert out.shape == want.shape, (
            f"output shape {tuple(out.shape)}, nn.Conv2d gives {tuple(want.shape)} for {kwargs}"
        )
        assert torch.allclose(out, want, atol=1e-5), f"output differs from nn.Conv2d for {kwargs}"
    print(f"✓ {name}: same parameters, state_dict and output as nn.Conv2d")


def check_init_weights(fn: Callable[[nn.Module], None]) -> None:
    """Exercise 4: an init function for ``model.apply``: Kaiming-normal Linear, zero bias.

    Args:
        fn: your function, called on every module by ``model.apply(fn)``.

    Raises:
        AssertionError: weight statistics are not Kaiming's, biases are not zero,
            or a module other than ``nn.Linear`` was changed.
    """
    name = _name(fn)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(400, 300), nn.ReLU(), nn.LayerNorm(300),
                          nn.Linear(300, 200))
    model[2].weight.data.fill_(0.5)  # a non-Linear module with parameters: must stay
    model.apply(fn)
    for i, fan_in in ((0, 400), (3, 300)):
        w, b = model[i].weight.detach(), model[i].bias
        target = math.sqrt(2.0 / fan_in)
        std = float(w.std())
        assert abs(std / target - 1) < 0.05, (
            f"Linear {i}: weight std {std:.4f}, Kaiming (fan_in={fan_in}, ReLU) gives "
            f"sqrt(2 / {fan_in}) = {target:.4f}; use nn.init.kaiming_normal_(w, "
            "nonlinearity='relu') (mode='fan_in' is the default)"
        )
        assert abs(float(w.mean())) < 0.1 * target, f"Linear {i}: weights should have mean 0"
        # a normal has kurtosis 3, a uniform 1.8: tells kaiming_normal_ from _uniform_
        kurtosis = float(((w - w.mean()) ** 4).mean() / w.var() ** 2)
        assert kurtosis > 2.5, (
            f"Linear {i}: the weights look uniform (kurtosis {kurtosis:.2f}, a normal "
            "has 3); use nn.init.kaiming_normal_, not kaiming_uniform_"
        )
        assert b is not None and not b.detach().any(), f"Linear {i}: biases should be zero after {name}"
    assert torch.all(model[2].weight == 0.5), (
        "LayerNorm's weight changed: check isinstance(module, nn.Linear) before initializing"
    )
    h = torch.randn(256, 400, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = F.relu(model[0](h))
    assert 0.5 < float(out.pow(2).mean()) < 2.0, "ReLU outputs should keep E[x²] near 1"
    print(f"✓ {name}: Kaiming-normal Linear weights, zero biases, other modules untouched")
