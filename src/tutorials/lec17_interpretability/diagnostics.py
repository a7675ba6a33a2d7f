"""Introspection tools of Lecture 17: layer statistics, batch-norm drift, probes, sanity checks.

* :class:`ActivationStats`: forward hooks that record, per layer, the mean and
  standard deviation of its output and which units ever fire (dead ReLUs).
* :class:`BatchNormDrift`: compares each incoming batch with a batch-norm layer's
  running statistics, a cheap detector of corrupted or shifted input.
* :func:`deep_mlp`: the three deep MLPs of the pathology section (vanishing,
  exploding, healthy gradients).
* :func:`layer_features` and :func:`linear_probe_accuracy`: what a linear
  classifier can read from each layer.
* :func:`attribution_share`, :func:`rank_correlation` and
  :func:`cascading_randomization`: the shortcut measure and the model-randomization
  test of Adebayo et al. (2018).

Examples:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    >>> _ = nn.init.constant_(net[0].bias, -100.0)  # every unit below zero: all dead
    >>> with ActivationStats(net, ["1"]) as stats:
    ...     _ = net(torch.randn(16, 4))
    >>> stats.summary()["1"]["dead_fraction"]
    1.0
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "ActivationStats",
    "BatchNormDrift",
    "attribution_share",
    "cascading_randomization",
    "deep_mlp",
    "layer_features",
    "linear_probe_accuracy",
    "rank_correlation",
]


class ActivationStats:
    """Record the output statistics of named submodules with forward hooks (a context manager).

    For each module: the running mean and standard deviation over every output
    element seen, the share of elements that are exactly 0, and, per unit (the
    channel or feature dimension 1), whether it was ever positive. A ReLU unit that
    never fires on a whole data set is *dead*: its gradient is 0 for every input,
    so training cannot revive it. The hooks are removed on exit.

    Args:
        model: the network.
        names: names of the submodules to watch (``dict(model.named_modules())`` keys).
    """

    def __init__(self, model: nn.Module, names: Sequence[str]) -> None:
        modules = dict(model.named_modules())
        missing = [n for n in names if n not in modules]
        if missing:
            raise KeyError(f"no submodule named {missing[0]!r}; the model has {sorted(modules)[1:8]} ...")
        self.modules = {n: modules[n] for n in names}
        self._sums: dict[str, list[float]] = {}
        self._alive: dict[str, Tensor] = {}
        self._handles: list = []

    def __enter__(self) -> ActivationStats:
        for name, module in self.modules.items():
            self._sums[name] = [0.0, 0.0, 0.0, 0]  # sum, sum of squares, zeros, count
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, name: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple, output: Tensor) -> None:
            out = output.detach().double()
            s = self._sums[name]
            s[0] += out.sum().item()
            s[1] += (out * out).sum().item()
            s[2] += (out == 0).sum().item()
            s[3] += out.numel()
            fired = (out > 0).transpose(0, 1).reshape(out.shape[1], -1).any(1)  # per unit
            self._alive[name] = fired | self._alive.get(name, torch.zeros_like(fired))

        return hook

    def summary(self) -> dict[str, dict[str, float]]:
        """Per module: ``mean``, ``std``, ``zero_fraction`` and ``dead_fraction`` (units that never fired)."""
        result = {}
        for name, (total, squares, zeros, count) in self._sums.items():
            if count == 0:
                raise RuntimeError(f"module {name!r} saw no forward pass inside the context")
            mean = total / count
            result[name] = {"mean": mean, "std": math.sqrt(max(squares / count - mean * mean, 0.0)),
                            "zero_fraction": zeros / count,
                            "dead_fraction": 1.0 - self._alive[name].float().mean().item()}
        return result


class BatchNormDrift:
    """Score each batch entering a batch-norm layer against the layer's running statistics.

    The score adds two distances, each averaged over the channels: how many running
    standard deviations the batch's channel means have moved,
    ``|mean - running_mean| / sqrt(running_var + eps)``, and how far the batch's
    channel variances are from the running ones on a log scale,
    ``|log(var / running_var)|``. Batches like the training data score about
    0.1; a batch with a preprocessing bug (wrong scale, inverted, transposed, noisy)
    scores higher. A forward pre-hook reads the input, so the check costs two
    reductions per batch. Use it in eval mode: in train mode the corrupted batch would
    also move the running statistics.

    Args:
        bn: a ``BatchNorm1d``/``BatchNorm2d`` with running statistics.
    """

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm) -> None:
        if bn.running_mean is None:
            raise ValueError("this batch-norm layer has no running statistics (track_running_stats=False)")
        self.bn = bn
        self.scores: list[float] = []
        self._handle = None

    def __enter__(self) -> BatchNormDrift:
        self._handle = self.bn.register_forward_pre_hook(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()

    def _hook(self, module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        x = inputs[0].detach()
        dims = [d for d in range(x.dim()) if d != 1]  # every dimension but the channels
        running_var = module.running_var + module.eps
        shift = (x.mean(dims) - module.running_mean).abs() / running_var.sqrt()
        spread = (x.var(dims) / running_var).log().abs()
        self.scores.append(shift.mean().item() + spread.mean().item())


def deep_mlp(kind: str, depth: int = 8, width: int = 64, seed: int = 0) -> nn.Sequential:
    """A ``depth``-layer MLP from 64 pixels to 10 classes, built to show a gradient pathology.

    Args:
        kind: ``"sigmoid"`` (sigmoid activations, PyTorch's default init: vanishing
            gradients), ``"relu-std1"`` (ReLU, weights drawn from N(0, 1): exploding
            activations and gradients) or ``"relu-kaiming"`` (ReLU with Kaiming-normal
            init, zero biases: healthy).
        depth: number of linear layers.
        width: hidden width.
        seed: seed of the initial weights.
    """
    if kind not in ("sigmoid", "relu-std1", "relu-kaiming"):
        raise ValueError(f"kind must be 'sigmoid', 'relu-std1' or 'relu-kaiming', got {kind!r}")
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    sizes = [64] + [width] * (depth - 1) + [10]
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        linear = nn.Linear(n_in, n_out)
        with torch.no_grad():
            if kind == "sigmoid":  # PyTorch's default: U(-1/sqrt(n_in), 1/sqrt(n_in))
                bound = 1 / math.sqrt(n_in)
                linear.weight.uniform_(-bound, bound, generator=gen)
                linear.bias.uniform_(-bound, bound, generator=gen)
            else:
                std = 1.0 if kind == "relu-std1" else math.sqrt(2 / n_in)  # Kaiming: keeps the variance
                linear.weight.normal_(0, std, generator=gen)
                linear.bias.zero_()
        layers.append(linear)
        if i < depth - 1:
            layers.append(nn.Sigmoid() if kind == "sigmoid" else nn.ReLU())
    return nn.Sequential(*layers)


@torch.no_grad()
def layer_features(model: nn.Module, x: Tensor, names: Sequence[str]) -> dict[str, Tensor]:
    """The outputs of the named submodules on ``x``, each flattened to ``(N, features)``.

    The name ``"input"`` stands for ``x`` itself.
    """
    modules = dict(model.named_modules())
    feats: dict[str, Tensor] = {}
    handles = [modules[n].register_forward_hook(
        lambda m, i, o, n=n: feats.__setitem__(n, o.flatten(1).clone())) for n in names if n != "input"]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return {n: (x.flatten(1).clone() if n == "input" else feats[n]) for n in names}


def linear_probe_accuracy(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor,
                          seed: int = 0) -> float:
    """Test accuracy of a logistic regression fitted on frozen features (a *linear probe*).

    Features are standardized with the training split's statistics; scikit-learn's
    ``LogisticRegression`` (L-BFGS, L2 penalty ``C=1``) does the fitting, on one BLAS
    and OpenMP thread (``threadpoolctl``): the problems are small, and on a busy
    machine extra threads mostly wait for each other (a 50x slowdown was measured
    on 2 loaded cores).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, random_state=seed))
    with threadpool_limits(limits=1):
        probe.fit(train_x.numpy(), train_y.numpy())
        return float(probe.score(test_x.numpy(), test_y.numpy()))


