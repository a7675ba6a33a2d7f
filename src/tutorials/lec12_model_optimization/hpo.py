"""A small real objective for hyperparameter search, and a random-search baseline.

:class:`DigitsObjective` trains the chapter's small MLP
(:func:`~tutorials.lec12_model_optimization.experiments.make_model`, without dropout) on
scikit-learn's handwritten digits (1,797 real 8×8 scans, shipped with the package) for
a few epochs and returns the validation accuracy, as a function of ``log10(lr)`` and
``log10(weight_decay)``.
One call takes a fraction of a second on a CPU, so a search of a dozen trials
runs in seconds while still being a real training problem: too small a learning
rate does not learn in the budget, too large a one diverges.

:func:`random_search` draws trials uniformly from box bounds with its own seeded
generator; :func:`best_so_far` turns a list of trial results into the curve a
search is judged by.

Examples:
    >>> objective = DigitsObjective(epochs=2)
    >>> acc = objective({"log10_lr": -2.0, "log10_wd": -4.0})
    >>> 0.5 < acc <= 1.0
    True
    >>> best_so_far([0.2, 0.5, 0.4, 0.9])
    [0.2, 0.5, 0.5, 0.9]
    >>> trials = random_search(lambda p: -p["x"] ** 2, {"x": (-1.0, 1.0)}, n_trials=3, seed=0)
    >>> len(trials), sorted(trials[0])
    (3, ['params', 'value'])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from tutorials.core.batches import Batches
from tutorials.core.datasets import digits_split
from tutorials.lec12_model_optimization.experiments import make_model

__all__ = ["DigitsObjective", "best_so_far", "random_search"]

Params = Mapping[str, float]


class DigitsObjective:
    """Validation accuracy of an MLP on the digits after a short AdamW run.

    Call it with ``{"log10_lr": …, "log10_wd": …}``. Every call starts from the
    same initial weights and sees the same batches, so the result is a
    deterministic function of the two hyperparameters (for a fixed number of
    CPU threads).

    Args:
        epochs: passes over the 1,438 training images.
        batch_size: samples per optimizer step.
        hidden: width of the two hidden layers.
        seed: seed of the split, the initial weights and the batch order.

    Raises:
        ValueError: a size is smaller than 1.
    """

    def __init__(self, epochs: int = 3, batch_size: int = 64, hidden: int = 64, seed: int = 0) -> None:
        if min(epochs, batch_size, hidden) < 1:
            raise ValueError(
                f"epochs, batch_size and hidden must be >= 1, got {epochs}, {batch_size}, {hidden}")
        self.epochs, self.batch_size, self.seed = epochs, batch_size, seed
        self.x_train, self.y_train, self.x_val, self.y_val = digits_split(seed)
        self.hidden = hidden
        with torch.random.fork_rng(devices=[]):  # seeded initial weights; the caller's RNG is untouched
            torch.manual_seed(seed)
            self.init_state = {k: v.clone() for k, v in self.make_model().state_dict().items()}
        self.calls = 0

    def make_model(self) -> nn.Sequential:
        """The network: the chapter's MLP 64 → hidden → hidden → 10, without dropout."""
        return make_model(self.hidden, dropout=0.0)

    def __call__(self, params: Params) -> float:
        """Train with ``lr = 10**log10_lr``, ``weight_decay = 10**log10_wd``; return val accuracy.

        Raises:
            KeyError: ``params`` lacks ``log10_lr`` or ``log10_wd`` (named).
        """
        missing = {"log10_lr", "log10_wd"} - set(params)
        if missing:
            raise KeyError(f"DigitsObjective needs parameters {sorted(missing)}, got {sorted(params)}")
        self.calls += 1
        model = self.make_model()
        model.load_state_dict(self.init_state)
        opt = torch.optim.AdamW(model.parameters(), lr=10 ** float(params["log10_lr"]),
                                weight_decay=10 ** float(params["log10_wd"]))
        batches = Batches(self.x_train, self.y_train, self.batch_size, self.seed)  # same batches every call
        model.train()
        for _ in range(self.epochs):
            for inputs, targets in batches:
                loss = F.cross_entropy(model(inputs), targets)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        model.eval()
        with torch.inference_mode():
            logits = model(self.x_val)
        if not torch.isfinite(logits).all():
            return 0.0  # diverged: worse than chance, and a number a search can use
        return float((logits.argmax(1) == self.y_val).float().mean())


def random_search(objective: Callable[[Params], float], bounds: Mapping[str, tuple[float, float]],
                  n_trials: int, seed: int = 0) -> list[dict]:
    """Evaluate ``objective`` at ``n_trials`` points drawn uniformly inside ``bounds``.

    Args:
        objective: maps a dict of parameters to a number to maximize.
        bounds: ``name -> (low, high)`` for each parameter.
        n_trials: number of evaluations.
        seed: seeds the search's own generator (global RNG state is not used).

    Returns:
        One ``{"params": {...}, "value": float}`` per trial, in order.

    Raises:
        ValueError: ``n_trials`` < 1, or a bound with ``low >= high`` (named).
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    for name, (low, high) in bounds.items():
        if not low < high:
            raise ValueError(f"bounds[{name!r}] = ({low}, {high}): low must be < high")
    gen = torch.Generator().manual_seed(seed)
    trials = []
    for _ in range(n_trials):
        u = torch.rand(len(bounds), generator=gen, dtype=torch.float64).tolist()
        params = {name: low + (high - low) * ui for (name, (low, high)), ui in zip(bounds.items(), u)}
        trials.append({"params": params, "value": float(objective(params))})
    return trials


def best_so_far(values: list[float]) -> list[float]:
    """The running maximum of ``values``: after trial *i*, the best result of trials 0..i."""
    out: list[float] = []
    for v in values:
        out.append(v if not out else max(out[-1], v))
    return out
