"""Each self-check passes a right answer and rejects wrong ones with a helpful message."""

import pytest
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch.func import functional_call, grad, vjp, vmap

from tutorials.lec11_func_cpp import exercises as ex


def _per_sample(model, x, y):
    params = {k: v.detach() for k, v in model.named_parameters()}

    def one(p, xi, yi):
        return F.mse_loss(functional_call(model, p, (xi.unsqueeze(0),)), yi.unsqueeze(0))

    return vmap(grad(one), in_dims=(None, 0, 0))(params, x, y)


def _batch_gradient(model, x, y):
    params = {k: v.detach() for k, v in model.named_parameters()}
    g = grad(lambda p: F.mse_loss(functional_call(model, p, (x,)), y))(params)
    return {k: t.expand(len(x), *t.shape) for k, t in g.items()}


def _divided_by_n(model, x, y):
    return {k: t / len(x) for k, t in _per_sample(model, x, y).items()}


def _no_batch_dim(model, x, y):
    return {k: t.sum(0) for k, t in _per_sample(model, x, y).items()}


def test_per_sample_grads_check(capsys):
    ex.check_per_sample_grads(_per_sample)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="every example got the same gradient"):
        ex.check_per_sample_grads(_batch_gradient)
    with pytest.raises(AssertionError, match="1/N of the right value"):
        ex.check_per_sample_grads(_divided_by_n)
    with pytest.raises(AssertionError, match="leading batch dimension"):
        ex.check_per_sample_grads(_no_batch_dim)
    with pytest.raises(AssertionError, match="must return a dict"):
        ex.check_per_sample_grads(lambda m, x, y: None)


def _jvp_dual(fn, x, v):
    with fwAD.dual_level():
        primal, tangent = fwAD.unpack_dual(fn(fwAD.make_dual(x, v)))
    return primal, tangent


def _unpack_outside(fn, x, v):
    with fwAD.dual_level():
        out = fn(fwAD.make_dual(x, v))
    return fwAD.unpack_dual(out)  # the level is closed: tangent None


def _vjp_instead(fn, x, v):
    out, vjp_fn = vjp(fn, x)
    return out, vjp_fn(torch.ones_like(out))[0]


def _swapped(fn, x, v):
    with fwAD.dual_level():
        primal, tangent = fwAD.unpack_dual(fn(fwAD.make_dual(v, x)))
    return fn(x), tangent


def _swapped_both(fn, x, v):  # the same mistake, returning the dual's own primal: f(v)
    with fwAD.dual_level():
        primal, tangent = fwAD.unpack_dual(fn(fwAD.make_dual(v, x)))
    return primal, tangent


def test_jvp_by_dual_numbers_check(capsys):
    ex.check_jvp_by_dual_numbers(_jvp_dual)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="inside `with fwAD.dual_level"):
        ex.check_jvp_by_dual_numbers(_unpack_outside)
    with pytest.raises(AssertionError, match="vector-Jacobian product"):
        ex.check_jvp_by_dual_numbers(_vjp_instead)
    with pytest.raises(AssertionError, match="primal first"):
        ex.check_jvp_by_dual_numbers(_swapped)
    with pytest.raises(AssertionError, match="value is f\\(v\\), not f\\(x\\).*primal first"):
        ex.check_jvp_by_dual_numbers(_swapped_both)


def test_choose_jacobian_check(capsys):
    ex.check_choose_jacobian(lambda n_in, n_out: "jacfwd" if n_in < n_out else "jacrev")
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="one JVP per INPUT"):
        ex.check_choose_jacobian(lambda n_in, n_out: "jacrev")
    with pytest.raises(AssertionError, match="one JVP per INPUT"):
        ex.check_choose_jacobian(lambda n_in, n_out: "jacrev" if n_in < n_out else "jacfwd")
    with pytest.raises(AssertionError, match="return 'jacfwd' or 'jacrev'"):
        ex.check_choose_jacobian(lambda n_in, n_out: "forward")


def _load_into(model, state, x):
    model.load_state_dict(state)
    return model(x)


def _params_only(model, state, x):
    params = {k: v for k, v in state.items() if k in dict(model.named_parameters())}
    return functional_call(model, params, (x,))


def test_predict_with_check(capsys):
    ex.check_predict_with(lambda model, state, x: functional_call(model, state, (x,)))
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="changed the model"):
        ex.check_predict_with(_load_into)
    with pytest.raises(AssertionError, match="model's own prediction"):
        ex.check_predict_with(lambda model, state, x: model(x))
    with pytest.raises(AssertionError, match="include the buffers"):
        ex.check_predict_with(_params_only)
