"""Trajectory assertions: deterministic tool-call checks declared in rubric YAML beside model criteria.

Each mode's semantics on hand-made traces (parallel calls included), then on real data: the shared
tau-bench file (its expected actions are reference trajectories) and every shared trace format."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import ROOT
from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.core.checks import run_checks
from chainjudge.core.rubric import load_rubric, parse_rubric, rubric_hash
from chainjudge.core.schema import Criterion, Rubric, Step, ToolCall, Trace
from chainjudge.core.store import Store
from chainjudge.core.trajectory import args_problem, evaluate, tool_calls
from chainjudge.pipeline import load_traces

TAU = ROOT / "tests" / "data" / "tau-bench" / "gpt-4o-airline.json"
FORMATS = sorted(p for p in (ROOT / "tests" / "data" / "trace-formats").rglob("*") if p.suffix in (".json", ".traj")) + sorted(
    (ROOT / "tests" / "fixtures").glob("*.json")
)
LOOKUPS = [
    "get_user_details",
    "get_reservation_details",
    "search_direct_flight",
    "search_onestop_flight",
    "calculate",
    "list_all_airports",
    "think",
    "transfer_to_human_agents",
]


def call_step(
    index: int, *calls: tuple[str, dict], parent: str | None = None, start: float | None = None, end: float | None = None
) -> Step:
    times = {"start": start, "end": end} if start is not None else {}
    return Step(
        index=index,
        ref=str(index),
        kind="tool_call",
        parent_ref=parent,
        metadata=times,
        tool_calls=[ToolCall(name=n, arguments=json.dumps(a)) for n, a in calls],
    )


def trace(*steps: Step, **metadata) -> Trace:
    final = Step(index=len(steps), ref=str(len(steps)), kind="decision", text="done")
    return Trace(id="t", steps=[*steps, final], metadata=metadata)


def criterion(assertion: dict, applies_to=("decision",)) -> Criterion:
    return Criterion.model_validate({"id": "c", "question": "q", "applies_to": list(applies_to), "assert": assertion})


def check(assertion: dict, t: Trace):
    return evaluate(criterion(assertion), t, t.steps[-1])


SEARCH, BOOK, PAY = ("search", {"q": "SEA"}), ("book", {"flight": "HAT136", "amount": 250}), ("pay", {"amount": 250})
REFERENCE = [
    {"tool": "search", "args": {"q": "SEA"}},
    {"tool": "book", "args": {"flight": "HAT136", "amount": 250}},
    {"tool": "pay", "args": {"amount": 250}},
]


@pytest.mark.parametrize(
    "mode, calls, passes",
    [
        ("strict", [SEARCH, BOOK, PAY], True),
        ("strict", [SEARCH, PAY, BOOK], False),  # order matters
        ("strict", [SEARCH, BOOK], False),  # a call missing
        ("strict", [SEARCH, BOOK, PAY, PAY], False),  # an extra call
        ("unordered", [PAY, SEARCH, BOOK], True),
        ("unordered", [PAY, SEARCH, BOOK, SEARCH], False),  # the same calls, one extra
        ("subset", [SEARCH, BOOK], True),  # nothing beyond the reference
        ("subset", [SEARCH, ("refund", {})], False),
        ("superset", [SEARCH, ("refund", {}), BOOK, PAY], True),  # every reference call made, extras allowed
        ("superset", [SEARCH, SEARCH, BOOK], False),  # one call never satisfies two reference calls
    ],
)
def test_sequence_modes(mode, calls, passes):
    t = trace(*(call_step(i, c) for i, c in enumerate(calls)))
    outcome = check({"kind": "tool_sequence", "mode": mode, "reference": REFERENCE}, t)
    assert outcome.passed is passes, outcome.rationale


def test_a_failing_sequence_names_the_call_the_argument_and_what_was_expected():
    t = trace(call_step(0, SEARCH), call_step(1, ("book", {"flight": "HAT999", "amount": 250})), call_step(2, PAY))
    outcome = check({"kind": "tool_sequence", "mode": "strict", "reference": REFERENCE}, t)
    assert not outcome.passed
    assert "call 2 (step 1) book" in outcome.rationale and '\'flight\' is "HAT999", expected "HAT136"' in outcome.rationale
    superset = check({"kind": "tool_sequence", "mode": "superset", "reference": REFERENCE}, t)
    assert "reference call 2 book" in superset.rationale and "nearest, call 2 (step 1) book" in superset.rationale


def test_calls_in_one_step_are_parallel_and_may_come_in_any_order():
    t = trace(call_step(0, SEARCH), call_step(1, PAY, BOOK))  # one message, two calls
    assert [c.group for c in tool_calls(t)] == [1, 2, 2]
    assert check({"kind": "tool_sequence", "mode": "strict", "reference": REFERENCE}, t).passed


def test_a_parallel_group_longer_than_what_is_left_of_the_reference_fails_naming_the_extra_call():
    t = trace(call_step(0, SEARCH), call_step(1, BOOK, PAY, ("refund", {})))
    outcome = check({"kind": "tool_sequence", "mode": "strict", "reference": REFERENCE}, t)
    assert not outcome.passed and "call 4 (step 1) refund is beyond the reference's 3 calls" in outcome.rationale


def test_spans_under_one_parent_with_overlapping_times_are_parallel():
    overlapping = trace(
        call_step(0, SEARCH),
        call_step(1, PAY, parent="agent", start=10.0, end=12.0),
        call_step(2, BOOK, parent="agent", start=11.0, end=13.0),
    )
    assert check({"kind": "tool_sequence", "mode": "strict", "reference": REFERENCE}, overlapping).passed
    one_after_another = trace(
        call_step(0, SEARCH),
        call_step(1, PAY, parent="agent", start=10.0, end=11.0),
        call_step(2, BOOK, parent="agent", start=11.5, end=13.0),
    )
    assert not check({"kind": "tool_sequence", "mode": "strict", "reference": REFERENCE}, one_after_another).passed


@pytest.mark.parametrize(
    "mode, expected, actual, ok",
    [
        ("exact", {"amount": 250}, {"amount": 250}, True),
        ("exact", {"amount": 250}, {"amount": 250.0}, True),  # JSON equality: 250 == 250.0
        ("exact", {"cabin": "economy"}, {"cabin": "Economy"}, False),
        ("exact", {"a": 1}, {"a": 1, "b": 2}, False),  # an unexpected argument
        ("subset", {"a": 1}, {"a": 1, "b": 2}, True),
        ("subset", {"p": {"first": "Mia"}}, {"p": {"first": "Mia", "last": "Li"}}, True),  # recursively
        ("subset", {"a": 1}, {"b": 1}, False),
        ("normalised", {"amount": 250}, {"amount": "250.00"}, True),
        ("normalised", {"cabin": "economy"}, {"cabin": " Economy "}, True),
        ("normalised", {"when": "2024-05-20T15:00:00+07:00"}, {"when": "2024-05-20T08:00:00Z"}, True),  # the same instant
        ("normalised", {"when": "2024-05-20"}, {"when": "2024-05-21"}, False),
        ("normalised", {"ids": ["a", "b"]}, {"ids": ["b", "a"]}, False),  # lists keep their order
    ],
)
def test_argument_matching(mode, expected, actual, ok):
    assert (args_problem(expected, actual, mode) is None) is ok


def test_tool_args_with_a_json_schema_names_the_argument():
    schema = {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number", "maximum": 500}}}
    t = trace(call_step(0, ("pay", {"amount": 900})))
    outcome = check({"kind": "tool_args", "tool": "pay", "schema": schema}, t)
    assert not outcome.passed and "call 1 (step 0) pay" in outcome.rationale and "'amount'" in outcome.rationale
    assert check({"kind": "tool_args", "tool": "pay", "schema": schema}, trace(call_step(0, PAY))).passed
    assert not check({"kind": "tool_args", "tool": "pay", "expected": {"amount": 1}}, trace(call_step(0, SEARCH))).passed


def test_tool_used_and_step_count_bounds():
    t = trace(call_step(0, SEARCH), call_step(1, SEARCH), call_step(2, BOOK))
    assert check({"kind": "tool_used", "tool": "search", "min": 2, "max": 2}, t).passed
    assert not check({"kind": "tool_used", "tool": "search", "max": 1}, t).passed
    never = check({"kind": "tool_used", "tool": "book", "max": 0}, t)
    assert not never.passed and "call 3 (step 2) book" in never.rationale
    assert not check({"kind": "tool_used", "tool": "refund"}, t).passed  # default: at least once
    assert check({"kind": "step_count", "max": 4}, t).passed and not check({"kind": "step_count", "max": 3}, t).passed
    assert check({"kind": "step_count", "max": 3, "kinds": ["tool_call"]}, t).passed


def test_a_criterion_cannot_have_both_a_check_and_an_assertion():
    with pytest.raises(ValueError, match="either `check` or `assert`"):
        Criterion.model_validate(
            {"id": "c", "question": "q", "applies_to": ["decision"], "check": "x", "assert": {"kind": "step_count", "max": 1}}
        )


def test_rubrics_without_assertions_keep_their_hash():
    """Cache keys and run bindings survive the new field: these are the hashes before it existed."""
    assert rubric_hash(load_rubric(ROOT / "chainjudge" / "packs" / "cep" / "rubrics" / "cep.yaml")) == "3a46a0f191ad5faf"
    assert rubric_hash(load_rubric(ROOT / "rubrics" / "step-quality.yaml")) == "fc5ff59b78cbeb8c"


TAU_RUBRIC = f"""
id: tau-trajectory
criteria:
  - id: expected_writes
    question: Did the agent make the task's expected write calls, with the expected arguments?
    applies_to: [decision, message]
    severity: critical
    assert: {{kind: tool_sequence, mode: superset, args: normalised, ignore_tools: {json.dumps(LOOKUPS)}}}
  - id: results_ok
    question: Did each tool call succeed?
    applies_to: [tool_result]
    assert: {{kind: tool_result_ok}}
