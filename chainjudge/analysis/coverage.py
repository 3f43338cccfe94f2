"""Scenario coverage and the go-live confidence score (pure functions over data).

Coverage: which cells of the declared scenario space have at least k evaluated traces, weighted and
unweighted, the heaviest empty cells, and adversarial perturbations without passing evidence.

The score is a weighted geometric mean of terms in [0, 1], each shown with how it was computed: a
very weak term (say, decisions mostly wrong) cannot be averaged away by strong coverage.  Every term is
a lower-is-worse quantity and enters with a positive weight, so a worse term can never raise the score;
evidence the harness cannot trust (a model-judged critical criterion that calibration does not mark
trusted) counts as unknown, i.e. as no evidence, never as passed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from chainjudge.analysis.stats import wilson_interval
from chainjudge.core.schema import Coverage, CriticalEvidence, GoLiveScore, ScenarioSpace, ScoreTerm, Trace, validate_weights

DEFAULT_WEIGHTS = {
    "decision_accuracy": 3.0,
    "critical_pass_rate": 3.0,
    "judge_reliability": 1.0,
    "coverage": 2.0,
    "consistency": 1.0,
    "open_failure_modes": 1.0,
}
FLOOR = 1e-3  # a term of 0 (no evidence) makes the score ~0 rather than undefined
SEVERITY_PENALTY = {"low": 0.02, "medium": 0.05, "high": 0.1, "critical": 0.25}


def trace_values(trace: Trace, space: ScenarioSpace, dimension: str) -> list[str]:
    raw = trace.metadata.get(space.dimensions[dimension].field)
    if raw is None:
        return []
    return [str(v) for v in raw] if isinstance(raw, list) else [str(raw)]


def cell_weight(space: ScenarioSpace, cell: tuple[str, ...]) -> float:
    weight = 1.0
    for dimension, value in zip(space.grid, cell, strict=True):
        weight *= space.dimensions[dimension].weights.get(value, 1.0)
    return weight


def coverage(traces: Sequence[Trace], space: ScenarioSpace, passed: dict[str, bool], high_weight: float = 2.0) -> Coverage:
    """`passed`: trace id -> did the trace pass (decision right, no critical failure)."""
    grid_values = [space.dimensions[d].values for d in space.grid]
    cells = {cell: 0 for cell in itertools.product(*grid_values)}
    by_origin: dict[str, dict[tuple[str, ...], int]] = {}
    for trace in traces:
        per_dimension = [trace_values(trace, space, d) for d in space.grid]
        origin = str(trace.metadata.get("origin") or "generated")  # recorded from imported history, or generated
        for cell in itertools.product(*per_dimension):
            if cell in cells:
                cells[cell] += 1
                by_origin.setdefault(origin, {}).setdefault(cell, 0)
                by_origin[origin][cell] += 1
    k = space.min_traces_per_cell
    total_weight = sum(cell_weight(space, c) for c in cells)
    covered_weight = sum(cell_weight(space, c) for c, n in cells.items() if n >= k)
    heavy = {c: cell_weight(space, c) for c in cells if cell_weight(space, c) >= high_weight}
    heavy_covered = sum(w for c, w in heavy.items() if cells[c] >= k)
    empty = sorted(((c, cell_weight(space, c)) for c, n in cells.items() if n < k), key=lambda x: (-x[1], x[0]))
    open_cases = []
    for name, dimension in space.dimensions.items():
        if not dimension.adversarial:
            continue
        for value in dimension.values:
            evidence = [passed.get(t.id, False) for t in traces if value in trace_values(t, space, name)]
            if not any(evidence):
                open_cases.append(f"{name}={value}" + (" (no traces)" if not evidence else " (no passing trace)"))
    return Coverage(
        cells=cells,
        covered=sum(1 for n in cells.values() if n >= k) / len(cells),
        weighted=covered_weight / total_weight if total_weight else 0.0,
        empty_heaviest=empty[:10],
        open_edge_cases=open_cases,
        by_origin=by_origin,
        high_weight_coverage=heavy_covered / sum(heavy.values()) if heavy else 1.0,
    )


def covered_by(cov: Coverage, cell: tuple[str, ...]) -> str:
    """Which states cover a cell: both, history only (imported), generated only, or nothing."""
    imported, generated = cov.by_origin.get("imported", {}).get(cell, 0), cov.by_origin.get("generated", {}).get(cell, 0)
    return "both" if imported and generated else "history only" if imported else "generated only" if generated else "nothing"


def term(name: str, successes: int, total: int, weight: float, explanation: str) -> ScoreTerm:
    if total == 0:
        return unknown_term(name, weight, explanation + ": no evidence")
    low, high = wilson_interval(successes, total)
    return ScoreTerm(
        name=name,
        value=low,
        low=low,
        high=high,
        weight=weight,
        explanation=f"{explanation}: {successes}/{total}, lower bound of the 95% interval {low:.2f}",
    )


def unknown_term(name: str, weight: float, explanation: str, low: float = 0.0, high: float = 1.0) -> ScoreTerm:
    """Missing or untrusted evidence: shown with its range, counted at its low end (fail closed)."""
    return ScoreTerm(
        name=name,
        value=low,
        low=low,
        high=high,
        weight=weight,
        known=False,
        explanation=f"{explanation} (unknown: counts as {low:.2f}, could be up to {high:.2f})",
    )


def go_live_score(
    decision: tuple[int, int] | None,
    critical: CriticalEvidence,
    coverage_weighted: float,
    consistency: float | None,
    open_modes: Sequence[str],
    weights: dict[str, float] | None = None,
) -> GoLiveScore:
    """decision: (correct, total), None when no expected actions are known; critical: what the critical
    criteria show; open_modes: severities of open failure modes.  Missing evidence is an unknown term
    counted at its low end, so it never raises the score."""
    w = {**DEFAULT_WEIGHTS, **validate_weights(weights or {})}
    if not sum(w.values()) > 0:
        raise ValueError("score weights are all 0: at least one term must count")
    terms = [
        term("decision_accuracy", *decision, w["decision_accuracy"], "decisions matching the expected action")
        if decision
        else unknown_term("decision_accuracy", w["decision_accuracy"], "no expected actions for this run"),
        _critical_term(critical, w["critical_pass_rate"]),
        _reliability_term(critical, w["judge_reliability"]),
        _exact("coverage", coverage_weighted, w["coverage"], f"weighted coverage of the scenario space {coverage_weighted:.0%}"),
        _exact("consistency", consistency, w["consistency"], f"pass^k over repeated trials of a scenario {consistency:.2f}")
        if consistency is not None
        else unknown_term("consistency", w["consistency"], "no scenario was run more than once"),
    ]
    penalty = min(1.0, sum(SEVERITY_PENALTY.get(s, 0.05) for s in open_modes))
    explained = f"{len(open_modes)} open failure modes, severity-weighted penalty {penalty:.2f}"
    terms.append(_exact("open_failure_modes", 1 - penalty, w["open_failure_modes"], explained))
    total = sum(t.weight for t in terms)

    def mean(attr: str) -> float:
        # weighted geometric mean: one very weak term drags the score down instead of being averaged away
        return math.exp(sum(t.weight * math.log(max(getattr(t, attr), FLOOR)) for t in terms) / total)

    return GoLiveScore(score=mean("value"), low=mean("low"), high=mean("high"), terms=terms)


def _exact(name: str, value: float, weight: float, explanation: str) -> ScoreTerm:
    """A term known exactly (its range is its value)."""
    return ScoreTerm(name=name, value=value, low=value, high=value, weight=weight, explanation=explanation)


def _critical_term(c: CriticalEvidence, weight: float) -> ScoreTerm:
    name, what = "critical_pass_rate", "critical criteria passed"
    if c.criteria == 0:
        return ScoreTerm(name=name, value=1.0, low=1.0, high=1.0, weight=weight, explanation="the rubric marks no criterion critical")
    if not c.untrusted and not c.unscored_items:
        return term(name, c.passed, c.total, weight, what + " (trusted judges and checks)")
    unknown = c.untrusted_items + c.unscored_items
    everything = c.total + unknown
    low = wilson_interval(c.passed, everything)[0] if everything else 0.0
    high = wilson_interval(c.passed + unknown, everything)[1] if everything else 1.0
    why = []
    if c.untrusted:
        why.append(f"{c.untrusted_items} items of {', '.join(c.untrusted)} have no trusted judge")
    if c.unscored_items:
        why.append(f"{c.unscored_items} items of trusted criteria have no verdict (abstained or errored)")
    return unknown_term(
        name, weight, f"{what}: {c.passed}/{c.total} from trusted sources; {'; '.join(why)} (counted as failing at the low end)", low, high
    )


def _reliability_term(c: CriticalEvidence, weight: float) -> ScoreTerm:
    trusted = c.criteria - len(c.untrusted)
    value = trusted / c.criteria if c.criteria else 1.0
    return ScoreTerm(
        name="judge_reliability",
        value=value,
        low=value,
        high=value,
        weight=weight,
        explanation=f"critical criteria with a trusted judge (deterministic check or calibrated model): {trusted}/{c.criteria}",
    )
