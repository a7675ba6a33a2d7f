"""Each self-check passes a right answer and rejects the anticipated wrong ones with their hint."""

import pytest
import torch

from tutorials.lec17_interpretability import exercises as ex


def _input_grad(model, x, target):
    x = x.clone().requires_grad_()
    model(x).gather(1, target[:, None]).sum().backward()
    return x.grad


def saliency(model, x, target):
    return _input_grad(model, x, target).abs()


def test_saliency_right(capsys):
    ex.check_saliency(saliency)
    assert capsys.readouterr().out.startswith("✓ saliency")


@pytest.mark.parametrize("wrong, hint", [
    (_input_grad, "take .abs()"),
    (lambda m, x, t: torch.autograd.grad(m(x.requires_grad_()).sum(), x)[0].abs(), "sum of all 10 logits"),
    (lambda m, x, t: torch.autograd.grad(
        torch.nn.functional.cross_entropy(m(x.requires_grad_()), t), x)[0].abs(), "target \\*logit\\*"),
    (lambda m, x, t: saliency(m, x, t)[:, :, :8], "one value per pixel"),
])
def test_saliency_wrong(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        ex.check_saliency(wrong)


def integrated_gradients(model, x, baseline, target, n_steps):
    total = torch.zeros_like(x)
    for k in range(n_steps):
        point = baseline + (k + 0.5) / n_steps * (x - baseline)
        total += _input_grad(model, point, target)
    return (x - baseline) * total / n_steps


def test_integrated_gradients_right(capsys):
    ex.check_integrated_gradients(integrated_gradients)
    assert capsys.readouterr().out.startswith("✓ integrated gradients")


@pytest.mark.parametrize("wrong, hint", [
    (lambda m, x, b, t, n: integrated_gradients(m, x, b, t, n) / (x - b), "multiply it by"),
    (lambda m, x, b, t, n: _input_grad(m, x, t) * (x - b), "at x alone"),
    (lambda m, x, b, t, n: integrated_gradients(m, x, b, t, 2) * 0.5, "add up to"),
])
def test_integrated_gradients_wrong(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        ex.check_integrated_gradients(wrong)


def _outputs(model, layer, inputs):
    seen = []
    handle = layer.register_forward_hook(lambda m, a, o: seen.append(o.detach()))
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        handle.remove()
    return seen[0]


def dead_fraction(model, layer, inputs):
    return 1.0 - (_outputs(model, layer, inputs) > 0).any(0).float().mean().item()


def test_dead_fraction_right(capsys):
    ex.check_dead_fraction(dead_fraction)
    assert capsys.readouterr().out.startswith("✓ dead_fraction")


def _leaves_hook(model, layer, inputs):
    seen = []
    layer.register_forward_hook(lambda m, a, o: seen.append(o.detach()))
    with torch.no_grad():
        model(inputs)
    return 1.0 - (seen[0] > 0).any(0).float().mean().item()


@pytest.mark.parametrize("wrong, hint", [
    (lambda m, layer, i: (_outputs(m, layer, i) == 0).float().mean().item(), "share of zero \\*outputs\\*"),
    (lambda m, layer, i: 1.0 - dead_fraction(m, layer, i), "share of live units"),
    (lambda m, layer, i: 8 * dead_fraction(m, layer, i), "not a count"),
    (_leaves_hook, "handle.remove"),
])
def test_dead_fraction_wrong(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        ex.check_dead_fraction(wrong)
