"""The go-live verdict over evidence already gathered (pure): a criterion's trust and corrected rate from
its judgments and the reference labels, consistency over repeated trials, and every reason the gate gives.

Fail closed: evidence that is missing or untrusted is an unknown term counted at its low end, and the gate
names every piece of evidence it lacks.  Gathering the evidence from the store is `workflows/golive.py`.
"""

from __future__ import annotations

import math
from collections import defaultdict

from chainjudge.analysis.calibrate import DEFAULT_FAILING, agreement
from chainjudge.analysis.corrected import corrected_failure_rate
from chainjudge.analysis.reference import judgment_labels
from chainjudge.analysis.stats import pass_hat_k_curve
from chainjudge.core.schema import (
    AgreementReport,
    CorrectedRate,
    Evidence,
    GatePolicy,
    Judgment,
    Label,
    Rubric,
    ScenarioSpace,
    TrustStatus,
)

SPACE = "space"
EXPECTED = "expected"


def parse_space(text: str) -> ScenarioSpace:
    from chainjudge.core.yamlfile import parse_yaml

    return ScenarioSpace.model_validate(parse_yaml(text, "scenario space"))


def _failing(rubric: Rubric | None, criterion: str, value: str) -> bool:
    if rubric is not None:
        try:
            scale = rubric.criterion(criterion).scale
            if value in scale.labels:
                return not scale.passes(value)
        except (KeyError, ValueError):
            pass
    return value.lower() in DEFAULT_FAILING


def criterion_trust(
    run_rubric: Rubric | None, criterion: str, items: list[Judgment], people: list[Label], policy: GatePolicy
) -> tuple[TrustStatus, AgreementReport | None, CorrectedRate | None]:
    """Trust of a model-judged criterion against the one reference per item, and its corrected rate.
    Items a verifier abstained on are left out of its agreement: trust speaks of what it decided (its
    coverage is stated beside it), and the abstentions are unknown evidence in the score, not misses."""
    abstained = {(j.trace_id, j.step_ref) for j in items if j.error_kind == "abstained"}
    reference = [label for label in people if label.criterion == criterion and (label.trace_id, label.step_key) not in abstained]
    if not reference:
        return TrustStatus.unknown, None, None
    candidate = judgment_labels(items, "judge", criterion)
    failing = sorted({label.value for label in (*reference, *candidate) if _failing(run_rubric, criterion, label.value)}) or None
    report = agreement(reference, candidate, "reference", "judge", criterion, failing=failing, bootstrap=300, policy=policy.trust)
    by_item = {(j.trace_id, j.step_ref): j for j in items if j.verdict and j.error is None}
    pairs = [
        (label.trace_id, _failing(run_rubric, criterion, label.value), not by_item[(label.trace_id, label.step_key)].passed)
        for label in reference
        if (label.trace_id, label.step_key) in by_item
    ]
    run_items = [(j.trace_id, not j.passed) for j in by_item.values()]
    corrected = corrected_failure_rate(criterion, run_items, pairs, bootstrap=300) if pairs and run_items else None
    return report.trust, report, corrected


def consistency_of(traces, passed_trace: dict[str, bool]) -> float | None:
    """pass^k over repeated trials of a scenario, at the largest k every repeated scenario reaches."""
    trials: dict[str, list[bool]] = defaultdict(list)
    for t in traces:
        trials[str(t.metadata.get("scenario_id") or t.id)].append(passed_trace.get(t.id, False))
    if not any(len(v) > 1 for v in trials.values()):
        return None
    return pass_hat_k_curve(trials)[-1][1]


def gate_reasons(evidence: Evidence, policy: GatePolicy) -> list[str]:
    """Every reason the run may not go live; empty means the gate passes.  Missing evidence is a reason."""
    reasons = []
    if not math.isfinite(evidence.score.score) or not math.isfinite(evidence.score.low):
        reasons.append(f"go-live score is not a finite number ({evidence.score.score}); a score that cannot be computed never passes")
    elif evidence.score.score < policy.min_score:
        unknown = evidence.score.unknown
        reasons.append(
            f"go-live score {evidence.score.score:.2f} is below {policy.min_score:.2f}"
            + (f" (unknown, counted at their low end: {', '.join(unknown)})" if unknown else "")
        )
    if evidence.coverage.high_weight_coverage < policy.min_high_weight_coverage:
        reasons.append(
            f"coverage of high-weight cells {evidence.coverage.high_weight_coverage:.0%} is below {policy.min_high_weight_coverage:.0%}"
        )
    if evidence.critical_failures > policy.max_critical_failures:
        reasons.append(f"{evidence.critical_failures} critical failures (allowed: {policy.max_critical_failures})")
    for criterion in evidence.untrusted_critical:
        if criterion in policy.waive_untrusted:
            continue
        row = evidence.row(criterion)
        report = evidence.calibration.get(criterion)
        missing = report.trust_basis if report else "no reference labels to calibrate it against"
        reasons.append(
            f"critical criterion {criterion} has no trusted judge and no deterministic check "
            f"({row.trust if row else 'untrusted'}: {missing}); its {row.scored if row else 0} verdicts are not evidence. "
            f"Label more steps, or waive it by name in the policy (waive_untrusted)"
        )
    if policy.no_recurring_failure_modes and evidence.recurring_modes:
        reasons.append(f"known failure modes recur: {', '.join(evidence.recurring_modes)}")
    reasons += _corrected_reasons(evidence, policy) + _probe_reasons(evidence, policy)
    return reasons


def _corrected_reasons(evidence: Evidence, policy: GatePolicy) -> list[str]:
    if policy.max_corrected_failure_rate is None:
        return []
    reasons = []
    rates = {r.criterion: r for r in evidence.corrected}
    for row in evidence.criteria:
        criterion = row.criterion
        if row.severity != "critical" or row.checked:
            continue
        rate = rates.get(criterion)
        high = failure_rate_bound(rate) if rate else None
        if high is None or rate is None:
            reasons.append(f"critical criterion {criterion}: no judge-error-corrected failure rate (no calibration labels)")
        elif high > policy.max_corrected_failure_rate:
            reasons.append(
                f"critical criterion {criterion}: corrected failure rate up to {high:.1%} "
                f"(raw {rate.raw_failure_rate.value:.1%}); allowed {policy.max_corrected_failure_rate:.1%}"
            )
    return reasons


def failure_rate_bound(rate: CorrectedRate) -> float | None:
    """The upper bound the gate reads: the higher of the Rogan-Gladen and the prediction-powered upper
    bounds (fail closed); None when the corrected one is unknown."""
    high = rate.corrected_failure_rate.high
    if high is None or not math.isfinite(high):
        return None
    ppi = rate.ppi_failure_rate.high if rate.ppi_failure_rate is not None else None
    return max(high, ppi) if ppi is not None and math.isfinite(ppi) else high


def _probe_reasons(evidence: Evidence, policy: GatePolicy) -> list[str]:
    if policy.max_probe_flip_rate is None:
        return []
    if not evidence.probes:
        return [f"no bias probes were run for {evidence.run} (chainjudge probe {evidence.run}); the policy bounds their flip rate"]
    return [
        f"bias probe {p.change} flips {p.criterion} up to {p.flip_rate.high:.0%} of the time "
        f"({p.flips}/{p.items}); allowed {policy.max_probe_flip_rate:.0%}"
        for p in evidence.probes
        if p.flip_rate.high is None or p.flip_rate.high > policy.max_probe_flip_rate
    ]
