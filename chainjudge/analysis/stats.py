"""Agreement statistics on plain arrays (pure numpy): kappa (plain, weighted, batched for the bootstrap),
Krippendorff's alpha, tau-bench's pass^k and the Wilson interval.  Checked against scikit-learn and the
krippendorff package in the tests."""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import numpy as np


def confusion_matrix(reference: Sequence[int], candidate: Sequence[int], n: int) -> np.ndarray:
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (np.asarray(reference, dtype=np.int64), np.asarray(candidate, dtype=np.int64)), 1)
    return matrix


def kappa_from_confusion(confusion: np.ndarray, weights: str | None = None) -> float | None:
    """Cohen's kappa (nominal), or weighted kappa with 'linear' / 'quadratic' weights (ordinal)."""
    conf = np.asarray(confusion, dtype=float)
    total = conf.sum()
    if total == 0:
        return None
    k = conf.shape[0]
    if weights is None:
        w = 1 - np.eye(k)
    else:
        grid = np.abs(np.subtract.outer(np.arange(k), np.arange(k))) / max(1, k - 1)
        w = grid if weights == "linear" else grid**2
    expected = np.outer(conf.sum(1), conf.sum(0)) / total
    denominator = (w * expected).sum()
    if denominator == 0:
        return None  # one class on both sides: kappa is undefined, not perfect
    return float(1 - (w * conf).sum() / denominator)


def _kappas_batch(confusions: np.ndarray) -> np.ndarray:
    """Nominal kappa for a stack of confusion matrices (bootstrap), NaN where undefined."""
    totals = confusions.sum(axis=(1, 2))
    observed = np.trace(confusions, axis1=1, axis2=2) / np.where(totals == 0, 1, totals)
    expected = (confusions.sum(2) * confusions.sum(1)).sum(1) / np.where(totals == 0, 1, totals) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (observed - expected) / (1 - expected)
    kappa[(totals == 0)] = np.nan
    kappa[expected >= 1] = np.nan  # one class on both sides: agreement cannot be told from chance
    return kappa


def krippendorff_alpha(data: np.ndarray, level: str = "nominal") -> float | None:
    """Krippendorff's alpha for raters x units codes (float, NaN = missing); level nominal/ordinal/interval."""
    data = np.asarray(data, dtype=float)
    values = np.unique(data[~np.isnan(data)])
    if len(values) < 2:
        return None
    index = {v: i for i, v in enumerate(values)}
    c = len(values)
    counts = np.zeros((data.shape[1], c))
    for rater in data:
        mask = ~np.isnan(rater)
        np.add.at(counts, (np.nonzero(mask)[0], np.asarray([index[v] for v in rater[mask]], dtype=np.int64)), 1)
    m = counts.sum(1)
    keep = m >= 2
    counts, m = counts[keep], m[keep]
    if counts.size == 0:
        return None
    scaled = counts / (m - 1)[:, None]
    coincidence = scaled.T @ counts - np.diag(scaled.sum(0))
    n_c = coincidence.sum(1)
    n = n_c.sum()
    if level == "nominal":
        delta = 1 - np.eye(c)
    elif level == "interval":
        delta = np.subtract.outer(values, values) ** 2
    elif level == "ordinal":
        cum = np.cumsum(n_c)
        lo, hi = np.minimum.outer(np.arange(c), np.arange(c)), np.maximum.outer(np.arange(c), np.arange(c))
        between = cum[hi] - np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0)
        delta = (between - (n_c[lo] + n_c[hi]) / 2) ** 2
    else:
        raise ValueError(f"unknown level {level!r}")
    observed = (coincidence * delta).sum()
    expected = (np.outer(n_c, n_c) * delta).sum() / (n - 1)
    if expected == 0:
        return None
    return float(1 - observed / expected)


def pass_hat_k(successes: Sequence[int], trials: Sequence[int], k: int) -> float:
    """tau-bench's pass^k: mean over tasks of C(c, k) / C(n, k), c successes out of n trials."""
    scores = [comb(c, k) / comb(n, k) for c, n in zip(successes, trials, strict=True) if n >= k]
    return float(np.mean(scores)) if scores else float("nan")


def wilson_interval(successes: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    if total == 0:
        return (0.0, 1.0)
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))  # no -0.00 from rounding


def pass_hat_k_curve(outcomes: dict[str, list[bool]]) -> list[tuple[int, float]]:
    """pass^k for k = 1 .. the fewest trials of any task, over tasks' repeated outcomes (tau-bench's
    definition).  Tasks tried once say nothing about consistency and are left out."""
    repeated = {task: trials for task, trials in outcomes.items() if len(trials) > 1} or outcomes
    if not repeated:
        return []
    n = min(len(v) for v in repeated.values())
    successes, trials = [sum(v) for v in repeated.values()], [len(v) for v in repeated.values()]
    return [(k, pass_hat_k(successes, trials, k)) for k in range(1, n + 1)]
