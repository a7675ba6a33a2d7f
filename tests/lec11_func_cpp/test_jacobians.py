"""Unit tests for tutorials.lec11_func_cpp.jacobians: the test map, timings, NTK loop, figures."""

import matplotlib
import pytest
import torch
from torch import nn
from torch.func import jacfwd, jacrev

from tutorials.lec11_func_cpp.jacobians import (
    deep_map,
    ntk_by_loop,
    plot_jacobian_timings,
    plot_ntk,
    time_jacobian_modes,
)

matplotlib.use("Agg")


def test_deep_map_shape_and_determinism():
    f, g = deep_map(3, 5, hidden=8, depth=2, seed=1), deep_map(3, 5, hidden=8, depth=2, seed=1)
    x = torch.randn(3)
    assert f(x).shape == (5,)
    assert torch.equal(f(x), g(x))
    assert jacfwd(f)(x).shape == (5, 3)
    torch.testing.assert_close(jacfwd(f)(x), jacrev(f)(x))


def test_deep_map_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_in=0"):
        deep_map(0, 2)


def test_time_jacobian_modes_rows():
    rows = time_jacobian_modes([(2, 3)], hidden=4, depth=1, min_run_time=0.001)
    (r,) = rows
    assert (r["n_in"], r["n_out"]) == (2, 3)
    assert r["jacfwd_ms"] > 0 and r["jacrev_ms"] > 0
    assert r["rev_over_fwd"] == pytest.approx(r["jacrev_ms"] / r["jacfwd_ms"])
    with pytest.raises(ValueError, match="shape"):
        time_jacobian_modes([(0, 3)])


def test_ntk_by_loop_is_gram_matrix():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 4), nn.Tanh(), nn.Linear(4, 1))
    x = torch.randn(3, 1)
    k = ntk_by_loop(net, x, x)
    assert k.shape == (3, 3)
    torch.testing.assert_close(k, k.T)
    assert torch.linalg.eigvalsh(k.double()).min() > -1e-6
    # the (0, 0) entry is the squared norm of the parameter gradient at x[0]
    net.zero_grad()
    net(x[:1]).sum().backward()
    sq = sum((p.grad**2).sum() for p in net.parameters())
    torch.testing.assert_close(k[0, 0], sq)


def test_plots_write_pngs(tmp_path):
    k = torch.eye(4)
    assert plot_ntk(k, torch.linspace(-1, 1, 4), tmp_path / "k.png").stat().st_size > 0
    rows = [{"n_in": 2, "n_out": 8, "jacfwd_ms": 1.0, "jacrev_ms": 2.0, "rev_over_fwd": 2.0},
            {"n_in": 8, "n_out": 2, "jacfwd_ms": 2.0, "jacrev_ms": 1.0, "rev_over_fwd": 0.5}]
    assert plot_jacobian_timings(rows, tmp_path / "t.png").stat().st_size > 0
