"""Agreement statistics between annotators (people, ground truth, judges): pure numpy / scipy.

Every figure a team might mistake for skill is printed beside trivial baselines on the same items, and
intervals come from a bootstrap that resamples *traces* (steps of one trace are not independent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from chainjudge.analysis.panel import aggregate_panel, error_correlation, unanimity  # noqa: F401  (re-exported)
from chainjudge.analysis.stats import _kappas_batch, confusion_matrix, kappa_from_confusion, krippendorff_alpha, pass_hat_k, wilson_interval  # noqa: F401  (re-exported: the statistics calibration is built on)
from chainjudge.analysis.trust_rule import TrustEvidence, decide_trust
from chainjudge.core.schema import AgreementReport, Baseline, Estimate, Label, TrustPolicy

DEFAULT_FAILING = ("error", "fail", "-1", "incorrect", "wrong")


# ---------------------------------------------------------------- aligning labels


def _step_order(key: str, index: int | None) -> float:
    """Position of a step inside its trace: the index, else a numeric ref; other refs sort after."""
    if index is not None:
        return float(index)
    try:
        return float(int(key))
    except ValueError:
        return float("nan")


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


@dataclass
class _Aligned:
    """Reference-labelled steps as flat arrays (one row per step), traces as integer ids."""

    trace_ids: list[str]
    trace: np.ndarray  # trace number of each reference-labelled step
    ref: np.ndarray  # label code
    cand: np.ndarray  # label code, -1 where the candidate gave none
    order: np.ndarray  # position of the step inside its trace
    ref_first_error: np.ndarray  # per trace: order of the earliest failing step (inf: none)
    cand_first_error: np.ndarray


def _positions(reference: Sequence[Label], candidate: Sequence[Label]) -> dict[tuple[str, str], float]:
    """One position per (trace, step key), shared by both annotators: a step index given by either side,
    else a numeric ref, else the order in which the key first appears.  (Each side ordering by what it
    alone knew put a native trace's `msg-3` at different places and broke first-error accuracy.)"""
    index: dict[tuple[str, str], int] = {}
    for label in (*reference, *candidate):
        if label.step_key and label.step_index is not None:
            index.setdefault((label.trace_id, label.step_key), label.step_index)
    positions: dict[tuple[str, str], float] = {}
    unordered: dict[str, int] = {}
    for label in (*reference, *candidate):
        item = (label.trace_id, label.step_key)
        if not label.step_key or item in positions:
            continue
        position = _step_order(label.step_key, index.get(item))
        if position != position:  # NaN: a text ref with no index anywhere, ordered by first appearance
            position = 1e12 + unordered.setdefault(label.step_key, len(unordered))
        positions[item] = position
    return positions


def _align(reference: Sequence[Label], candidate: Sequence[Label], code: dict[str, int], fail: set[str]) -> _Aligned:
    cand = {(label.trace_id, label.step_key): label for label in candidate if label.step_key}
    positions = _positions(reference, candidate)
    trace_number: dict[str, int] = {}
    trace, ref, cand_code, order = [], [], [], []
    for label in reference:
        key = label.step_key
        if not key:
            continue
        t = trace_number.setdefault(label.trace_id, len(trace_number))
        other = cand.get((label.trace_id, key))
        trace.append(t)
        ref.append(code[label.value])
        cand_code.append(code[other.value] if other is not None else -1)
        order.append(positions[(label.trace_id, key)])
    n = len(trace_number)
    trace_a = np.asarray(trace, dtype=np.int64)
    ref_a = np.asarray(ref, dtype=np.int64)
    cand_a = np.asarray(cand_code, dtype=np.int64)
    order_a = np.asarray(order, dtype=float)
    fail_codes = np.array(sorted(code[v] for v in fail if v in code), dtype=np.int64)
    ref_first = np.full(n, np.inf)
    failing_rows = np.isin(ref_a, fail_codes)
    np.minimum.at(ref_first, trace_a[failing_rows], order_a[failing_rows])
    cand_first = np.full(n, np.inf)
    for (trace_id, key), label in cand.items():
        number = trace_number.get(trace_id)
        if number is not None and label.value in fail:
            cand_first[number] = min(cand_first[number], positions[(trace_id, key)])
    return _Aligned(list(trace_number), trace_a, ref_a, cand_a, order_a, ref_first, cand_first)


def _resample_weights(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    """count bootstrap resamples of n traces, as how often each trace was drawn (count x n)."""
    draws = rng.integers(0, n, size=(count, n)) + (np.arange(count)[:, None] * n)
    return np.bincount(draws.ravel(), minlength=count * n).reshape(count, n).astype(float)


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
    policy: TrustPolicy | None = None,
) -> AgreementReport:
    """Agreement of a candidate with a reference on one criterion, with trace-clustered intervals, the
    trivial baselines on the same items, and whether the candidate may be trusted (see `decide_trust`)."""
    policy = policy or TrustPolicy()
    labels, fail, code = _coding(reference, candidate, failing, order)
    a = _align(reference, candidate, code, fail)
    sums = _trace_sums(a, labels, fail, len(labels))
    figures = _figures(sums, bootstrap, seed, len(labels))
    conf = sums.conf.sum(0)
    paired = a.cand >= 0
    evidence = _trust_evidence(a, paired, np.isin(a.ref, [code[v] for v in fail if v in code]), figures)
    threshold, threshold_score = suggest_threshold(a, labels, fail)
    return AgreementReport(
        reference=reference_name,
        candidate=candidate_name,
        criterion=criterion,
        labels=labels,
        failing=sorted(fail),
        traces=len(a.trace_ids),
        reference_items=int(a.ref.size),
        paired_items=int(conf.sum()),
        **_figure_fields(figures, a.ref[paired], a.cand[paired], conf, labels, fail, ordinal),
        baselines=_baselines(a, labels, fail),
        suggested_pass_threshold=threshold,
        threshold_balanced_accuracy=threshold_score,
        **_trust_fields(evidence, policy),
    )


def _coding(
    reference: Sequence[Label], candidate: Sequence[Label], failing: Sequence[str] | None, order: Sequence[str] | None
) -> tuple[list[str], set[str], dict[str, int]]:
    """The labels in scale order, the failing ones (given, else the usual failing words), and each label's code."""
    values = {label.value for label in reference if label.step_key} | {label.value for label in candidate if label.step_key}
    labels = order_labels(values, order)
    fail = set(failing) if failing else {v for v in labels if v.lower() in DEFAULT_FAILING}
    return labels, fail, {v: i for i, v in enumerate(labels)}


def _trust_fields(evidence: TrustEvidence, policy: TrustPolicy) -> dict[str, Any]:
    """The report's trust verdict under POLICY, with the evidence counts it rests on."""
    trust, rule, basis = decide_trust(evidence, policy)
    counts = {
        "answered_share": evidence.answered,
        "failing_reference_labels": evidence.failing,
        "failing_reference_traces": evidence.failing_traces,
    }
    return {**counts, "trust": trust, "trust_rule": rule, "trust_basis": basis}


def _figure_fields(
    figures: dict[str, Estimate],
    ref_codes: np.ndarray,
    cand_codes: np.ndarray,
    conf: np.ndarray,
    labels: list[str],
    fail: set[str],
    ordinal: bool,
) -> dict[str, Any]:
    """The report's agreement figures: step and first-error accuracy, kappa (weighted too), alpha, rank
    correlations, the failing class's precision and recall, TPR, TNR and the confusion matrix."""
    tp, fn, fp, tn = _fail_cells(conf, labels, fail)
    spearman, kendall, weighted, alpha = _ordinal_figures(ref_codes, cand_codes, conf, ordinal)
    return {
        "step_accuracy": figures["step"],
        "first_error_accuracy": figures["first"],
        "cohen_kappa": figures["kappa"],
        "weighted_kappa": weighted,
        "krippendorff_alpha": alpha,
        "spearman": spearman,
        "kendall": kendall,
        "fail_precision": _ratio(tp, tp + fp),
        "fail_recall": _ratio(tp, tp + fn),
        "true_negative_rate": _ratio(tn, tn + fp),
        "confusion": conf.astype(int).tolist(),
        "tpr": figures["tpr"],
        "tnr": figures["tnr"],
    }


def _ordinal_figures(
    ref_codes: np.ndarray, cand_codes: np.ndarray, conf: np.ndarray, ordinal: bool
) -> tuple[float | None, float | None, float | None, float | None]:
    """Spearman, Kendall and linear-weighted kappa (on an ordinal scale whose both sides vary), and
    Krippendorff's alpha (nominal or ordinal) over the paired items."""
    spearman = kendall = weighted = None
    if ordinal and len(set(ref_codes.tolist())) > 1 and len(set(cand_codes.tolist())) > 1:
        spearman = float(stats.spearmanr(ref_codes, cand_codes).statistic)
        kendall = float(stats.kendalltau(ref_codes, cand_codes).statistic)
        weighted = kappa_from_confusion(conf, "linear")
    alpha = None
    if ref_codes.size:
        alpha = krippendorff_alpha(np.array([ref_codes, cand_codes], dtype=float), "ordinal" if ordinal else "nominal")
    return spearman, kendall, weighted, alpha


def _trust_evidence(a: _Aligned, paired: np.ndarray, fail_rows: np.ndarray, figures: dict[str, Estimate]) -> TrustEvidence:
    """What the trust rule weighs: failing and passing reference labels, the share answered, TPR, TNR, kappa."""
    return TrustEvidence(
        failing=int(fail_rows.sum()),
        failing_traces=len(set(a.trace[fail_rows].tolist())),
        passing=int((~fail_rows).sum()),
        answered=float(paired.mean()) if paired.size else None,
        tpr=figures["tpr"],
        tnr=figures["tnr"],
        kappa=figures["kappa"],
    )


@dataclass
class _TraceSums:
    """Per-trace sums, so the bootstrap resamples whole traces."""

    items: np.ndarray
    correct: np.ndarray
    first_ok: np.ndarray
    conf: np.ndarray  # traces x k x k, paired items only
    fail_ref: np.ndarray  # failing reference items (answered or not)
    fail_hit: np.ndarray  # ... that the candidate also failed
    pass_ref: np.ndarray
    pass_hit: np.ndarray


def _trace_sums(a: _Aligned, labels: list[str], fail: set[str], k: int) -> _TraceSums:
    n = len(a.trace_ids)
    fail_codes = [labels.index(v) for v in fail if v in labels]
    ref_fail = np.isin(a.ref, fail_codes)
    cand_fail = np.isin(a.cand, fail_codes)  # -1 (unanswered) is neither fail nor pass
    cand_pass = (a.cand >= 0) & ~cand_fail
    paired = a.cand >= 0
    cells = (a.trace[paired] * k + a.ref[paired]) * k + a.cand[paired]

    def per_trace(mask: np.ndarray) -> np.ndarray:
        return np.bincount(a.trace, weights=mask.astype(float), minlength=n)

    return _TraceSums(
        items=np.bincount(a.trace, minlength=n).astype(float),
        correct=per_trace(a.cand == a.ref),
        first_ok=(a.ref_first_error == a.cand_first_error).astype(float),
        conf=np.bincount(cells, minlength=n * k * k).reshape(n, k, k).astype(float),
        fail_ref=per_trace(ref_fail),
        fail_hit=per_trace(ref_fail & cand_fail),
        pass_ref=per_trace(~ref_fail),
        pass_hit=per_trace(~ref_fail & cand_pass),
    )


def _figures(t: _TraceSums, bootstrap: int, seed: int, k: int) -> dict[str, Estimate]:
    """Point values, trace-clustered 95% intervals and item counts.  The TPR / TNR lower bounds are never
    above the Wilson bound on the pooled counts: a bootstrap over traces cannot see uncertainty that lives
    inside one trace (one failing label in one trace resamples to [1, 1])."""
    n_traces = t.items.size
    conf = t.conf.sum(0)
    point = {
        "step": _ratio(t.correct.sum(), t.items.sum()),
        "first": float(t.first_ok.mean()) if n_traces else None,
        "kappa": kappa_from_confusion(conf),
        "tpr": _ratio(t.fail_hit.sum(), t.fail_ref.sum()),
        "tnr": _ratio(t.pass_hit.sum(), t.pass_ref.sum()),
    }
    counts = {
        "step": int(t.items.sum()),
        "first": n_traces,
        "kappa": int(conf.sum()),
        "tpr": int(t.fail_ref.sum()),
        "tnr": int(t.pass_ref.sum()),
    }
    intervals: dict[str, tuple[float | None, float | None]] = {name: (None, None) for name in point}
    if bootstrap and n_traces > 1:
        rng = np.random.default_rng(seed)
        samples: dict[str, list[np.ndarray]] = {name: [] for name in point}
        flat_conf = t.conf.reshape(n_traces, k * k)
        for start in range(0, bootstrap, 100):  # chunks bound memory on large label sets
            w = _resample_weights(rng, n_traces, min(100, bootstrap - start))
            samples["step"].append(_safe_div(w @ t.correct, w @ t.items))
            samples["first"].append((w @ t.first_ok) / n_traces)
            samples["kappa"].append(_kappas_batch((w @ flat_conf).reshape(-1, k, k)))
            samples["tpr"].append(_safe_div(w @ t.fail_hit, w @ t.fail_ref))
            samples["tnr"].append(_safe_div(w @ t.pass_hit, w @ t.pass_ref))
        intervals = {name: _interval(np.concatenate(parts)) for name, parts in samples.items()}
    for name, hits, total in (("tpr", t.fail_hit.sum(), t.fail_ref.sum()), ("tnr", t.pass_hit.sum(), t.pass_ref.sum())):
        if total:
            w_low, w_high = wilson_interval(int(hits), int(total))
            low, high = intervals[name]
            intervals[name] = (min(w_low, low) if low is not None else w_low, max(w_high, high) if high is not None else w_high)
    return {name: Estimate(value=point[name], low=intervals[name][0], high=intervals[name][1], n=counts[name]) for name in point}


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.full(a.shape, np.nan), where=b > 0)


