"""Assemble the go-live evidence of one run from the store: decisions, critical criteria and how far
their judges are trusted (against ONE reference label per item), failure rates corrected for judge
error, coverage of the scenario space, consistency, open failure modes and bias probes.

What the run was judged against (expected actions, scenario space) travels with the run, so the CLI, the
report and the review app score it alike.  The verdict over this evidence is `analysis/golive.py` (pure).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chainjudge.analysis.attribution import per_agent
from chainjudge.analysis.coverage import coverage, go_live_score
from chainjudge.analysis.golive import EXPECTED, SPACE, consistency_of, criterion_trust, parse_space
from chainjudge.analysis.ope_gate import guardrail
from chainjudge.analysis.reference import reference_labels
from chainjudge.core.plugins import default_file, score_decisions
from chainjudge.core.schema import (
    AgreementReport,
    CorrectedRate,
    CriterionRow,
    CriticalEvidence,
    DecisionReport,
    Evidence,
    GatePolicy,
    Guardrail,
    Judgment,
    OpenMode,
    Run,
    ScenarioSpace,
    Trace,
    TrustStatus,
)
from chainjudge.core.store import Store, UnknownRun
from chainjudge.errors import ChainjudgeError
from chainjudge.workflows.probes import probe_results


def load_space(path: str | Path) -> ScenarioSpace:
    from chainjudge.core.yamlfile import load_model

    return load_model(path, ScenarioSpace, empty_ok=False)


def attach_context(store: Store, run: str, space_path: Path | None = None, expected_path: Path | None = None) -> None:
    """Keep what the run is judged against with the run itself (copies of the files' text)."""
    if space_path is not None:
        store.set_run_context(run, SPACE, Path(space_path).read_text(encoding="utf-8"))
    if expected_path is not None:
        store.set_run_context(run, EXPECTED, Path(expected_path).read_text(encoding="utf-8"))


def run_space(store: Store, run: str) -> ScenarioSpace | None:
    text = store.run_context(run, SPACE)
    return parse_space(text) if text else None


@dataclass
class RunCalibration:
    """Per criterion of a run: its row (counts, trust), whether it is trusted, its agreement report
    against the one reference per item, and its judge-error-corrected failure rate."""

    rows: list[CriterionRow]
    trusted: dict[str, bool]
    reports: dict[str, AgreementReport]
    corrected: list[CorrectedRate]


def _trust_of(run, criterion: str, items: list[Judgment], people, policy: GatePolicy, check: bool, result: RunCalibration):
    """(status, trust text) of one criterion; a judge's agreement report and corrected rate go into RESULT."""
    if check:
        return TrustStatus.trusted, "trusted (deterministic check)"
    status, report, rate = criterion_trust(run.rubric, criterion, items, people, policy)
    trust = "unknown (no reference labels)" if status is TrustStatus.unknown else status.value
    if report is not None:
        result.reports[criterion] = report
    if rate is not None:
        result.corrected.append(rate)
    scored = sum(1 for j in items if j.passed is not None)
    unscored = len(items) - scored
    if status is TrustStatus.trusted and unscored:
        trust += f" on the {scored}/{len(items)} items it decided ({unscored} abstained or errored: unknown)"
    return status, trust


def calibrate_run(store: Store, run_name: str, judgments: list[Judgment] | None = None, policy: GatePolicy | None = None) -> RunCalibration:
    policy = policy or GatePolicy()
    run = store.get_run(run_name)
    if run is None:
        raise UnknownRun(run_name, store.location)
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
        status, trust = _trust_of(run, criterion, items, people, policy, bool(is_check.get(criterion)), result)
        result.trusted[criterion] = status is TrustStatus.trusted
        result.rows.append(
            CriterionRow(
                criterion=criterion,
                severity=severity.get(criterion, "medium"),
                judged=len(items),
                passed=sum(1 for j in scored if j.passed),
                scored=len(scored),
                trust=trust,
                status=status,
                deterministic=bool(is_check.get(criterion)),
            )
        )
    return result


def _stored(store: Store, run_name: str, space: ScenarioSpace | None) -> tuple[Run, ScenarioSpace, list[Judgment], list[Trace]]:
    """The run, its scenario space (given, else the one it was judged against), its judgments and the
    traces they judged, as stored."""
    run = store.get_run(run_name)
    if run is None:
        raise UnknownRun(run_name, store.location)
    space = space or run_space(store, run_name)
    if space is None:
        raise ValueError(f"run {run_name!r} carries no scenario space; pass one (--space)")
    judgments = list(store.judgments(run_name))
    trace_ids = sorted({j.trace_id for j in judgments})
    traces = [t for t in (store.get_trace(i, run=run_name) for i in trace_ids) if t is not None]
    return run, space, judgments, traces


def gather_evidence(
    store: Store,
    run_name: str,
    space: ScenarioSpace | None = None,
    scenarios_path: Path | None = None,
    catalogue_path: Path | None = None,
    high_weight: float = 2.0,
    policy: GatePolicy | None = None,
) -> Evidence:
    """Everything the gate, the report and the app read about one run, from the store and the files named."""
    policy = policy or GatePolicy(high_weight=high_weight)
    run, space, judgments, traces = _stored(store, run_name, space)
    severity = {c.id: c.severity for c in run.rubric.criteria} if run.rubric else {}
    calibrated = calibrate_run(store, run_name, judgments, policy)
    critical = _critical(judgments, severity, calibrated.trusted)
    scenarios_text = Path(scenarios_path).read_text(encoding="utf-8") if scenarios_path else store.run_context(run_name, EXPECTED)
    decisions = _decisions(traces, scenarios_text, critical.failing_traces, scenarios_path or f"of run {run_name}")
    cov = coverage(traces, space, decisions.passed_trace, policy.high_weight)
    open_modes, recurring = _modes(catalogue_path, severity, run_name)
    modes = [m.severity for m in open_modes]
    result = go_live_score(decisions.decision, critical.evidence, cov.weighted, decisions.consistency, modes, policy.weights)
    return Evidence(
        sampling=_sampling(traces, decisions.passed_trace),
        run=run_name,
        traces=len(traces),
        score=result,
        coverage=cov,
        space=space,
        decision_report=decisions.report,
        agents=per_agent({t.id: t for t in traces}, judgments),
        criteria=calibrated.rows,
        critical_failures=critical.failures,
        recurring_modes=recurring,
        open_modes=open_modes,
        untrusted_critical=critical.untrusted,
        corrected=calibrated.corrected,
        calibration=calibrated.reports,
        probes=probe_results(store, run_name),
    )


@dataclass
class _Critical:
    evidence: CriticalEvidence
    untrusted: list[str]
    failures: int
    failing_traces: set[str]


def _critical(judgments: list[Judgment], severity: Mapping[str, str], trusted: Mapping[str, bool]) -> _Critical:
    """The critical criteria's evidence: what trusted judges passed and failed, and what is untrusted or unscored."""
    by_criterion: dict[str, list[Judgment]] = defaultdict(list)
    for j in judgments:
        by_criterion[j.criterion_id].append(j)
    critical = [c for c in by_criterion if severity.get(c) == "critical"]
    untrusted = sorted(c for c in critical if not trusted.get(c))
    crit_items = [j for c in critical if trusted.get(c) for j in by_criterion[c] if j.passed is not None]
    evidence = CriticalEvidence(
        passed=sum(1 for j in crit_items if j.passed),
        total=len(crit_items),
        untrusted_items=sum(1 for c in untrusted for j in by_criterion[c] if j.passed is not None),
        untrusted=tuple(untrusted),
        criteria=len(critical),
        unscored_items=sum(1 for c in critical if trusted.get(c) for j in by_criterion[c] if j.passed is None),
    )
    failing = {j.trace_id for j in crit_items if not j.passed}
    return _Critical(evidence, untrusted, sum(1 for j in crit_items if not j.passed), failing)


@dataclass
class _Decisions:
    report: DecisionReport | None
    decision: tuple[int, int] | None  # (correct, total)
    passed_trace: dict[str, bool]
    consistency: float | None


def _decisions(traces: list[Trace], scenarios_text: str | None, failing: set[str], where: object) -> _Decisions:
    """Decisions against the expected actions (scored by the installed pack that knows them); a trace passes
    when its decision is right and no trusted critical judge failed it."""
    if not scenarios_text:
        return _Decisions(None, None, {t.id: t.id not in failing for t in traces}, None)
    report = score_decisions(traces, scenarios_text)
    if report is None:
        raise ValueError(f"no installed pack understands the expected actions {where}")
    wrong = {m.trace_id for m in report.mismatches} | set(report.missing_decision)
    passed_trace = {t.id: t.id not in wrong and t.id not in failing for t in traces}
    return _Decisions(report, (report.overall.correct, report.overall.total), passed_trace, consistency_of(traces, passed_trace))


def _sampling(traces: list, passed_trace: dict[str, bool]):
    """The sampling note for traces a failure-seeking search drew (their metadata holds p and q)."""
    from chainjudge.analysis.search import sampling_note

    draws = []
    for trace in traces:
        p, q, cell = trace.metadata.get("search_p"), trace.metadata.get("search_q"), trace.metadata.get("search_cell")
        if isinstance(p, (int, float)) and isinstance(q, (int, float)) and q > 0:
            label = "/".join(str(c) for c in cell) if isinstance(cell, list) else "?"
            draws.append((not passed_trace.get(trace.id, False), float(p), float(q), str(trace.metadata.get("search_phase")), label))
    return sampling_note(draws, len(traces))


def _modes(catalogue_path: Path | None, severity: Mapping[str, str], run_name: str) -> tuple[list[OpenMode], list[str]]:
    open_modes, recurring = [], []
    if catalogue_path is not None and Path(catalogue_path).exists():
        from chainjudge.workflows.modes import load_catalogue

        for mode in load_catalogue(catalogue_path).modes:
            if mode.status == "open":
                level = max(
                    (severity.get(c, "medium") for c in mode.criteria), key=["low", "medium", "high", "critical"].index, default="medium"
                )
                open_modes.append(
                    OpenMode(
                        id=mode.id,
                        name=mode.name,
                        severity=level,
                        count=mode.counts.get(run_name, 0),
                        exemplar=mode.exemplars[0].text if mode.exemplars else "",
                    )
                )
                if mode.counts.get(run_name) and len(mode.counts) > 1:
                    recurring.append(mode.id)
    return open_modes, recurring


class GoLiveInputError(ChainjudgeError):
    """A scenario space, scenarios file, gate policy or off-policy figures file that cannot be used."""


def evidence_for(
    store: Store, run: str, space: Path | None, expected: Path | None, catalogue: Path | None, policy: GatePolicy | None = None
) -> Evidence:
    """The go-live evidence for RUN: the space given, else the one the run was judged against, else an installed
    pack's default (so generic commands never name a pack's files)."""
    if store.get_run(run) is None:
        raise UnknownRun(run, store.location)
    try:
        loaded = load_space(space) if space else None
        if loaded is None and run_space(store, run) is None:
            offered = default_file("space")
            loaded = load_space(offered) if offered is not None else None
        return gather_evidence(store, run, loaded, expected, catalogue, policy=policy)
    except ChainjudgeError:
        raise
    except (OSError, ValueError) as exc:
        raise GoLiveInputError(str(exc)) from exc


def ope_figures(path: Path) -> dict:
    """What `chainjudge ope --out` wrote."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GoLiveInputError(f"{path}: not off-policy figures written by chainjudge ope --out ({str(exc)[:200]})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("overall"), dict):
        raise GoLiveInputError(f"{path}: not off-policy figures written by chainjudge ope --out (no 'overall')")
    return data


def guardrails_from(value: Path | None, harm: Path | None, estimator: str) -> list[Guardrail]:
    """The off-policy guardrails from the files `ope --out` wrote: the agent's value against today's, and harm."""
    return [
        guardrail(ope_figures(path), estimator, kind, path.name) for kind, path in (("value", value), ("harm", harm)) if path is not None
    ]
