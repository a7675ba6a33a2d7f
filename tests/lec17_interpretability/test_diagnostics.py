"""Layer statistics, batch-norm drift, MLP pathologies, probes and the randomization test."""

import pytest
import torch
from torch import nn

from tutorials.lec17_interpretability.diagnostics import (
    ActivationStats,
    BatchNormDrift,
    attribution_share,
    cascading_randomization,
    deep_mlp,
    layer_features,
    linear_probe_accuracy,
    rank_correlation,
)


def test_activation_stats_dead_units_and_hooks_removed():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.copy_(torch.tensor([1.0, -1.0, 2.0, -2.0]))
    with ActivationStats(net, ["1"]) as stats:
        net(torch.randn(10, 3))
    s = stats.summary()["1"]
    assert s["dead_fraction"] == 0.5 and s["zero_fraction"] == 0.5
    assert s["mean"] == pytest.approx(0.75) and s["std"] == pytest.approx((0.6875) ** 0.5)
    assert not net[1]._forward_hooks
    with pytest.raises(KeyError, match="no submodule named 'x'"):
        ActivationStats(net, ["x"])


def test_batchnorm_drift_small_for_like_data_large_for_scaled():
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(3)
    for _ in range(50):
        bn(torch.randn(64, 3, 4, 4) * 2 + 1)
    bn.eval()
    with BatchNormDrift(bn) as monitor:
        bn(torch.randn(64, 3, 4, 4) * 2 + 1)
        bn(torch.randn(64, 3, 4, 4) * 20 + 1)
    assert monitor.scores[0] < 0.2 < 2 < monitor.scores[1]
    assert not bn._forward_pre_hooks
    with pytest.raises(ValueError, match="no running statistics"):
        BatchNormDrift(nn.BatchNorm2d(3, track_running_stats=False))


@pytest.mark.parametrize("kind", ["sigmoid", "relu-std1", "relu-kaiming"])
def test_deep_mlp_is_seeded(kind):
    a, b = deep_mlp(kind, depth=3, seed=1), deep_mlp(kind, depth=3, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert len([m for m in a if isinstance(m, nn.Linear)]) == 3


def test_deep_mlp_refuses_unknown_kind():
    with pytest.raises(ValueError, match="kind must be"):
        deep_mlp("tanh")


def test_layer_features_and_probe():
    net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] + x[:, 1] > 0).long()
    feats = layer_features(net, x, ["input", "1"])
    assert feats["input"].shape == (100, 2) and feats["1"].shape == (100, 8)
    assert not net[1]._forward_hooks
    assert linear_probe_accuracy(feats["input"], y, feats["input"], y) > 0.95


def test_attribution_share_and_rank_correlation():
    a = torch.zeros(2, 1, 4, 4)
    a[:, :, 0, 0] = 3.0
    a[:, :, 1, 1] = -1.0
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[0, 0] = True
    assert attribution_share(a, mask) == pytest.approx(0.75)
    m = torch.arange(16.0).reshape(4, 4)
    assert rank_correlation(m, m**2) == pytest.approx(1.0)
    assert rank_correlation(m, -m) == pytest.approx(-1.0)
    assert rank_correlation(m, torch.zeros(4, 4)) == 0.0
    with pytest.raises(ValueError, match="different shapes"):
        rank_correlation(m, m[:2])


def test_rank_correlation_matches_scipy_with_ties():
    from scipy.stats import spearmanr

    gen = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (16, 16), generator=gen).float()  # many ties, like a ReLU'd Grad-CAM map
    b = a + torch.randn(16, 16, generator=gen)
    for x, y in ((a, b), (a, a.flip(0)), (b, b.relu())):
        want = spearmanr(x.flatten().numpy(), y.flatten().numpy()).statistic
        assert rank_correlation(x, y) == pytest.approx(want, abs=1e-12)


def test_cascading_randomization_leaves_model_and_rng_alone():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    before = [p.clone() for p in net.parameters()]
    x = torch.randn(5, 4)

    def explain(m):
        xr = x.clone().requires_grad_()
        m(xr).sum().backward()
        return xr.grad

    state = torch.get_rng_state()
    corr = cascading_randomization(net, ["2", "0"], explain)
    assert len(corr) == 2 and all(-1 <= c <= 1 for c in corr)
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters(), strict=True))
    assert torch.equal(state, torch.get_rng_state())
