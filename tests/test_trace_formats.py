"""Every real trace file in tests/data/trace-formats ingests, with tool calls paired to results;
malformed span data is reported with file and id while the rest is ingested."""

import json

import pytest
from conftest import SHARED
from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.core.schema import RecordError, StepKind, Trace
from chainjudge.reading import read_file, read_traces

FORMATS = SHARED / "trace-formats"
EXPECTED = {  # file -> (format, steps, tool calls, decision text fragment)
    "otel-genai/any-agent_OPENAI_trace.json": ("otel", 7, 2, None),
    "otel-genai/openinference-genai_otel_genai_client_span_tool_calls.json": ("otel", 4, 1, "rainy"),
    "otel-genai/openinference-genai_otel_genai_deprecated_client_span_tool_calls.json": ("otel", 4, 1, "rainy"),
    "otel-genai/openinference-genai_otel_genai_tool_execution_span.json": ("otel", 2, 1, None),
    "openinference/openinference-genai_openinference_client_span_tool_calls.json": ("openinference", 4, 1, "rainy"),
    "openinference/langfuse_openai-agents-2025-09-30.trace.json": ("langfuse", 6, 1, "sunny"),
    "langfuse/langfuse_langgraph-python-2025-08-22.trace.json": ("langfuse", 11, 1, "example.com"),
    "langsmith/langsmith-sdk_langsmith_py_wrap_openai_.json": ("langsmith", 2, 0, "Howdy"),
    "atif/atif_harbor_terminus2_timeout.json": ("atif", 7, 3, None),
    "swe-agent/sweagent_function_calling_marshmallow-1867.traj": ("swe-agent", 25, 11, "submitted"),
    "openhands/openhands_basic_gui_mode.json": ("openhands", 10, 4, "Vue.js todo application"),
}


def test_every_shared_file_is_covered():
    files = {str(p.relative_to(FORMATS)) for p in FORMATS.rglob("*") if p.is_file() and p.name != "README.md"}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_file_ingests_with_calls_paired(name):
    fmt, n_steps, n_calls, decision = EXPECTED[name]
    items = list(read_file(FORMATS / name))
    errors = [i for i in items if isinstance(i, RecordError)]
    (trace,) = [i for i in items if isinstance(i, Trace)]
    assert errors == []
    assert trace.format == fmt and len(trace.steps) == n_steps
    refs = {s.ref: s for s in trace.steps}
    calls = [s for s in trace.steps if s.kind is StepKind.tool_call]
    results = [s for s in trace.steps if s.kind is StepKind.tool_result]
    assert sum(len(s.tool_calls) for s in calls) == n_calls
    assert len(results) == n_calls  # one result per call, no replayed duplicates
    for result in results:  # every result points at the call that asked for it, which came before it
        owner = refs[result.parent_ref]
        assert owner.kind is StepKind.tool_call and owner.index < result.index
    assert [s.index for s in trace.steps] == list(range(n_steps))
    if decision:
        (final,) = [s for s in trace.steps if s.kind is StepKind.decision]
        assert decision in final.text
        assert all(s.kind is StepKind.structure for s in trace.steps[final.index + 1 :])
    # the forced format gives the same trace as sniffing
    forced = [i for i in read_file(FORMATS / name, fmt) if isinstance(i, Trace)]
    assert forced[0].steps == trace.steps


def test_otel_ids_and_parents_kept():
    (trace,) = [t for t in read_file(FORMATS / "otel-genai/any-agent_OPENAI_trace.json") if isinstance(t, Trace)]
    agent = trace.steps[0]
    assert agent.kind is StepKind.structure and "any_agent" in agent.text
    assert format(12324293800750531911, "016x") == agent.ref  # decimal ids become hex span ids
    assert all(s.parent_ref == agent.ref for s in trace.steps if s.kind is StepKind.tool_call)


def otlp(spans, legacy=False):
    scope = {"instrumentationLibrarySpans" if legacy else "scopeSpans": [{"spans": spans}]}
    return {
        "batches" if legacy else "resourceSpans": [
            {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "agent"}}]}, **scope}
        ]
    }


def span(sid, parent, name, attrs, start, trace="0af7651916cd43dd8448eb211c80319c"):
    return {
        "traceId": trace,
        "spanId": sid,
        "parentSpanId": parent,
        "name": name,
        "startTimeUnixNano": str(start),
        "attributes": [{"key": k, "value": v} for k, v in attrs.items()],
    }


S = lambda text: {"stringValue": text}  # noqa: E731

