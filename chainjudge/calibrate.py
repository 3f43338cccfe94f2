"""Agreement statistics between annotators (people, ground truth, judges): pure numpy / scipy.

Every figure a team might mistake for skill is printed beside trivial baselines on the same items, and
intervals come from a bootstrap that resamples *traces* (steps of one trace are not independent).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

import numpy as np
from scipy import stats

from chainjudge.schema import AgreementReport, Baseline, Estimate, Label

DEFAULT_FAILING = ("error", "fail", "-1", "incorrect", "wrong")
TRUSTED_KAPPA = 0.6
REVIEW_KAPPA = 0.4


# ---------------------------------------------------------------- basic statistics


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
        return 1.0 if (w * conf).sum() == 0 else 0.0
    return float(1 - (w * conf).sum() / denominator)


def _kappas_batch(confusions: np.ndarray) -> np.ndarray:
    """Nominal kappa for a stack of confusion matrices (bootstrap), NaN where undefined."""
    totals = confusions.sum(axis=(1, 2))
    observed = np.trace(confusions, axis1=1, axis2=2) / np.where(totals == 0, 1, totals)
    expected = (confusions.sum(2) * confusions.sum(1)).sum(1) / np.where(totals == 0, 1, totals) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (observed - expected) / (1 - expected)
    kappa[(totals == 0)] = np.nan
    kappa[(expected == 1) & (observed == 1)] = 1.0
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
        np.add.at(counts, (np.nonzero(mask)[0], [index[v] for v in rater[mask]]), 1)
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
    scores = [comb(c, k) / comb(n, k) for c, n in zip(successes, trials) if n >= k]
    return float(np.mean(scores)) if scores else float("nan")


def wilson_interval(successes: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    if total == 0:
        return (0.0, 1.0)
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return float(centre - half), float(centre + half)


# ---------------------------------------------------------------- aligning labels


def _step_order(key: str, index: int | None) -> tuple:
    if index is not None:
        return (0, index, key)
    try:
        return (0, int(key), key)
    except ValueError:
        return (1, 0, key)


@dataclass
class _Trace:
    items: list[tuple[tuple, str, str | None]]  # (order, reference value, candidate value or None)
    candidate_failures: list[tuple]  # order of every step the candidate marked failing


def _group(reference: Sequence[Label], candidate: Sequence[Label], failing: set[str]) -> dict[str, _Trace]:
    cand = {(l.trace_id, l.step_key): l for l in candidate if l.step_key}
    traces: dict[str, _Trace] = {}
    for label in reference:
        if not label.step_key:
            continue
        other = cand.get((label.trace_id, label.step_key))
        trace = traces.setdefault(label.trace_id, _Trace([], []))
        trace.items.append((_step_order(label.step_key, label.step_index), label.value, other.value if other else None))
    seen_traces = set(traces)
    for (trace_id, key), label in cand.items():
        if trace_id in seen_traces and label.value in failing:
            traces[trace_id].candidate_failures.append(_step_order(key, label.step_index))
    return traces


def _first_error(orders_and_values: list[tuple[tuple, str]], failing: set[str]) -> tuple | None:
    errors = [order for order, value in orders_and_values if value in failing]
    return min(errors) if errors else None


def order_labels(values: set[str], order: Sequence[str] | None) -> list[str]:
    if order:
        missing = values - set(order)
        if missing:
            raise ValueError(f"labels {sorted(missing)} are not in the given order {list(order)}")
        return list(order)
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)


# ---------------------------------------------------------------- the report


def agreement(
    reference: Sequence[Label],
    candidate: Sequence[Label],
    reference_name: str,
    candidate_name: str,
    criterion: str,
    failing: Sequence[str] | None = None,
    order: Sequence[str] | None = None,
    ordinal: bool = False,
    bootstrap: int = 1000,
    seed: int = 0,
    trusted_kappa: float = TRUSTED_KAPPA,
    review_kappa: float = REVIEW_KAPPA,
) -> AgreementReport:
    values = {l.value for l in reference if l.step_key} | {l.value for l in candidate if l.step_key}
    labels = order_labels(values, order)
    fail = set(failing) if failing else {v for v in labels if v.lower() in DEFAULT_FAILING}
    traces = _group(reference, candidate, fail)
    trace_ids = sorted(traces)
    code = {v: i for i, v in enumerate(labels)}
    k = len(labels)

    # per-trace arrays, so the bootstrap resamples traces
    n_items = np.array([len(traces[t].items) for t in trace_ids], dtype=float)
    n_correct = np.array([sum(c == r for _, r, c in traces[t].items) for t in trace_ids], dtype=float)
    first_ok = np.array(
        [
            _first_error([(o, r) for o, r, _ in traces[t].items], fail)
            == (min(traces[t].candidate_failures) if traces[t].candidate_failures else None)
            for t in trace_ids
        ],
        dtype=float,
    )
    per_trace_conf = np.zeros((len(trace_ids), k, k))
    ref_codes, cand_codes = [], []
    for i, t in enumerate(trace_ids):
        for _, r, c in traces[t].items:
            if c is not None:
                per_trace_conf[i, code[r], code[c]] += 1
                ref_codes.append(code[r])
                cand_codes.append(code[c])
    conf = per_trace_conf.sum(0)

    step_acc = n_correct.sum() / n_items.sum() if n_items.sum() else None
    fe_acc = float(first_ok.mean()) if len(first_ok) else None
    kappa = kappa_from_confusion(conf)
    step_ci = fe_ci = kappa_ci = (None, None)
    if bootstrap and len(trace_ids) > 1:
        rng = np.random.default_rng(seed)
        weights = rng.multinomial(len(trace_ids), np.full(len(trace_ids), 1 / len(trace_ids)), size=bootstrap).astype(float)
        step_ci = _interval((weights @ n_correct) / np.maximum(weights @ n_items, 1))
        fe_ci = _interval((weights @ first_ok) / len(trace_ids))
        kappa_ci = _interval(_kappas_batch(np.einsum("bt,tij->bij", weights, per_trace_conf)))

    fail_codes = [code[v] for v in labels if v in fail]
    pass_codes = [code[v] for v in labels if v not in fail]
    tp = conf[np.ix_(fail_codes, fail_codes)].sum()
    fn = conf[np.ix_(fail_codes, pass_codes)].sum()
    fp = conf[np.ix_(pass_codes, fail_codes)].sum()
    tn = conf[np.ix_(pass_codes, pass_codes)].sum()

    spearman = kendall = weighted = None
    if ordinal and len(set(ref_codes)) > 1 and len(set(cand_codes)) > 1:
        spearman = float(stats.spearmanr(ref_codes, cand_codes).statistic)
        kendall = float(stats.kendalltau(ref_codes, cand_codes).statistic)
        weighted = kappa_from_confusion(conf, "linear")
    alpha = None
    if ref_codes:
        alpha = krippendorff_alpha(np.array([ref_codes, cand_codes], dtype=float), "ordinal" if ordinal else "nominal")

    low = kappa_ci[0]
    if low is not None and low >= trusted_kappa:
        trust = "trusted"
    elif low is not None and low >= review_kappa:
        trust = "needs review"
    else:
        trust = "unreliable"
    basis = (
        f"lower bound of Cohen's kappa 95% interval {low:.2f}" if low is not None else "too few traces for an interval"
    ) + f" (trusted >= {trusted_kappa}, needs review >= {review_kappa})"

    return AgreementReport(
        reference=reference_name,
        candidate=candidate_name,
        criterion=criterion,
        labels=labels,
        failing=sorted(fail),
        traces=len(trace_ids),
        reference_items=int(n_items.sum()),
        paired_items=int(conf.sum()),
        step_accuracy=Estimate(value=step_acc, low=step_ci[0], high=step_ci[1]),
        first_error_accuracy=Estimate(value=fe_acc, low=fe_ci[0], high=fe_ci[1]),
        cohen_kappa=Estimate(value=kappa, low=kappa_ci[0], high=kappa_ci[1]),
        weighted_kappa=weighted,
        krippendorff_alpha=alpha,
        spearman=spearman,
        kendall=kendall,
        fail_precision=_ratio(tp, tp + fp),
        fail_recall=_ratio(tp, tp + fn),
        true_negative_rate=_ratio(tn, tn + fp),
        confusion=conf.astype(int).tolist(),
        baselines=_baselines(traces, trace_ids, labels, fail),
        trust=trust,
        trust_basis=basis,
    )


def _interval(samples: np.ndarray) -> tuple[float | None, float | None]:
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return (None, None)
    return float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b else None


def _baselines(traces: dict[str, _Trace], trace_ids: list[str], labels: list[str], fail: set[str]) -> list[Baseline]:
    counts: dict[str, int] = defaultdict(int)
    for t in trace_ids:
        for _, r, _ in traces[t].items:
            counts[r] += 1
    total = sum(counts.values())
    majority = max(counts, key=counts.get) if counts else None
    passing = [v for v in labels if v not in fail]
    always_pass = max(passing, key=lambda v: counts.get(v, 0)) if passing else None
    always_fail = next((v for v in labels if v in fail), None)
    result = []
    for name, constant in (("majority label", majority), ("always pass", always_pass), ("always fail", always_fail)):
        if constant is None or not total:
            result.append(Baseline(name=name, label=constant, step_accuracy=None, first_error_accuracy=None))
            continue
        hits = 0
        for t in trace_ids:
            items = traces[t].items
            ref_first = _first_error([(o, r) for o, r, _ in items], fail)
            mine = min(o for o, _, _ in items) if constant in fail else None
            hits += ref_first == mine
        result.append(
            Baseline(
                name=name, label=constant, step_accuracy=counts.get(constant, 0) / total,
                first_error_accuracy=hits / len(trace_ids),
            )
        )
    return result