def _fail_cells(conf: np.ndarray, labels: list[str], fail: set[str]) -> tuple[float, float, float, float]:
    fail_codes = [i for i, v in enumerate(labels) if v in fail]
    pass_codes = [i for i, v in enumerate(labels) if v not in fail]
    return (
        conf[np.ix_(fail_codes, fail_codes)].sum(),
        conf[np.ix_(fail_codes, pass_codes)].sum(),
        conf[np.ix_(pass_codes, fail_codes)].sum(),
        conf[np.ix_(pass_codes, pass_codes)].sum(),
    )


def suggest_threshold(a: _Aligned, labels: list[str], fail: set[str]) -> tuple[int | None, float | None]:
    """For integer (Likert) labels: the pass threshold on the candidate's scores that best separates the
    reference's passing from failing steps (balanced accuracy, so a rare failing class still counts)."""
    try:
        scores = np.array([int(v) for v in labels])
    except ValueError:
        return None, None
    paired = a.cand >= 0
    ref_pass = ~np.isin(a.ref[paired], [labels.index(v) for v in fail if v in labels])
    cand_scores = scores[a.cand[paired]]
    if ref_pass.all() or not ref_pass.any():
        return None, None
    best: tuple[int | None, float | None] = (None, None)
    for t in sorted(set(scores.tolist())):
        predicted = cand_scores >= t
        score = 0.5 * (predicted[ref_pass].mean() + (~predicted[~ref_pass]).mean())
        if best[1] is None or score > best[1]:
            best = (int(t), float(score))
    return best