AGENT_SPANS = [
    span("a1", None, "invoke_agent crm", {"gen_ai.operation.name": S("invoke_agent"), "gen_ai.agent.name": S("crm")}, 1),
    span(
        "l1",
        "a1",
        "chat gpt-4o",
        {
            "gen_ai.operation.name": S("chat"),
            "gen_ai.input.messages": S(json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Should we message user 7?"}]}])),
            "gen_ai.output.messages": S(
                json.dumps(
                    [{"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "consent", "arguments": {"user": 7}}]}]
                )
            ),
            "gen_ai.usage.input_tokens": {"intValue": "12"},
        },
        2,
    ),
    span(
        "t1",
        "a1",
        "execute_tool consent",
        {
            "gen_ai.operation.name": S("execute_tool"),
            "gen_ai.tool.name": S("consent"),
            "gen_ai.tool.call.id": S("c1"),
            "gen_ai.tool.call.result": S("email: yes, sms: no"),
        },
        3,
    ),
    span("h1", "t1", "POST /consent", {"http.request.method": S("POST")}, 4),
    span(
        "l2",
        "a1",
        "chat gpt-4o",
        {
            "gen_ai.operation.name": S("chat"),
            "gen_ai.prompt.0.role": S("user"),
            "gen_ai.prompt.0.content": S("Should we message user 7?"),
            "gen_ai.completion.0.role": S("assistant"),
            "gen_ai.completion.0.content": S("Send email at 10:00 local time."),
        },
        5,
    ),
]


@pytest.mark.parametrize("legacy", [False, True])
def test_otlp_json_current_and_legacy_names(tmp_path, legacy):
    path = tmp_path / "otlp.json"
    path.write_text(json.dumps(otlp(AGENT_SPANS, legacy)))
    (trace,) = list(read_file(path))
    assert trace.format == "otel" and trace.id == "0af7651916cd43dd8448eb211c80319c"
    kinds = [(s.kind.value, s.ref) for s in trace.steps]
    assert kinds == [("structure", "a1"), ("user", "l1:in0"), ("tool_call", "l1"), ("tool_result", "t1"), ("decision", "l2")]
    assert trace.steps[3].parent_ref == "l1" and trace.steps[3].text == "email: yes, sms: no"
    assert "POST" not in json.dumps(trace.model_dump())  # transport noise dropped


def test_broken_span_data_is_reported_and_the_rest_ingested(tmp_path):
    spans = [
        *AGENT_SPANS,
        span("l2", "a1", "duplicate", {"gen_ai.operation.name": S("chat")}, 6),  # duplicated id
        span("o1", "never-arrives", "execute_tool x", {"gen_ai.tool.name": S("x"), "gen_ai.tool.call.result": S("r")}, 7),
        span("c1x", "c2x", "agent a", {"gen_ai.agent.name": S("a")}, 8),
        span("c2x", "c1x", "agent b", {"gen_ai.agent.name": S("b")}, 9),
    ]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(otlp(spans)))
    items = list(read_file(path))
    errors = [str(i) for i in items if isinstance(i, RecordError)]
    (trace,) = [i for i in items if isinstance(i, Trace)]
    assert any("span l2" in e and "duplicated" in e for e in errors)
    assert any("span o1" in e and "never arrived" in e for e in errors)
    assert any("cycle" in e for e in errors)
    assert all(str(path) in e for e in errors)
    assert {"a1", "l1", "t1", "l2", "o1", "c1x", "c2x"} <= {s.ref for s in trace.steps}


def test_truncated_file_and_mixed_directory(tmp_path):
    good = FORMATS / "atif/atif_harbor_terminus2_timeout.json"
    (tmp_path / "a.json").write_text(good.read_text())
    (tmp_path / "b.json").write_text(good.read_text()[:500])  # cut off
    (tmp_path / "c.jsonl").write_text(
        (FORMATS / "langsmith/langsmith-sdk_langsmith_py_wrap_openai_.json").read_text().replace("\n", "") + "\n"
    )
    items = list(read_traces([tmp_path]))
    traces = [i for i in items if isinstance(i, Trace)]
    errors = [i for i in items if isinstance(i, RecordError)]
    assert sorted(t.format for t in traces) == ["atif", "langsmith"]
    assert len(errors) == 1 and errors[0].source.endswith("b.json") and "invalid JSON" in errors[0].reason


def test_unknown_file_lists_every_format_tried(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"something": "else"}))
    (error,) = list(read_file(path))
    for name in ("native", "otel", "openinference", "langfuse", "langsmith", "atif", "swe-agent", "openhands", "openai", "history"):
        assert name in error.reason


def test_traces_show_tree_and_json():
    cli = CliRunner()
    path = FORMATS / "openhands/openhands_basic_gui_mode.json"
    result = cli.invoke(app, ["traces", "show", str(path)])
    assert result.exit_code == 0, result.output
    assert "openhands" in result.output and "tool_call ref=7 calls execute_bash" in result.output
    assert "← result of 7" in result.output
    as_json = cli.invoke(app, ["traces", "show", str(path), "--json"])
    trace = Trace.model_validate_json(as_json.stdout.splitlines()[0])
    assert len(trace.steps) == 10
