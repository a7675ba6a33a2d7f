"""Self-checks for the exercises of Lecture 17 (interpretability, debugging and explainability).

Each ``check_*`` function takes *your* answer, tries it on a model and inputs it
builds itself, prints a line starting with ✓ when the answer is right, and raises
an ``AssertionError`` that says what is wrong (with a hint) when it is not.

Examples:
    >>> import torch
    >>> def saliency(model, x, target):
    ...     x = x.clone().requires_grad_()
    ...     model(x).gather(1, target[:, None]).sum().backward()
    ...     return x.grad.abs()
    >>> check_saliency(saliency)
    ✓ saliency: |d logit_target / d input| for every image, as Captum's Saliency
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["check_dead_fraction", "check_integrated_gradients", "check_saliency"]


def _model_and_inputs(seed: int = 0) -> tuple[nn.Module, Tensor, Tensor]:
    from tutorials.lec17_interpretability.models import DigitCNN

    torch.manual_seed(seed)
    model = DigitCNN().eval()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 1, 16, 16, generator=gen)
    return model, x, torch.tensor([1, 4, 7])


def _input_grad(model: nn.Module, x: Tensor, select: Callable[[Tensor], Tensor]) -> Tensor:
    x = x.clone().requires_grad_()
    select(model(x)).sum().backward()
    return x.grad


def check_saliency(saliency: Callable[[nn.Module, Tensor, Tensor], Tensor]) -> None:
    """Exercise 1: saliency by hand, with autograd.

    Args:
        saliency: your ``saliency(model, x, target)``: for images ``x (N, 1, H, W)`` and
            class indices ``target (N,)``, the absolute gradient of each image's target
            logit with respect to its pixels, shape ``(N, 1, H, W)``.
    """
    from captum.attr import Saliency

    model, x, target = _model_and_inputs()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Input Tensor .* did not already require gradients")
        expected = Saliency(model).attribute(x, target=target)
    got = saliency(model, x.clone(), target)
    assert isinstance(got, Tensor), f"return a tensor, got {type(got).__name__}"
    assert got.shape == x.shape, f"return one value per pixel, shape {tuple(x.shape)}; got {tuple(got.shape)}"
    got = got.detach()
    if torch.allclose(got, expected, atol=1e-6):
        print("✓ saliency: |d logit_target / d input| for every image, as Captum's Saliency")
        return
    signed = _input_grad(model, x, lambda out: out.gather(1, target[:, None]))
    if torch.allclose(got, signed, atol=1e-6):
        raise AssertionError("these are signed gradients: Saliency is their absolute value (take .abs())")
    all_logits = _input_grad(model, x, lambda out: out).abs()
    if torch.allclose(got, all_logits, atol=1e-6):
        raise AssertionError("this is the gradient of the sum of all 10 logits: select each image's "
                             "target logit first, e.g. out.gather(1, target[:, None])")
    raise AssertionError("the values differ from Captum's Saliency: differentiate the target *logit* "
                         "(not the loss or a softmax probability) with respect to the input, with the "
                         "model in eval mode")


def check_integrated_gradients(integrated_gradients: Callable[[nn.Module, Tensor, Tensor, Tensor, int],
                                                              Tensor]) -> None:
    """Exercise 2: integrated gradients by hand, a Riemann sum along the straight path.

    Args:
        integrated_gradients: your ``integrated_gradients(model, x, baseline, target, n_steps)``,
            returning attributions of the shape of ``x``.
    """
    from captum.attr import IntegratedGradients

    model, x, target = _model_and_inputs(seed=1)
    baseline = torch.full_like(x, -1.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a hand-written loop runs many tiny passes: threads only add overhead
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Input Tensor .* did not already require gradients")
            expected = IntegratedGradients(model).attribute(x, baselines=baseline, target=target, n_steps=128)
        got = integrated_gradients(model, x.clone(), baseline.clone(), target, 128)
    finally:
        torch.set_num_threads(threads)
    assert isinstance(got, Tensor) and got.shape == x.shape, (
        f"return a tensor of the input's shape {tuple(x.shape)}")
    got = got.detach()
    with torch.no_grad():
        gap = (model(x) - model(baseline)).gather(1, target[:, None]).squeeze(1)
    total = got.sum((1, 2, 3))
    scale = expected.abs().sum().item() / expected.numel()
    close = (got - expected).abs().mean().item() < 0.05 * scale
    if close and torch.allclose(total, gap, rtol=0.02, atol=0.02):
        print("✓ integrated gradients: matches Captum, and the attributions add up to f(x) - f(baseline)")
        return
    grad_at_x = _input_grad(model, x, lambda out: out.gather(1, target[:, None]))
    if torch.allclose(got, grad_at_x * (x - baseline), rtol=1e-3, atol=1e-5):
        raise AssertionError("this is gradient x (x - baseline) at x alone: average the gradient over "
                             "inputs baseline + alpha * (x - baseline) for alpha along [0, 1]")
    path_average = expected / (x - baseline)  # what IG is before the (x - baseline) factor
    if (got - path_average).abs().mean().item() < 0.05 * path_average.abs().mean().item():
        raise AssertionError("the path average of the gradient is there, but multiply it by (x - baseline): "
                             "that factor makes the attributions add up to f(x) - f(baseline)")
    raise AssertionError(f"the attributions add up to {[round(v, 2) for v in total.tolist()]}, but "
                         f"f(x) - f(baseline) is {[round(v, 2) for v in gap.tolist()]}: average the "
                         "gradient of the target logit at n_steps points between baseline and x, "
                         "then multiply by (x - baseline)")


class _PlantedMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 8)
        self.act = nn.ReLU()
        self.out = nn.Linear(8, 2)
        with torch.no_grad():
            self.fc.bias[:3] = -100.0  # units 0-2 never fire: dead
            self.fc.weight[3:].zero_()
            self.fc.weight[3:, 0] = 1.0  # units 3-7 follow the first input
            self.fc.bias[3:] = torch.tensor([0.0, -0.5, -1.0, -1.5, -3.0])  # unit 7 fires on few inputs

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.act(self.fc(x)))


def check_dead_fraction(dead_fraction: Callable[[nn.Module, nn.Module, Tensor], float]) -> None:
    """Exercise 3: a dead-ReLU detector with a forward hook.

    Args:
        dead_fraction: your ``dead_fraction(model, layer, inputs)``: runs ``model(inputs)``
            once, watches the output of ``layer`` (a ``nn.ReLU`` module) with a forward
            hook, and returns the share of its units (dimension 1 of its output) that
            are 0 for *every* input. It must leave no hook behind.
    """
    torch.manual_seed(0)
    model = _PlantedMLP().eval()
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(200, 6, generator=gen)
    got = dead_fraction(model, model.act, inputs)
    assert not model.act._forward_hooks, (
        "a forward hook is still registered on the layer: keep the handle that "
        "register_forward_hook returns and call handle.remove() (in a finally: block)")
    assert isinstance(got, float | int) or (isinstance(got, Tensor) and got.numel() == 1), (
        f"return one number, got {type(got).__name__}")
    got = float(got)
    with torch.no_grad():
        pre = model.fc(inputs)
    per_element = (pre <= 0).float().mean().item()
    if abs(got - 3 / 8) < 1e-6:
        print("✓ dead_fraction: 3 of 8 units never fire; units that fire on some inputs are alive")
        return
    if abs(got - per_element) < 1e-6:
        raise AssertionError(f"{got:.3f} is the share of zero *outputs*; a unit is dead when it is 0 for "
                             "every input: reduce with .any() over the batch per unit, then count")
    if abs(got - 5 / 8) < 1e-6:
        raise AssertionError("that is the share of live units: return 1 - it")
    if abs(got - 3) < 1e-6:
        raise AssertionError("return a fraction of the 8 units, not a count")
    raise AssertionError(f"expected 3/8 = 0.375 (3 of the 8 units never fire on the 200 inputs), got {got}")
