"""Failure rates corrected for the judge's own errors (Rogan-Gladen), with an interval that carries the
uncertainty of both the calibration labels and the run.

Why: a judge that misses 30% of failures reports a failure rate that is too low, and one that raises
false alarms reports one that is too high.  With the judge's sensitivity on the failing class (TPR) and
specificity (TNR) measured against the reference labels, the true rate is

    corrected = (observed - (1 - TNR)) / (TPR + TNR - 1), clipped to [0, 1].

The interval comes from a bootstrap that resamples the calibration traces and the run's traces
independently, so a judge calibrated on a handful of labels gets a wide interval.  A judge no better
than chance (TPR + TNR <= 1) cannot be corrected for: the rate is unknown, [0, 1].

Beside it, the prediction-powered rate (`prediction_powered_rate`): the machine's labels on every item
plus the people's correction measured where both exist.  The gate reads the higher of the two upper
bounds (the one that fails closed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chainjudge.core.schema import CorrectedRate, Estimate


def rogan_gladen(observed: float, tpr: float, tnr: float) -> float | None:
    informedness = tpr + tnr - 1
    if informedness <= 0:
        return None
    return float(min(1.0, max(0.0, (observed - (1 - tnr)) / informedness)))


def _per_trace(rows: Sequence[tuple[object, ...]]) -> tuple[list[str], dict[str, int]]:
    traces: dict[str, int] = {}
    for row in rows:
        traces.setdefault(str(row[0]), len(traces))
    return list(traces), traces


def corrected_failure_rate(
    criterion: str,
    run_items: Sequence[tuple[str, bool]],
    calibration_pairs: Sequence[tuple[str, bool, bool]],
    bootstrap: int = 1000,
    seed: int = 0,
) -> CorrectedRate:
    """run_items: (trace id, judge says fail) for every scored judgment of the run on this criterion;
    calibration_pairs: (trace id, reference says fail, judge says fail) on the reference-labelled items."""
    sums = _Sums(run_items, calibration_pairs)
    observed, tpr, tnr = sums.rates(np.ones((1, len(sums.run_traces))), np.ones((1, len(sums.cal_traces))))
    raw = float(observed[0]) if not np.isnan(observed[0]) else None
    point = None
    if raw is not None and not np.isnan(tpr[0]) and not np.isnan(tnr[0]):
        point = rogan_gladen(raw, float(tpr[0]), float(tnr[0]))
    raw_ci: tuple[float | None, float | None] = (None, None)
    corrected_ci: tuple[float | None, float | None] = (None, None)
    if bootstrap and sums.run_traces and sums.cal_traces:
        raw_ci, corrected_ci = _bootstrap_intervals(sums, bootstrap, seed)
    if point is None:
        corrected_ci = (0.0, 1.0)
    n = int(sums.run_n.sum())
    return CorrectedRate(
        criterion=criterion,
        raw_failure_rate=Estimate(value=raw, low=raw_ci[0], high=raw_ci[1], n=n),
        corrected_failure_rate=Estimate(value=point, low=corrected_ci[0], high=corrected_ci[1], n=n),
        ppi_failure_rate=prediction_powered_rate([f for _, f in run_items], [(r, j) for _, r, j in calibration_pairs]),
        tpr=None if np.isnan(tpr[0]) else float(tpr[0]),
        tnr=None if np.isnan(tnr[0]) else float(tnr[0]),
        calibration_items=len(calibration_pairs),
        calibration_traces=len(sums.cal_traces),
        run_traces=len(sums.run_traces),
    )


class _Sums:
    """Per trace: the run's judged and failed items, and the calibration's tp / fn / tn / fp cells, so any
    resampling of traces is a matrix product."""

    def __init__(self, run_items: Sequence[tuple[str, bool]], calibration_pairs: Sequence[tuple[str, bool, bool]]) -> None:
        self.run_traces, run_index = _per_trace(run_items)
        self.cal_traces, cal_index = _per_trace(calibration_pairs)
        self.run_n = np.zeros(len(self.run_traces))
        self.run_fail = np.zeros(len(self.run_traces))
        for trace, fails in run_items:
            self.run_n[run_index[trace]] += 1
            self.run_fail[run_index[trace]] += fails
        self.cells = np.zeros((len(self.cal_traces), 4))  # tp, fn, tn, fp per calibration trace
        for trace, ref_fail, judge_fail in calibration_pairs:
            column = (0 if judge_fail else 1) if ref_fail else (3 if judge_fail else 2)
            self.cells[cal_index[trace], column] += 1

    def rates(self, run_w: np.ndarray, cal_w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Observed failure rate, TPR and TNR under trace weights (one row per resample)."""
        n = run_w @ self.run_n
        observed = np.divide(run_w @ self.run_fail, n, out=np.full(n.shape, np.nan), where=n > 0)
        c = cal_w @ self.cells
        tpr = np.divide(c[..., 0], c[..., 0] + c[..., 1], out=np.full(n.shape, np.nan), where=(c[..., 0] + c[..., 1]) > 0)
        tnr = np.divide(c[..., 2], c[..., 2] + c[..., 3], out=np.full(n.shape, np.nan), where=(c[..., 2] + c[..., 3]) > 0)
        return observed, tpr, tnr