def _interval(samples: np.ndarray) -> tuple[float | None, float | None]:
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return (None, None)
    return float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b else None


def _baselines(a: _Aligned, labels: list[str], fail: set[str]) -> list[Baseline]:
    """Constant annotators on the same items: what a judge must beat before its figures mean anything."""
    counts = np.bincount(a.ref, minlength=len(labels))
    total = int(counts.sum())
    majority = labels[int(counts.argmax())] if total else None
    passing = [i for i, v in enumerate(labels) if v not in fail]
    always_pass = labels[max(passing, key=lambda i: counts[i])] if passing else None
    always_fail = next((v for v in labels if v in fail), None)
    result = []
    for name, constant in (("majority label", majority), ("always pass", always_pass), ("always fail", always_fail)):
        if constant is None or not total:
            result.append(Baseline(name=name, label=constant, step_accuracy=None, first_error_accuracy=None))
            continue
        if constant in fail:
            # a constant failing annotator's first error is each trace's first reference-labelled step
            mine = np.full(len(a.trace_ids), np.inf)
            np.minimum.at(mine, a.trace, a.order)
        else:
            mine = np.full(len(a.trace_ids), np.inf)
        result.append(
            Baseline(
                name=name,
                label=constant,
                step_accuracy=float(counts[labels.index(constant)] / total),
                first_error_accuracy=float((a.ref_first_error == mine).mean()),
            )
        )
    return result
