"""Decision correctness: each trace's final decision against the expected action, field by field,
with Wilson 95% intervals overall and by segment, market, channel and perturbation."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from chainjudge.analysis.stats import wilson_interval
from chainjudge.core.schema import DecisionReport, Mismatch, Rate, StepKind, Trace
from chainjudge.packs.cep.scenario import AgentDecision, Scenario

FIELDS = ("action", "channel", "content_language", "offer")


def load_scenarios(path: str | Path) -> dict[str, Scenario]:
    return parse_scenarios(Path(path).read_text(encoding="utf-8"), str(path))


def parse_scenarios(text: str, source: str = "<scenarios>") -> dict[str, Scenario]:
    """Scenarios from JSONL text (a file, or the copy a run keeps of what it was judged against)."""
    scenarios = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                scenario = Scenario.model_validate_json(line)
            except ValueError as exc:
                raise ValueError(f"{source}: line {number}: {exc}") from None
            scenarios[scenario.user.id] = scenario
    return scenarios


def _json_object(text: str) -> dict | None:
    """The JSON object spanning the step's first '{' to its last '}' (found with str methods: linear on
    any trace text, where a regex like \\{.*\\} backtracks quadratically on a text full of braces)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def final_decision(trace: Trace) -> AgentDecision | None:
    """The agent's decision: trace metadata 'decision', else a JSON object in the last decision step."""
    raw = trace.metadata.get("decision")
    if not isinstance(raw, dict):
        step = next((s for s in reversed(trace.steps) if s.kind is StepKind.decision), None)
        raw = _json_object(step.text) if step is not None else None
    return AgentDecision.model_validate(raw) if raw is not None else None


def _compare(expected: dict, decided: AgentDecision) -> list[str]:
    return [f for f in _compared(expected) if (expected.get(f) or None) != decided.text(f)]


def _rate(correct: int, total: int) -> Rate:
    low, high = wilson_interval(correct, total)
    return Rate(correct=correct, total=total, accuracy=correct / total if total else 0.0, low=low, high=high)


def score(traces: Iterable[Trace], scenarios: dict[str, Scenario], source: str = "policy") -> DecisionReport:
    """Each trace's final decision against its scenario's expected action from SOURCE: `policy` (the
    contact policy's derivation) or `annotated` (what people recorded; only the fields they gave are
    compared, and scenarios without an annotation are not counted).  Never a mix of the two."""
    if source not in ("policy", "annotated"):
        raise ValueError(f"unknown expected-action source {source!r}; choose policy or annotated")
    groups: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    fields: dict[str, list[bool]] = defaultdict(list)
    outcomes: list[bool] = []
    mismatches: list[Mismatch] = []
    missing, unknown = [], []
    for trace in traces:
        scenario = scenarios.get(str(trace.metadata.get("scenario_id") or trace.id))
        chosen = None if scenario is None else scenario.expected if source == "policy" else scenario.annotated
        if chosen is None or scenario is None:
            unknown.append(trace.id)
            continue
        expected = chosen.model_dump()
        decided = final_decision(trace)
        if decided is None:
            missing.append(trace.id)
            decided = AgentDecision()
        compared = [f for f in _compared(expected) if source == "policy" or f == "action" or expected.get(f) is not None]
        wrong = [f for f in _compare(expected, decided) if f in compared]
        outcomes.append(not wrong)
        for field in compared:
            fields[field].append(field not in wrong)
        mismatches += [Mismatch(trace_id=trace.id, field=f, expected=_s(expected.get(f)), decided=decided.text(f)) for f in wrong]
        _tally(groups, scenario, expected, not wrong)
    return DecisionReport(
        overall=_rate(sum(outcomes), len(outcomes)),
        by={dim: {k: _rate(sum(v), len(v)) for k, v in sorted(values.items())} for dim, values in groups.items()},
        field_accuracy={f: _rate(sum(v), len(v)) for f, v in fields.items()},
        mismatches=mismatches,
        missing_decision=missing,
        unknown_scenario=unknown,
        expected_source=source,
    )


def _tally(groups: dict[str, dict[str, list[bool]]], scenario: Scenario, expected: dict, ok: bool) -> None:
    """One decision's outcome under each breakdown: segment, market, channel, origin and every perturbation."""
    user = scenario.user
    groups["segment"][user.ltv_segment].append(ok)
    groups["market"][user.market].append(ok)
    groups["channel"][expected.get("channel") or "(none)"].append(ok)
    groups["origin"][scenario.origin].append(ok)
    for perturbation in user.perturbations or ["(none)"]:
        groups["perturbation"][perturbation].append(ok)


def _compared(expected: dict) -> list[str]:
    """The fields a decision is judged on: no channel or language for a suppression, no offer unless sending."""
    skipped = set()
    if expected["action"] == "suppress":
        skipped |= {"channel", "content_language"}
    if expected["action"] != "send":
        skipped.add("offer")
    return [f for f in FIELDS if f not in skipped]


def _s(value: object) -> str | None:
    return None if value is None else str(value)
