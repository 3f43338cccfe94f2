"""Langfuse trace exports: `{"trace": {...}, "observations": [...]}` with observations of type SPAN,
GENERATION, EVENT, TOOL, AGENT ... linked by `parentObservationId`.  Values are often strings holding
JSON or Python reprs; OpenInference attributes inside `metadata` are used when present."""

from __future__ import annotations

import json
from collections.abc import Iterator

import chainjudge.reading.otel as otel
from chainjudge.core.schema import RecordError, Trace
from chainjudge.reading.messages import decode, to_messages
from chainjudge.reading.spans import Span, build_trace

NAME = "langfuse"
EXPECTS = "{trace, observations: [{type, parentObservationId, input, output}]}"


def sniff(record: object) -> bool:
    return isinstance(record, dict) and isinstance(record.get("observations"), list)


def _as_tool(span: Span, raw: dict, tool_name: str) -> None:
    """The observation's input and output as a tool call's arguments and result (JSON for anything not text)."""
    span.tool_name = tool_name
    arguments = decode(raw.get("input"))
    span.tool_arguments = arguments if isinstance(arguments, str) else json.dumps(arguments, default=str) if arguments is not None else ""
    result = decode(raw.get("output"))
    span.tool_result = result if isinstance(result, str) or result is None else json.dumps(result, default=str)


def _observation(raw: dict, order: int) -> Span:
    kind_map = {"GENERATION": "llm", "TOOL": "tool", "AGENT": "agent", "CHAIN": "chain", "SPAN": "other", "EVENT": "other"}
    metadata = decode(raw.get("metadata"))
    attrs = otel.attributes((metadata or {}).get("attributes")) if isinstance(metadata, dict) else {}
    name = str(raw.get("name") or raw.get("type") or "observation")
    kind = kind_map.get(str(raw.get("type", "")).upper(), "other")
    inputs, outputs = to_messages(raw.get("input")), to_messages(raw.get("output"))
    span = Span(
        id=str(raw.get("id")),
        parent_id=None if decode(raw.get("parentObservationId")) is None else str(raw["parentObservationId"]),
        name=name,
        kind=kind,
        start=otel._time(raw.get("startTime")),
        order=order,
    )
    if attrs:  # OpenInference inside Langfuse: its attributes say more than the observation type
        info = otel.interpret(attrs, name)
        if info["kind"] not in ("other", "noise"):
            span.kind = info["kind"]
    if span.kind == "agent":  # Langfuse's AGENT observation: every step under it is that agent's
        span.agent_name = str(attrs.get("gen_ai.agent.name") or name)
    if span.kind == "llm":
        span.inputs, span.outputs = inputs, outputs
        model = decode(raw.get("model"))
        if model:
            span.metadata["model"] = str(model)
    elif span.kind == "tool":
        _as_tool(span, raw, attrs.get("tool.name") or name)
    elif span.kind == "other":
        # LangGraph tool nodes are plain SPANs: a span whose input is tool-call arguments and whose output
        # is a result is a tool when an LLM asked for a tool of that name
        _as_tool(span, raw, name)
    return span


def parse_many(records: list, source: str) -> Iterator[Trace | RecordError]:
    for label, value in records:
        if not sniff(value):
            yield RecordError(source=source, record=label, reason="not a Langfuse export (no observations list)")
            continue
        trace_info = value.get("trace") if isinstance(value.get("trace"), dict) else {}
        spans = [_observation(o, i) for i, o in enumerate(value["observations"]) if isinstance(o, dict) and o.get("id")]
        called = {c.name for s in spans if s.kind == "llm" for m in s.outputs for c in m.calls}
        for span in spans:
            if span.kind == "other":
                span.kind = "tool" if span.name in called else "chain"
        trace_id = str(trace_info.get("id") or (value["observations"][0].get("traceId") if value["observations"] else label))
        built = build_trace(
            spans,
            trace_id,
            f"{source}:{label}",
            NAME,
            metadata={k: v for k, v in trace_info.items() if k in ("name", "userId", "sessionId") and isinstance(v, str)},
        )
        for where, what, repaired in built.problems:
            yield RecordError(source=source, record=where, reason=what, repaired=repaired)
        yield built.trace