def _bootstrap_intervals(sums: _Sums, bootstrap: int, seed: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """95% intervals of the raw and the corrected rate, resampling run traces and calibration traces."""
    rng = np.random.default_rng(seed)
    run_w = _weights(rng, len(sums.run_traces), bootstrap)
    cal_w = _weights(rng, len(sums.cal_traces), bootstrap)
    obs_b, tpr_b, tnr_b = sums.rates(run_w, cal_w)
    informed = tpr_b + tnr_b - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        corrected_b = np.clip((obs_b - (1 - tnr_b)) / informed, 0.0, 1.0)
    # a resample in which the judge is no better than chance says nothing: it spans [0, 1]
    undefined = ~(informed > 0) | np.isnan(corrected_b)
    low_b = np.where(undefined, 0.0, corrected_b)
    high_b = np.where(undefined, 1.0, corrected_b)
    raw_ci = (float(np.nanpercentile(obs_b, 2.5)), float(np.nanpercentile(obs_b, 97.5)))
    return raw_ci, (float(np.percentile(low_b, 2.5)), float(np.percentile(high_b, 97.5)))


def prediction_powered_rate(
    machine: Sequence[bool], labelled: Sequence[tuple[bool, bool]], z: float = 1.959964, min_labelled: int = 10
) -> Estimate | None:
    """Prediction-powered inference for a rate (Angelopoulos et al., Science 2023): the machine's rate on
    all N items, rectified by the mean of (person - machine) on the n items people labelled, with the
    interval of both parts: rate +- z * sqrt(var(machine) / N + var(person - machine) / n), clipped to
    [0, 1].  Tighter than people's labels alone when the machine agrees with them often; honest (wide)
    when it does not.  labelled: (person says fail, machine says fail).  Fewer than `min_labelled`
    labelled items: None (unknown, never a number)."""
    if not machine or len(labelled) < min_labelled:
        return None
    f = np.asarray(machine, dtype=float)
    rect = np.asarray([float(h) - float(m) for h, m in labelled])
    value = float(f.mean() + rect.mean())
    half = z * float(np.sqrt(f.var(ddof=1) / len(f) + rect.var(ddof=1) / len(rect))) if len(f) > 1 else 1.0
    return Estimate(value=min(1.0, max(0.0, value)), low=max(0.0, value - half), high=min(1.0, value + half), n=len(f))


def _weights(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    draws = rng.integers(0, n, size=(count, n)) + (np.arange(count)[:, None] * n)
    return np.bincount(draws.ravel(), minlength=count * n).reshape(count, n).astype(float)
