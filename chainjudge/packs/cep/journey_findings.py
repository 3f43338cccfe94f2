"""What a set of recorded journeys shows: each journey's failed checks, the simulator's own
inconsistencies (kept apart: they are the harness's failures, not the agent's), and the summary
(findings by check and by journey step, the failure rate with its interval, pass^k over repeats,
distinct failure modes)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from chainjudge.analysis.stats import pass_hat_k_curve, wilson_interval
from chainjudge.core.checks import AgentOutputUnusable, CheckInputMissing
from chainjudge.core.schema import StepKind, Trace
from chainjudge.packs.cep.customer import inconsistencies
from chainjudge.packs.cep.journey_checks import JOURNEY_CHECKS

NO_DECISION = "no_readable_decision"  # the agent wrote nothing the checks can read: the journey fails


class Finding(BaseModel):
    point: int
    step: str
    check: str
    rationale: str


class JourneyOutcome(BaseModel):
    trace_id: str
    journey_id: str
    kind: str
    perturbations: list[str]
    repeat: int = 0
    status: str = "ok"
    findings: list[Finding]
    simulator_problems: list[str]
    weight: float = 1.0  # the search's importance weight (1 for journeys sampled as the target says)

    @property
    def failed(self) -> bool:
        """A journey fails when a check fails on any decision or the agent itself failed (a simulator
        error is the harness's failure: counted among simulator problems, not against the agent)."""
        return bool(self.findings) or self.status == "failed"

    def modes(self) -> set[str]:
        """Distinct failure modes: the failed check and the perturbations it happened under."""
        context = "+".join(sorted(p for p in self.perturbations if p != "none")) or "none"
        return {f"{f.check} @ {self.kind}/{context}" for f in self.findings} | (
            {f"agent failed @ {self.kind}/{context}"} if self.status == "failed" else set()
        )


class JourneySummary(BaseModel):
    journeys: int
    failed: int
    failure_rate: float
    failure_low: float
    failure_high: float
    by_check: dict[str, int]
    by_step: dict[str, int]
    by_cell: dict[str, list[int]]  # "kind/perturbation" -> [failed, journeys]
    modes: dict[str, int]
    simulator_inconsistent: int
    simulator_low: float
    simulator_high: float
    simulator_examples: list[str]
    pass_hat_k: list[tuple[int, float]]
    not_journeys: list[str]


def evaluate(trace: Trace) -> JourneyOutcome | None:
    """The journey checks on every decision step, and the simulator's consistency; None when the
    trace is not a journey."""
    meta = trace.metadata
    if not isinstance(meta.get("journey_log"), list) or not isinstance(meta.get("journey"), dict):
        return None
    findings = []
    for step in trace.steps:
        if step.kind is not StepKind.decision:
            continue
        point = step.metadata.get("decision_point")
        label = next((str(e.get("step")) for e in meta["journey_log"] if isinstance(e, dict) and e.get("point") == point), "?")  # type: ignore[union-attr]
        for name, check in JOURNEY_CHECKS.items():
            try:
                result = check(trace, step)
            except AgentOutputUnusable as exc:  # no decision to check: one finding of its own, not the first check's
                findings.append(Finding(point=_number(point), step=label, check=NO_DECISION, rationale=str(exc)))
                break
            except CheckInputMissing:
                continue
            if not result.passed:
                findings.append(Finding(point=_number(point), step=label, check=name, rationale=result.rationale))
    raw_perturbations = meta.get("journey_perturbations")
    perturbations = [str(p) for p in raw_perturbations] if isinstance(raw_perturbations, list) else []
    weight = meta.get("search_weight")
    return JourneyOutcome(
        trace_id=trace.id,
        journey_id=str(meta.get("journey_id")),
        kind=str(meta.get("journey_kind")),
        perturbations=perturbations,
        repeat=int(meta.get("repeat") or 0),  # type: ignore[arg-type]
        status=str(meta.get("status") or "ok"),
        findings=findings,
        simulator_problems=inconsistencies([e for e in meta["journey_log"] if isinstance(e, dict)])  # type: ignore[union-attr]
        + ([str(meta.get("error"))] if meta.get("status") == "simulator_error" else []),
        weight=float(weight) if isinstance(weight, (int, float)) else 1.0,
    )


def evaluate_all(traces: Iterable[Trace]) -> tuple[list[JourneyOutcome], list[str]]:
    outcomes, skipped = [], []
    for trace in traces:
        outcome = evaluate(trace)
        if outcome is None:
            skipped.append(trace.id)
        else:
            outcomes.append(outcome)
    return outcomes, skipped


def summarize(outcomes: Sequence[JourneyOutcome], not_journeys: Sequence[str] = ()) -> JourneySummary:
    n = len(outcomes)
    failed = sum(o.failed for o in outcomes)
    low, high = wilson_interval(failed, n) if n else (0.0, 1.0)
    inconsistent = [o for o in outcomes if o.simulator_problems]
    sim_low, sim_high = wilson_interval(len(inconsistent), n) if n else (0.0, 1.0)
    by_check: Counter[str] = Counter()
    by_step: Counter[str] = Counter()
    modes: Counter[str] = Counter()
    by_cell: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    repeats: dict[str, list[bool]] = defaultdict(list)
    for outcome in outcomes:
        by_check.update({f.check for f in outcome.findings})
        by_step.update({f"{outcome.kind}/{f.step}" for f in outcome.findings})
        modes.update(outcome.modes())
        for perturbation in outcome.perturbations or ["none"]:  # a journey with two perturbations is in both cells
            cell = by_cell[f"{outcome.kind}/{perturbation}"]
            cell[0] += outcome.failed
            cell[1] += 1
        repeats[outcome.journey_id].append(not outcome.failed)
    curve = pass_hat_k_curve(dict(repeats)) if any(len(v) > 1 for v in repeats.values()) else []
    return JourneySummary(
        journeys=n,
        failed=failed,
        failure_rate=failed / n if n else 0.0,
        failure_low=low,
        failure_high=high,
        by_check=dict(by_check.most_common()),
        by_step=dict(by_step.most_common()),
        by_cell=dict(sorted(by_cell.items())),
        modes=dict(modes.most_common()),
        simulator_inconsistent=len(inconsistent),
        simulator_low=sim_low,
        simulator_high=sim_high,
        simulator_examples=[f"{o.trace_id}: {o.simulator_problems[0]}" for o in inconsistent[:5]],
        pass_hat_k=curve,
        not_journeys=list(not_journeys),
    )


def _number(value: object) -> int:
    """A decision point's number as the trace stored it (0 when missing or unreadable)."""
    try:
        return int(value) if isinstance(value, (int, float, str)) else 0
    except ValueError:
        return 0
