"""Assemble the go-live evidence of one run from the store: decisions, critical criteria and how far
their judges are trusted, coverage of the scenario space, consistency and open failure modes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from chainjudge.calibrate import agreement, pass_hat_k
from chainjudge.coverage import Coverage, coverage, go_live_score
from chainjudge.schema import GatePolicy, GoLiveScore, Label, ScenarioSpace
from chainjudge.store import Store


@dataclass
class Evidence:
    run: str
    traces: int
    score: GoLiveScore
    coverage: Coverage
    space: ScenarioSpace
    decision_report: object | None
    criteria: list[dict] = field(default_factory=list)  # per criterion: pass rate, severity, judge kind, trust
    critical_failures: int = 0
    recurring_modes: list[str] = field(default_factory=list)
    open_modes: list[dict] = field(default_factory=list)


def load_space(path: str | Path) -> ScenarioSpace:
    import yaml

    return ScenarioSpace.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


def collect(store: Store, run_name: str, space: ScenarioSpace, scenarios_path: Path | None = None,
            catalogue_path: Path | None = None, high_weight: float = 2.0) -> Evidence:
    from chainjudge.cep.decisions import load_scenarios, score

    run = store.get_run(run_name)
    if run is None:
        raise KeyError(run_name)
    judgments = list(store.judgments(run_name))
    trace_ids = sorted({j.trace_id for j in judgments})
    traces = [t for t in (store.get_trace(i) for i in trace_ids) if t is not None]
    severity = {c.id: c.severity for c in run.rubric.criteria} if run.rubric else {}
    is_check = {c.id: bool(c.check) for c in run.rubric.criteria} if run.rubric else {}

    # trust per criterion: deterministic checks are trusted; model criteria only if calibration says so
    people = [l for l in store.labels() if l.kind in ("human", "ground-truth")]
    criteria_rows, trusted = [], {}
    by_criterion: dict[str, list] = defaultdict(list)
    for j in judgments:
        by_criterion[j.criterion_id].append(j)
    for criterion, items in sorted(by_criterion.items()):
        scored = [j for j in items if j.passed is not None]
        if is_check.get(criterion):
            trust = "trusted (deterministic check)"
            trusted[criterion] = True
        else:
            reference = [l for l in people if l.criterion == criterion]
            if reference:
                candidate = [Label(trace_id=j.trace_id, step_ref=j.step_ref, step_index=j.step_index, criterion=criterion,
                                   value=j.verdict.label, annotator="judge", kind="judge") for j in scored if j.verdict]
                report = agreement(reference, candidate, "people", "judge", criterion, bootstrap=300) if candidate else None
                trust = report.trust if report else "unreliable"
            else:
                trust = "unknown (no labels)"
            trusted[criterion] = trust == "trusted"
        criteria_rows.append({"criterion": criterion, "severity": severity.get(criterion, "medium"),
                              "judged": len(items), "passed": sum(1 for j in scored if j.passed),
                              "scored": len(scored), "trust": trust})
    critical = [c for c in by_criterion if severity.get(c) == "critical"]
    critical_trusted = [c for c in critical if trusted.get(c)]
    crit_items = [j for c in critical_trusted for j in by_criterion[c] if j.passed is not None]
    critical_failures = sum(1 for j in crit_items if not j.passed)

    decision_report, decision = None, (0, 0)
    passed_trace: dict[str, bool] = {}
    consistency = None
    if scenarios_path is not None:
        scenarios = load_scenarios(scenarios_path)
        decision_report = score(traces, scenarios)
        decision = (decision_report.overall.correct, decision_report.overall.total)
        wrong = {m.trace_id for m in decision_report.mismatches} | set(decision_report.missing_decision)
        failing = {j.trace_id for j in crit_items if not j.passed}
        passed_trace = {t.id: t.id not in wrong and t.id not in failing for t in traces}
        trials: dict[str, list[bool]] = defaultdict(list)
        for t in traces:
            trials[str(t.metadata.get("scenario_id") or t.id)].append(passed_trace.get(t.id, False))
        repeated = {k: v for k, v in trials.items() if len(v) > 1}
        if repeated:
            k = min(len(v) for v in repeated.values())
            consistency = pass_hat_k([sum(v) for v in repeated.values()], [len(v) for v in repeated.values()], k)
    else:
        failing = {j.trace_id for j in crit_items if not j.passed}
        passed_trace = {t.id: t.id not in failing for t in traces}

    cov = coverage(traces, space, passed_trace, high_weight)
    open_modes, recurring = [], []
    if catalogue_path is not None and Path(catalogue_path).exists():
        from chainjudge.modes import load_catalogue

        for mode in load_catalogue(catalogue_path).modes:
            if mode.status == "open":
                level = max((severity.get(c, "medium") for c in mode.criteria), key=["low", "medium", "high", "critical"].index, default="medium")
                open_modes.append({"id": mode.id, "name": mode.name, "severity": level, "count": mode.counts.get(run_name, 0),
                                   "exemplar": mode.exemplars[0].text if mode.exemplars else ""})
                if mode.counts.get(run_name) and len(mode.counts) > 1:
                    recurring.append(mode.id)
    result = go_live_score(
        decision=decision,
        critical=(sum(1 for j in crit_items if j.passed), len(crit_items)),
        trusted_critical=(len(critical_trusted), len(critical)),
        coverage_weighted=cov.weighted, consistency=consistency,
        open_modes=[m["severity"] for m in open_modes],
    )
    return Evidence(run=run_name, traces=len(traces), score=result, coverage=cov, space=space, decision_report=decision_report,
                    criteria=criteria_rows, critical_failures=critical_failures, recurring_modes=recurring, open_modes=open_modes)


def gate_reasons(evidence: Evidence, policy: GatePolicy) -> list[str]:
    reasons = []
    if evidence.score.score < policy.min_score:
        reasons.append(f"go-live score {evidence.score.score:.2f} is below {policy.min_score:.2f}")
    if evidence.coverage.high_weight_coverage < policy.min_high_weight_coverage:
        reasons.append(f"coverage of high-weight cells {evidence.coverage.high_weight_coverage:.0%} is below {policy.min_high_weight_coverage:.0%}")
    if evidence.critical_failures > policy.max_critical_failures:
        reasons.append(f"{evidence.critical_failures} critical failures (allowed: {policy.max_critical_failures})")
    if policy.no_recurring_failure_modes and evidence.recurring_modes:
        reasons.append(f"known failure modes recur: {', '.join(evidence.recurring_modes)}")
    return reasons
