"""Each self-check passes a right answer and rejects the anticipated wrong ones with its hint."""

import pytest
import torch
import torch.nn.functional as F

from tutorials.lec26_debugging_hpc import exercises as ex

# ----------------------------------------------------------------- exercise 1


def _first_nonfinite_grad(model, loss_fn, *, use_output=False, remove=True, skip_none=True, names=True):
    found = []

    def make_hook(name):
        def hook(module, grad_input, grad_output):
            grads = grad_output if use_output else grad_input
            if skip_none:
                grads = [g for g in grads if g is not None]
            if not found and any(not torch.isfinite(g).all() for g in grads):
                found.append(name if names else type(module).__name__)
        return hook

    handles = [m.register_full_backward_hook(make_hook(n)) for n, m in model.named_modules()]
    try:
        loss_fn(model).backward()
    finally:
        if remove:
            for h in handles:
                h.remove()
    return found[0] if found else None


def test_first_nonfinite_grad_check(capsys):
    ex.check_first_nonfinite_grad(_first_nonfinite_grad)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="Check grad_input"):
        ex.check_first_nonfinite_grad(lambda m, f: _first_nonfinite_grad(m, f, use_output=True))
    with pytest.raises(AssertionError, match="still on the model"):
        ex.check_first_nonfinite_grad(lambda m, f: _first_nonfinite_grad(m, f, remove=False))
    with pytest.raises(AssertionError, match="grad_input may hold None"):
        ex.check_first_nonfinite_grad(lambda m, f: _first_nonfinite_grad(m, f, skip_none=False))
    with pytest.raises(AssertionError, match="names of model.named_modules"):
        ex.check_first_nonfinite_grad(lambda m, f: _first_nonfinite_grad(m, f, names=False))
    with pytest.raises(AssertionError, match="every gradient is finite"):
        ex.check_first_nonfinite_grad(lambda m, f: _first_nonfinite_grad(m, f) or "0")


# ----------------------------------------------------------------- exercise 2


def _evaluate(model, batches):
    with torch.no_grad():
        return sum(F.mse_loss(model(x), y).item() for x, y in batches) / len(batches)


def _evaluate_leaky(model, batches):
    losses = [F.mse_loss(model(x), y) for x, y in batches]
    return sum(losses) / len(losses)


_kept = []


def _evaluate_keeps(model, batches):
    _kept[:] = [F.mse_loss(model(x), y) for x, y in batches]  # a float out, the graphs kept aside
    return sum(t.item() for t in _kept) / len(_kept)


def test_evaluate_check(capsys):
    ex.check_evaluate(_evaluate)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="expected a Python float"):
        ex.check_evaluate(_evaluate_leaky)
    with pytest.raises(AssertionError, match="still alive after evaluate returned"):
        ex.check_evaluate(_evaluate_keeps)
    _kept.clear()
    with pytest.raises(AssertionError, match="expected"):
        ex.check_evaluate(lambda m, b: _evaluate(m, b) * 2)
    with pytest.raises(AssertionError, match="never ran"):
        ex.check_evaluate(lambda m, b: 0.0)


# ----------------------------------------------------------------- exercise 3


def _scale_after(overflows, init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 *, reset=True, early=False):
    scale, clean = init_scale, 0
    for inf in overflows:
        if inf:
            scale = scale * backoff_factor
            clean = 0 if reset else clean
        else:
            clean += 1
            if clean == (growth_interval - 1 if early else growth_interval):
                scale, clean = scale * growth_factor, 0
    return scale


def test_scale_after_check(capsys):
    ex.check_scale_after(_scale_after)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="restarts at 0 after an overflow"):
        ex.check_scale_after(lambda o, **kw: _scale_after(o, **kw, reset=False))
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_scale_after(lambda o, **kw: _scale_after(o, **kw, early=True))
    with pytest.raises(AssertionError, match="expected 8192"):
        ex.check_scale_after(lambda o, **kw: kw["init_scale"])


# ----------------------------------------------------------------- exercise 4


def _first_missing(dumps, *, per_group=True, ahead=False):
    last = {}
    for rank, dump in dumps.items():
        for e in dump["entries"]:
            group = e["process_group"][0] if per_group else "all"
            last.setdefault(group, dict.fromkeys(dumps, 0))
            last[group][rank] = max(last[group][rank], e["collective_seq_id"])
    for name in sorted(last):
        low, high = min(last[name].values()), max(last[name].values())
        if low != high:
            ranks = [r for r, s in last[name].items() if (s == high if ahead else s == low)]
            return name, low + 1, sorted(ranks)
    return None


def test_first_missing_check(capsys):
    ex.check_first_missing(_first_missing)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="did NOT issue it"):
        ex.check_first_missing(lambda d: _first_missing(d, ahead=True))
    with pytest.raises(AssertionError, match="count per process group"):
        ex.check_first_missing(lambda d: _first_missing(d, per_group=False))
    with pytest.raises(AssertionError, match="one more than the lowest"):
        ex.check_first_missing(lambda d: (lambda r: r and (r[0], r[1] + 1, r[2]))(_first_missing(d)))