def attribution_share(attributions: Tensor, mask: Tensor) -> float:
    """Share of the total absolute attribution that falls on the pixels of ``mask``.

    Args:
        attributions: ``(..., H, W)`` attributions (any number of images and channels).
        mask: boolean ``(H, W)``, broadcast over the leading dimensions.
    """
    a = attributions.detach().abs()
    return (a * mask).sum().item() / a.sum().clamp_min(1e-12).item()


def _average_ranks(v: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``v``, tied values sharing the mean of their ranks (as ``scipy.stats.rankdata``)."""
    order = np.argsort(v, kind="stable")
    first = np.r_[True, v[order][1:] != v[order][:-1]]  # where each run of equal values starts
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(v)]
    ranks = np.empty(len(v))
    ranks[order] = ((starts + ends + 1) / 2)[np.cumsum(first) - 1]
    return ranks


def rank_correlation(a: Tensor, b: Tensor) -> float:
    """Spearman rank correlation of two maps of the same shape; 0 if one of them is constant.

    The Pearson correlation of the two maps' average ranks over the flattened maps,
    as ``scipy.stats.spearmanr`` computes it (without importing SciPy, which would
    add about a second to the lab's start).
    """
    if a.shape != b.shape:
        raise ValueError(f"maps of different shapes: {tuple(a.shape)} vs {tuple(b.shape)}")
    a, b = a.detach().flatten().double().numpy(), b.detach().flatten().double().numpy()
    if a.min() == a.max() or b.min() == b.max():
        return 0.0  # a constant map (e.g. an all-zero Grad-CAM) has no ranking to agree with
    return float(np.corrcoef(_average_ranks(a), _average_ranks(b))[0, 1])


def cascading_randomization(model: nn.Module, layers: Sequence[str],
                            explain: Callable[[nn.Module], Tensor], seed: int = 0) -> list[float]:
    """The model-parameter randomization test of Adebayo et al. (2018), "cascading" version.

    Re-initializes the parameters of ``layers`` one after another (pass them from the
    output towards the input), each time on top of the previous ones, and compares
    the maps that ``explain(model_copy)`` returns, shape ``(N, ...)``, with the maps
    of the trained model: the mean over the ``N`` images of the Spearman rank
    correlation of the absolute maps. A method whose maps stay highly correlated
    while the weights they should explain are destroyed fails the sanity check.

    Args:
        model: the trained model (not modified: a copy is randomized).
        layers: names of the layers with parameters, output layer first.
        explain: returns the attribution maps of the model it is given.
        seed: seed of the re-initialization.

    Returns:
        One mean correlation per entry of ``layers`` (after randomizing it and all before it).
    """
    reference = explain(model).abs()
    randomized = copy.deepcopy(model)
    modules = dict(randomized.named_modules())
    correlations = []
    with torch.random.fork_rng():  # the caller's random state is left as it was
        torch.manual_seed(seed)
        for name in layers:
            modules[name].reset_parameters()  # the layer's default init: fresh random weights
            maps = explain(randomized).abs()
            correlations.append(float(np.mean([rank_correlation(r, m)
                                               for r, m in zip(reference, maps, strict=True)])))
    return correlations
