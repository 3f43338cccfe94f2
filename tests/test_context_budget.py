"""Long traces within a token budget: the judged step, the task, the call a result answers and the last
steps verbatim, earlier steps as one-line digests, and never a prompt over the rubric's budget."""

from __future__ import annotations

import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from chainjudge.core.context import digest_line, prompt_tokens
from chainjudge.core.engine import plan
from chainjudge.core.rubric import load_rubric, parse_rubric
from chainjudge.core.schema import ContextBudget, JudgeSettings, Step, StepKind, ToolCall, Trace
from chainjudge.pipeline import load_traces

LONGEST = [
    ROOT / "tests/data/trace-formats/swe-agent/sweagent_function_calling_marshmallow-1867.traj",
    ROOT / "tests/data/trace-formats/openhands/openhands_basic_gui_mode.json",
    ROOT / "tests/data/trace-formats/langfuse/langfuse_langgraph-python-2025-08-22.trace.json",
]
RUBRIC = load_rubric(ROOT / "rubrics" / "step-quality.yaml")
SETTINGS = JudgeSettings(model="openai/test", batch=True)


def budgeted(tokens: int, **extra):
    return RUBRIC.model_copy(update={"context": ContextBudget(tokens=tokens, **extra)})


def stretched(trace: Trace, times: int) -> Trace:
    steps = []
    for round_ in range(times):
        for s in trace.steps:
            parent = f"r{round_}:{s.parent_ref}" if s.parent_ref else None
            steps.append(s.model_copy(update={"index": len(steps), "ref": f"r{round_}:{s.ref}", "parent_ref": parent}))
    return trace.model_copy(update={"id": trace.id + "-long", "steps": steps})


@pytest.fixture(scope="module")
def long_traces():
    traces = [t for path in LONGEST for t in load_traces([path]).traces]
    return traces + [stretched(traces[0], 10)]  # ~250 steps: a long coding session


@pytest.mark.parametrize("tokens", [900, 1500, 3000])
def test_no_prompt_exceeds_the_budget_on_the_longest_shared_traces(long_traces, tokens):
    items = plan(long_traces, budgeted(tokens), SETTINGS, "r")
    assert len(items) > 100
    over = [(i.trace_id, i.step.ref, prompt_tokens(i.messages)) for i in items if prompt_tokens(i.messages) > tokens]
    assert over == []


def test_the_task_and_the_call_a_result_answers_are_always_kept(long_traces):
    traces = {t.id: t for t in long_traces}
    first = RUBRIC.criteria[0]
    on_results = budgeted(1200).model_copy(
        update={"criteria": [first.model_copy(update={"applies_to": [*first.applies_to, StepKind.tool_result]})]}
    )
    items = plan(long_traces, on_results, SETTINGS, "r")
    results = [i for i in items if i.step.kind.value == "tool_result" and i.step.parent_ref]
    assert results
    for item in results:
        trace, text = traces[item.trace_id], item.messages[-1]["content"]
        call = next(s for s in trace.steps if s.ref == item.step.parent_ref)
        assert f"[{call.ref} tool_call]" in text
        task = next((s for s in trace.steps[: item.step.index] if s.kind.value == "user"), None)
        assert task is None or f"[{task.ref} user]" in text
    late = [i for i in items if i.step.index > 200]
    assert late and all("earlier steps not shown" in i.messages[-1]["content"] or " calls " in i.messages[-1]["content"] for i in late)


def test_earlier_steps_are_digests_and_the_layout_keeps_the_prefix_cache(long_traces):
    long = long_traces[-1]
    items = plan([long], budgeted(3000), SETTINGS, "r")
    last = items[-1].messages[-1]["content"]
    call = next(s for s in long.steps[:50] if s.kind.value == "tool_call" and s.tool_calls)
    assert digest_line(call, long) in last or "earlier steps not shown" in last
    systems = {tuple(c.id for c in i.criteria): set() for i in items}
    for i in items:
        systems[tuple(c.id for c in i.criteria)].add(i.messages[0]["content"])
    assert all(len(v) == 1 for v in systems.values())  # per set of criteria, the system message is byte-identical
    again = plan([long], budgeted(3000), SETTINGS, "r")
    assert [i.prompt_hash for i in items] == [i.prompt_hash for i in again]  # deterministic
    other = plan([long], budgeted(2500), SETTINGS, "r")
    assert [i.prompt_hash for i in items] != [i.prompt_hash for i in other]  # the digest is in the hash


def test_the_judged_step_is_whole_within_its_share_and_cut_with_a_note_beyond_it():
    small = Step(index=1, ref="1", kind="decision", text="check the cart, then send an email")
    huge = Step(index=1, ref="1", kind="decision", text="word " * 6000)
    for step, cut in ((small, False), (huge, True)):
        trace = Trace(id="t", steps=[Step(index=0, ref="0", kind="user", text="task"), step])
        (item,) = plan([trace], budgeted(1500, step_tokens=400), SETTINGS, "r")
        assert ("by chainjudge ...]" in item.messages[-1]["content"]) is cut
        assert prompt_tokens(item.messages) <= 1500


def test_a_budget_smaller_than_the_instructions_is_refused_with_why():
    trace = Trace(id="t", steps=[Step(index=0, ref="0", kind="decision", text="x")])
    wordy = RUBRIC.model_copy(
        update={
            "criteria": [c.model_copy(update={"question": c.question + " detail" * 600}) for c in RUBRIC.criteria],
            "context": ContextBudget(tokens=600),
        }
    )
    with pytest.raises(ValueError, match="too small: the instructions and criteria alone take"):
        plan([trace], wordy, SETTINGS, "r")


def test_a_rubric_declares_its_budget_in_yaml():
    rubric = parse_rubric(
        {"id": "r", "context": {"tokens": 4000, "recent_steps": 5}, "criteria": [{"id": "c", "question": "q", "applies_to": ["reasoning"]}]}
    )
    assert rubric.context == ContextBudget(tokens=4000, recent_steps=5) and rubric.context.step_share == 1333


steps_strategy = st.lists(
    st.tuples(st.sampled_from(["user", "reasoning", "tool_call", "tool_result", "message", "decision"]), st.integers(0, 3000)),
    min_size=1,
    max_size=60,
)


@given(steps_strategy, st.integers(700, 4000), st.integers(0, 6))
@settings(max_examples=60, deadline=None)
def test_any_trace_fits_any_budget(shape, tokens, recent):
    steps = []
    for i, (kind, size) in enumerate(shape):
        calls = [ToolCall(name="lookup", arguments='{"q": "' + "y" * size + '"}')] if kind == "tool_call" else []
        parent = steps[-1].ref if kind == "tool_result" and steps and steps[-1].kind.value == "tool_call" else None
        steps.append(Step(index=i, ref=f"s{i}", kind=kind, text="z " * (size // 2), tool_calls=calls, parent_ref=parent))
    items = plan([Trace(id="t", steps=steps)], budgeted(tokens, recent_steps=recent), SETTINGS, "r")
    assert all(prompt_tokens(i.messages) <= tokens for i in items)
