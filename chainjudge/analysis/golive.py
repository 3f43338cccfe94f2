"""Assemble the go-live evidence of one run from the store: decisions, critical criteria and how far
their judges are trusted (against ONE reference label per item), failure rates corrected for judge
error, coverage of the scenario space, consistency, open failure modes and bias probes.

Fail closed: what the run was judged against (expected actions, scenario space) travels with the run,
so the CLI, the report and the review app score it alike; evidence that is missing or untrusted is an
unknown term counted at its low end, and the gate names every piece of evidence it lacks.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from chainjudge.analysis.calibrate import DEFAULT_FAILING, agreement
from chainjudge.analysis.corrected import corrected_failure_rate
from chainjudge.analysis.coverage import coverage, go_live_score
from chainjudge.analysis.probe_runs import probe_results
from chainjudge.analysis.reference import judgment_labels, reference_labels
from chainjudge.analysis.stats import pass_hat_k_curve
from chainjudge.core.plugins import score_decisions
from chainjudge.core.schema import (
    AgreementReport,
    CorrectedRate,
    CriterionRow,
    CriticalEvidence,
    Evidence,
    GatePolicy,
    Judgment,
    Label,
    OpenMode,
    Rubric,
    ScenarioSpace,
)
from chainjudge.core.store import Store

SPACE = "space"
EXPECTED = "expected"


def load_space(path: str | Path) -> ScenarioSpace:
    from chainjudge.core.yamlfile import load_model

    return load_model(path, ScenarioSpace, empty_ok=False)


def parse_space(text: str) -> ScenarioSpace:
    from chainjudge.core.yamlfile import parse_yaml

    return ScenarioSpace.model_validate(parse_yaml(text, "scenario space"))


def attach_context(store: Store, run: str, space_path: Path | None = None, expected_path: Path | None = None) -> None:
    """Keep what the run is judged against with the run itself (copies of the files' text)."""
    if space_path is not None:
        store.set_run_context(run, SPACE, Path(space_path).read_text(encoding="utf-8"))
    if expected_path is not None:
        store.set_run_context(run, EXPECTED, Path(expected_path).read_text(encoding="utf-8"))


def run_space(store: Store, run: str) -> ScenarioSpace | None:
    text = store.run_context(run, SPACE)
    return parse_space(text) if text else None


def _failing(rubric: Rubric | None, criterion: str, value: str) -> bool:
    if rubric is not None:
        try:
            scale = rubric.criterion(criterion).scale
            if value in scale.labels:
                return not scale.passes(value)
        except (KeyError, ValueError):
            pass
    return value.lower() in DEFAULT_FAILING


def _model_criterion(run_rubric: Rubric | None, criterion: str, items: list[Judgment], people: list[Label],
                     policy: GatePolicy) -> tuple[str, AgreementReport | None, CorrectedRate | None]:
    """Trust of a model-judged criterion against the one reference per item, and its corrected rate.
    Items a verifier abstained on are left out of its agreement: trust speaks of what it decided (its
    coverage is stated beside it), and the abstentions are unknown evidence in the score, not misses."""
    abstained = {(j.trace_id, j.step_ref) for j in items if j.error_kind == "abstained"}
    reference = [l for l in people if l.criterion == criterion and (l.trace_id, l.step_key) not in abstained]
    if not reference:
        return "unknown (no reference labels)", None, None
    candidate = judgment_labels(items, "judge", criterion)
    failing = sorted({l.value for l in (*reference, *candidate) if _failing(run_rubric, criterion, l.value)}) or None
    report = agreement(reference, candidate, "reference", "judge", criterion, failing=failing, bootstrap=300, policy=policy.trust)
    by_item = {(j.trace_id, j.step_ref): j for j in items if j.verdict and j.error is None}
    pairs = [(l.trace_id, _failing(run_rubric, criterion, l.value), not by_item[(l.trace_id, l.step_key)].passed)
             for l in reference if (l.trace_id, l.step_key) in by_item]
    run_items = [(j.trace_id, not j.passed) for j in by_item.values()]
    corrected = corrected_failure_rate(criterion, run_items, pairs, bootstrap=300) if pairs and run_items else None
    return report.trust, report, corrected


@dataclass
class RunCalibration:
    """Per criterion of a run: its row (counts, trust), whether it is trusted, its agreement report
    against the one reference per item, and its judge-error-corrected failure rate."""

    rows: list[CriterionRow]
    trusted: dict[str, bool]
    reports: dict[str, AgreementReport]
    corrected: list[CorrectedRate]


def calibrate_run(store: Store, run_name: str, judgments: list[Judgment] | None = None,
                  policy: GatePolicy | None = None) -> RunCalibration:
    policy = policy or GatePolicy()
    run = store.get_run(run_name)
    if run is None:
        raise KeyError(run_name)
    judgments = list(store.judgments(run_name)) if judgments is None else judgments
    severity = {c.id: c.severity for c in run.rubric.criteria} if run.rubric else {}
    is_check = {c.id: c.deterministic for c in run.rubric.criteria} if run.rubric else {}
    people = reference_labels(store.labels(), policy.reference)
    result = RunCalibration([], {}, {}, [])
    by_criterion: dict[str, list[Judgment]] = defaultdict(list)
    for j in judgments:
        by_criterion[j.criterion_id].append(j)
    for criterion, items in sorted(by_criterion.items()):
        scored = [j for j in items if j.passed is not None]
        if is_check.get(criterion):
            trust = "trusted (deterministic check)"
        else:
            trust, report, rate = _model_criterion(run.rubric, criterion, items, people, policy)
            if report is not None:
                result.reports[criterion] = report
            if rate is not None:
                result.corrected.append(rate)
            unscored = len(items) - len(scored)
            if trust.startswith("trusted") and unscored:
                trust += f" on the {len(scored)}/{len(items)} items it decided ({unscored} abstained or errored: unknown)"
        result.trusted[criterion] = trust.startswith("trusted")
        result.rows.append(CriterionRow(criterion=criterion, severity=severity.get(criterion, "medium"), judged=len(items),
                                        passed=sum(1 for j in scored if j.passed), scored=len(scored), trust=trust))
    return result


def collect(store: Store, run_name: str, space: ScenarioSpace | None = None, scenarios_path: Path | None = None,
            catalogue_path: Path | None = None, high_weight: float = 2.0, policy: GatePolicy | None = None) -> Evidence:
    policy = policy or GatePolicy(high_weight=high_weight)
    run = store.get_run(run_name)
    if run is None:
        raise KeyError(run_name)
    space = space or run_space(store, run_name)
    if space is None:
        raise ValueError(f"run {run_name!r} carries no scenario space; pass one (--space)")
    judgments = list(store.judgments(run_name))
    trace_ids = sorted({j.trace_id for j in judgments})
    traces = [t for t in (store.get_trace(i, run=run_name) for i in trace_ids) if t is not None]
    severity = {c.id: c.severity for c in run.rubric.criteria} if run.rubric else {}
    calibrated = calibrate_run(store, run_name, judgments, policy)
    criteria_rows, trusted, corrected, calibration = calibrated.rows, calibrated.trusted, calibrated.corrected, calibrated.reports
    by_criterion: dict[str, list[Judgment]] = defaultdict(list)
    for j in judgments:
        by_criterion[j.criterion_id].append(j)
    critical = [c for c in by_criterion if severity.get(c) == "critical"]
    untrusted = sorted(c for c in critical if not trusted.get(c))
    crit_items = [j for c in critical if trusted.get(c) for j in by_criterion[c] if j.passed is not None]
    critical_failures = sum(1 for j in crit_items if not j.passed)
    evidence_critical = CriticalEvidence(
        passed=sum(1 for j in crit_items if j.passed), total=len(crit_items),
        untrusted_items=sum(1 for c in untrusted for j in by_criterion[c] if j.passed is not None),
        untrusted=tuple(untrusted), criteria=len(critical),
        unscored_items=sum(1 for c in critical if trusted.get(c) for j in by_criterion[c] if j.passed is None))

    decision_report, decision = None, None
    failing = {j.trace_id for j in crit_items if not j.passed}
    passed_trace = {t.id: t.id not in failing for t in traces}
    consistency = None
    scenarios_text = Path(scenarios_path).read_text(encoding="utf-8") if scenarios_path else store.run_context(run_name, EXPECTED)
    if scenarios_text:
        decision_report = score_decisions(traces, scenarios_text)  # the installed pack that knows these
        if decision_report is None:
            raise ValueError(f"no installed pack understands the expected actions {scenarios_path or f'of run {run_name}'}")
        decision = (decision_report.overall.correct, decision_report.overall.total)
        wrong = {m.trace_id for m in decision_report.mismatches} | set(decision_report.missing_decision)
        passed_trace = {t.id: t.id not in wrong and t.id not in failing for t in traces}
        consistency = _consistency(traces, passed_trace)

    cov = coverage(traces, space, passed_trace, policy.high_weight)
    open_modes, recurring = _modes(catalogue_path, severity, run_name)
    result = go_live_score(decision=decision, critical=evidence_critical, coverage_weighted=cov.weighted,
                           consistency=consistency, open_modes=[m.severity for m in open_modes], weights=policy.weights)
    return Evidence(run=run_name, traces=len(traces), score=result, coverage=cov, space=space, decision_report=decision_report,
                    criteria=criteria_rows, critical_failures=critical_failures, recurring_modes=recurring,
                    open_modes=open_modes, untrusted_critical=untrusted, corrected=corrected, calibration=calibration,
                    probes=probe_results(store, run_name))


def _consistency(traces, passed_trace: dict[str, bool]) -> float | None:
    """pass^k over repeated trials of a scenario, at the largest k every repeated scenario reaches."""
    trials: dict[str, list[bool]] = defaultdict(list)
    for t in traces:
        trials[str(t.metadata.get("scenario_id") or t.id)].append(passed_trace.get(t.id, False))
    if not any(len(v) > 1 for v in trials.values()):
        return None
    return pass_hat_k_curve(trials)[-1][1]


def _modes(catalogue_path: Path | None, severity: dict[str, str], run_name: str) -> tuple[list[OpenMode], list[str]]:
    open_modes, recurring = [], []
    if catalogue_path is not None and Path(catalogue_path).exists():
        from chainjudge.analysis.modes import load_catalogue

        for mode in load_catalogue(catalogue_path).modes:
            if mode.status == "open":
                level = max((severity.get(c, "medium") for c in mode.criteria), key=["low", "medium", "high", "critical"].index, default="medium")
                open_modes.append(OpenMode(id=mode.id, name=mode.name, severity=level, count=mode.counts.get(run_name, 0),
                                           exemplar=mode.exemplars[0].text if mode.exemplars else ""))
                if mode.counts.get(run_name) and len(mode.counts) > 1:
                    recurring.append(mode.id)
    return open_modes, recurring


def gate_reasons(evidence: Evidence, policy: GatePolicy) -> list[str]:
    """Every reason the run may not go live; empty means the gate passes.  Missing evidence is a reason."""
    reasons = []
    if not math.isfinite(evidence.score.score) or not math.isfinite(evidence.score.low):
        reasons.append(f"go-live score is not a finite number ({evidence.score.score}); a score that cannot be computed never passes")
    elif evidence.score.score < policy.min_score:
        unknown = evidence.score.unknown
        reasons.append(f"go-live score {evidence.score.score:.2f} is below {policy.min_score:.2f}"
                       + (f" (unknown, counted at their low end: {', '.join(unknown)})" if unknown else ""))
    if evidence.coverage.high_weight_coverage < policy.min_high_weight_coverage:
        reasons.append(f"coverage of high-weight cells {evidence.coverage.high_weight_coverage:.0%} is below {policy.min_high_weight_coverage:.0%}")
    if evidence.critical_failures > policy.max_critical_failures:
        reasons.append(f"{evidence.critical_failures} critical failures (allowed: {policy.max_critical_failures})")
    for criterion in evidence.untrusted_critical:
        if criterion in policy.waive_untrusted:
            continue
        row = evidence.row(criterion)
        report = evidence.calibration.get(criterion)
        missing = report.trust_basis if report else "no reference labels to calibrate it against"
        reasons.append(f"critical criterion {criterion} has no trusted judge and no deterministic check "
                       f"({row.trust if row else 'untrusted'}: {missing}); its {row.scored if row else 0} verdicts are not evidence. "
                       f"Label more steps, or waive it by name in the policy (waive_untrusted)")
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
        if high is None:
            reasons.append(f"critical criterion {criterion}: no judge-error-corrected failure rate (no calibration labels)")
        elif high > policy.max_corrected_failure_rate:
            reasons.append(f"critical criterion {criterion}: corrected failure rate up to {high:.1%} "
                           f"(raw {rate.raw_failure_rate.value:.1%}); allowed {policy.max_corrected_failure_rate:.1%}")
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
    return [f"bias probe {p.change} flips {p.criterion} up to {p.flip_rate.high:.0%} of the time "
            f"({p.flips}/{p.items}); allowed {policy.max_probe_flip_rate:.0%}"
            for p in evidence.probes if p.flip_rate.high is None or p.flip_rate.high > policy.max_probe_flip_rate]
