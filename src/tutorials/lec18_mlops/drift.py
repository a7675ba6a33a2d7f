"""Data drift: has the input distribution moved since the model was trained?

Two statistics compare a *reference* sample of one feature (what the model was
trained on) with a *current* sample (what production sees now):

* :func:`psi`, the population stability index: bins from the reference's quantiles,
  ``PSI = Σ (c − r) · ln(c / r)`` over the bins' proportions ``r`` (reference) and
  ``c`` (current). Rules of thumb from credit scoring: below 0.1 stable, 0.1–0.25 a
  moderate shift, above 0.25 a major one.
* the two-sample Kolmogorov–Smirnov test (``scipy.stats.ks_2samp``): the largest gap
  between the two empirical CDFs, with a p-value. On large samples the p-value
  flags even harmless shifts, which is why monitors often threshold the statistic
  or the PSI instead.

:func:`new_scanner` simulates a new capture device: a grey background and less
contrast. The module also runs as a command (the chapter's TorchX job)::

    python -m tutorials.lec18_mlops.drift --reference ref.npy --current cur.npy --out report.json

It imports numpy and scipy only, so a job starts in well under a second.

Example:
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.normal(size=5000)
    >>> round(psi(ref, rng.normal(size=5000)), 2) < 0.1, psi(ref, rng.normal(1.0, size=5000)) > 0.25
    (True, True)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

__all__ = ["brightness", "drift_report", "main", "new_scanner", "psi"]


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index of ``current`` against ``reference`` (one feature).

    Args:
        reference: the feature's values at training time.
        current: its values now.
        bins: the number of bins, cut at the reference's quantiles (equal reference counts).
        eps: the smallest proportion used in the logarithm (an empty bin would give infinity).

    Returns:
        The PSI, ≥ 0 (0 when the two histograms are equal).
    """
    reference = np.asarray(reference, dtype=np.float64).ravel()
    current = np.asarray(current, dtype=np.float64).ravel()
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf  # values outside the reference's range fall in the end bins
    r = np.histogram(reference, edges)[0] / len(reference)
    c = np.histogram(current, edges)[0] / len(current)
    r, c = np.clip(r, eps, None), np.clip(c, eps, None)
    return float(np.sum((c - r) * np.log(c / r)))


def brightness(pixels: np.ndarray) -> np.ndarray:
    """The monitored feature: each image's mean pixel value, ``(N, 64) -> (N,)``."""
    return np.asarray(pixels).reshape(len(pixels), -1).mean(axis=1)


def new_scanner(pixels: np.ndarray, background: float = 0.3, contrast: float = 0.6) -> np.ndarray:
    """The same digits as a new scanner delivers them: a grey background and less contrast."""
    return (background + contrast * np.asarray(pixels)).astype(np.float32)


def drift_report(reference: np.ndarray, current: np.ndarray, threshold: float = 0.25) -> dict:
    """PSI and KS of the images' brightness; ``drifted`` when the PSI exceeds ``threshold``.

    Args:
        reference: ``(N, 64)`` pixels the model was trained on.
        current: ``(M, 64)`` pixels seen now.
        threshold: the PSI above which a retraining is triggered.
    """
    from scipy.stats import ks_2samp

    ref, cur = brightness(reference), brightness(current)
    ks = ks_2samp(ref, cur)
    value = psi(ref, cur)
    return {
        "feature": "brightness",
        "n_reference": int(len(ref)),
        "n_current": int(len(cur)),
        "psi": value,
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "threshold": threshold,
        "drifted": bool(value > threshold),
    }


def main(argv: list[str] | None = None) -> dict:
    """Command line: compare two ``.npy`` files of rows (64 pixels first), write a JSON report."""
    parser = argparse.ArgumentParser(
        prog="python -m tutorials.lec18_mlops.drift", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--reference", type=Path, required=True, help="rows the model was trained on (.npy)")
    parser.add_argument("--current", type=Path, required=True, help="rows seen now (.npy)")
    parser.add_argument("--out", type=Path, required=True, help="write the JSON report here")
    parser.add_argument(
        "--threshold", type=float, default=0.25, help="PSI that triggers retraining (default: 0.25)"
    )
    args = parser.parse_args(argv)
    report = drift_report(np.load(args.reference)[:, :64], np.load(args.current)[:, :64], args.threshold)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(
        f"psi {report['psi']:.3f} ks {report['ks_statistic']:.3f} drifted {report['drifted']} -> {args.out}"
    )
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