"""


def test_tau_bench_expected_actions_are_reference_trajectories():
    loaded = load_traces([TAU])
    judgments = run_checks(loaded.traces, parse_rubric(yaml.safe_load(TAU_RUBRIC), "tau.yaml"), "tau")
    writes = [j for j in judgments if j.criterion_id == "expected_writes"]
    assert len(writes) == len(loaded.traces) == 200 and all(j.error is None for j in writes)  # a reference on every trace
    assert all("was not made" in j.verdict.rationale for j in writes if not j.passed)
    reward = {t.id: t.metadata["reward"] for t in loaded.traces}
    rate = {
        r: sum(j.passed for j in writes if reward[j.trace_id] == r) / sum(1 for j in writes if reward[j.trace_id] == r) for r in (0.0, 1.0)
    }
    assert rate[1.0] - rate[0.0] > 0.4, rate  # the assertion tracks tau-bench's own reward, far above chance
    results = [j for j in judgments if j.criterion_id == "results_ok"]
    failed = [j for j in results if not j.passed]
    assert failed and all("returned an error: 'Error:" in j.verdict.rationale for j in failed)


@pytest.mark.parametrize("path", FORMATS, ids=lambda p: p.name)
def test_assertions_run_on_every_shared_trace_format(path):
    loaded = load_traces([path])
    assert loaded.traces
    for t in loaded.traces:
        calls = tool_calls(t)
        own = [{"tool": c.name, "args": c.args if isinstance(c.args, dict) else None} for c in calls]
        rubric = Rubric.model_validate(
            {
                "id": "r",
                "criteria": [
                    {
                        "id": "own",
                        "question": "q",
                        "applies_to": [k.value for k in {s.kind for s in t.steps}],
                        "assert": {"kind": "tool_sequence", "mode": "strict", "args": "exact", "reference": own},
                    },
                    {
                        "id": "count",
                        "question": "q",
                        "applies_to": ["decision", "message", "tool_result", "tool_call", "user", "system", "reasoning", "structure"],
                        "assert": {"kind": "step_count", "max": len(t.steps)},
                    },
                ],
            }
        )
        judgments = run_checks([t], rubric, "r")
        assert [j.passed for j in judgments] == [True, True], [j.verdict.rationale for j in judgments]
        distinct = [c for c in own if c != own[0]]
        if distinct and len({c.group for c in calls}) == len(calls):
            flipped = [distinct[0], *[c for c in own if c is not distinct[0]]]
            assert not evaluate(
                criterion({"kind": "tool_sequence", "mode": "strict", "args": "exact", "reference": flipped}), t, t.steps[-1]
            ).passed


def test_judge_runs_a_rubric_of_assertions_without_a_model_and_reads_a_reference_file(tmp_path):
    cli = CliRunner()
    rubric = tmp_path / "tau.yaml"
    rubric.write_text(
        "id: refs\ncriteria:\n  - id: expected_writes\n    question: q\n    applies_to: [decision, message]\n"
        "    assert: {kind: tool_sequence, mode: superset}\n"
    )
    first = load_traces([TAU]).traces[0]
    reference = tmp_path / "ref.jsonl"
    reference.write_text(json.dumps({"trace_id": first.id, "calls": [{"tool": c.name, "args": c.args} for c in tool_calls(first)]}) + "\n")
    db = tmp_path / "a.db"
    result = cli.invoke(app, ["judge", str(TAU), "--rubric", str(rubric), "--db", str(db), "--run", "a", "--reference", str(reference)])
    assert result.exit_code == 0, result.output
    assert "1 of 200 traces have one" in result.output
    with Store(db) as store:
        mine = [j for j in store.judgments("a") if j.trace_id == first.id and j.criterion_id == "expected_writes"]
    assert [j.passed for j in mine] == [True] and mine[0].judge == "assert:tool_sequence"

    reference.write_text('{"trace_id": "x", "calls": [{"tool": ""}]}\n')
    bad = cli.invoke(app, ["judge", str(TAU), "--rubric", str(rubric), "--db", str(db), "--run", "b", "--reference", str(reference)])
    assert bad.exit_code == 2 and "ref.jsonl: line 1: calls[0].tool" in bad.output
