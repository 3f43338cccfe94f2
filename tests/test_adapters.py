import json

import pytest
from conftest import HOTPOTQA, TAU_BENCH

from chainjudge.core.schema import RecordError, StepKind, Trace
from chainjudge.reading import UnknownFormat, read_file, read_traces


def traces_and_errors(items):
    items = list(items)
    return [i for i in items if isinstance(i, Trace)], [i for i in items if isinstance(i, RecordError)]


def test_tau_bench_file_ingests_completely():
    traces, errors = traces_and_errors(read_traces([TAU_BENCH]))
    assert errors == []
    assert len(traces) == 200
    assert len({t.id for t in traces}) == 200
    first = traces[0]
    assert first.format == "openai"
    assert first.metadata["reward"] in (0.0, 1.0) and "task_id" in first.metadata
    raw = json.loads(TAU_BENCH.read_text())
    assert [len(t.steps) for t in traces] == [len(r["traj"]) for r in raw]
    # every tool result is linked to the assistant step that called it
    for trace in traces:
        refs = {s.ref: s for s in trace.steps}
        for step in trace.steps:
            if step.kind is StepKind.tool_result:
                owner = refs[step.parent_ref]
                assert step.tool_call_id in {c.id for c in owner.tool_calls}


def test_agentprocessbench_file_ingests_with_labelled_refs():
    traces, errors = traces_and_errors(read_traces([HOTPOTQA]))
    assert errors == [] and len(traces) == 250
    labelled = 0
    for trace in traces:
        refs = {s.ref: s for s in trace.steps}
        for ref in trace.metadata["step_labels"]:
            step = refs[ref]  # the message index is the ref
            assert step.index == int(ref)
            assert step.kind in (StepKind.tool_call, StepKind.decision, StepKind.message)
            labelled += 1
    assert labelled == 734
    assert traces[0].id == "searchR1_hotpotqa:0:0"


def test_malformed_records_are_named_and_others_still_read(tmp_path):
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], "id": "ok-1"}
    bad_role = {"messages": [{"role": "user", "content": "hi"}, {"role": "robot", "content": "x"}], "id": "bad"}
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([json.dumps(good), "{not json", json.dumps(bad_role), json.dumps({**good, "id": "ok-2"})]) + "\n")
    traces, errors = traces_and_errors(read_file(path))
    assert [t.id for t in traces] == ["ok-1", "ok-2"]
    assert [(e.record, e.source) for e in errors] == [("line 2", str(path)), ("line 3", str(path))]
    assert "invalid JSON" in errors[0].reason
    assert "messages[1].role" in errors[1].reason


def test_native_round_trip_and_validation_error(tmp_path):
    trace = Trace(
        id="t1",
        steps=[
            {"index": 0, "ref": "u", "kind": "user", "text": "Should we message her?"},
            {"index": 1, "ref": "d", "kind": "decision", "text": "wait"},
        ],
    )
    path = tmp_path / "n.jsonl"
    broken = trace.model_dump(mode="json")
    broken["steps"][1]["index"] = 5
    path.write_text(trace.model_dump_json() + "\n" + json.dumps(broken) + "\n")
    traces, errors = traces_and_errors(read_file(path))
    assert traces[0].steps == trace.steps and traces[0].format == "native"
    assert errors[0].record == "line 2" and "index" in errors[0].reason


def test_history_format(tmp_path):
    path = tmp_path / "h.json"
    path.write_text(
        json.dumps(
            [
                {
                    "id": "h1",
                    "history": [
                        {"role": "user", "content": "hi"},
                        {"role": "thought", "content": "check consent"},
                        {"role": "tool", "name": "consent", "content": "opted in"},
                        {"role": "agent", "content": "send push"},
                    ],
                }
            ]
        )
    )
    (trace,), errors = traces_and_errors(read_file(path))
    assert errors == []
    assert [s.kind for s in trace.steps] == [StepKind.user, StepKind.reasoning, StepKind.tool_result, StepKind.decision]
    assert trace.steps[2].name == "consent"


def test_bare_message_list_is_one_trace(tmp_path):
    path = tmp_path / "conv.json"
    path.write_text(json.dumps([{"role": "user", "content": "a"}, {"role": "assistant", "content": [{"type": "text", "text": "b"}]}]))
    (trace,), _ = traces_and_errors(read_file(path))
    assert trace.steps[1].text == "b" and trace.steps[1].kind is StepKind.decision


def test_unrecognised_record_lists_formats_tried(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"spans": []}) + "\n")
    _, (error,) = traces_and_errors(read_file(path))
    assert "native" in error.reason and "openai" in error.reason and "history" in error.reason


def test_unknown_format_name_raises():
    with pytest.raises(UnknownFormat):
        list(read_file(TAU_BENCH, fmt="nope"))


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    _, (error,) = traces_and_errors(read_file(empty))
    assert "empty" in error.reason
    _, (error,) = traces_and_errors(read_file(tmp_path / "missing.json"))
    assert "cannot open" in error.reason


def test_split_option_keeps_refs_traceable(tmp_path):
    path = tmp_path / "s.jsonl"
    text = "1. Check suppression list.\n2. Check quiet hours.\n3. Send push."
    path.write_text(json.dumps({"id": "s", "messages": [{"role": "user", "content": "go"}, {"role": "assistant", "content": text}]}) + "\n")
    (trace,), _ = traces_and_errors(read_file(path, split="numbered"))
    assert [s.ref for s in trace.steps] == ["0", "1.1", "1.2", "1.3"]
    assert [s.index for s in trace.steps] == [0, 1, 2, 3]
    assert trace.steps[1].kind is StepKind.reasoning and trace.steps[3].kind is StepKind.decision
    assert trace.steps[2].metadata["split_from"] == "1"
