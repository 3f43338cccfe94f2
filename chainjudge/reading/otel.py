"""OpenTelemetry traces with GenAI semantic conventions, and OpenInference spans.

Reads OTLP JSON (`resourceSpans/scopeSpans/spans`, and the legacy `batches/instrumentationLibrarySpans`
names Tempo and older exporters write; AnyValue attributes; ids hex or decimal), flat span JSON (a list
or `{"spans": [...]}` of spans with `context`/`parent`, as the Python SDK's console exporter and
any-agent write them; or one span per JSONL line), and bare attribute maps.  Message content comes from
`gen_ai.input.messages` / `gen_ai.output.messages`, the deprecated `gen_ai.prompt` / `gen_ai.completion`
(also indexed `gen_ai.prompt.N.*`), `gen_ai.tool.*`, or OpenInference's `llm.input_messages.N.message.*`,
`tool.name`, `input.value` / `output.value`.  Spans are grouped by trace id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from chainjudge.core.schema import RecordError, Trace
from chainjudge.reading.messages import Msg, decode, to_messages
from chainjudge.reading.spans import Span, build_trace

NAME = "otel"
EXPECTS = "OTLP JSON (resourceSpans / batches) or spans with gen_ai.* attributes"

_LLM_OPERATIONS = {"chat", "call_llm", "text_completion", "generate_content", "completion", "embeddings"}


# ---------------------------------------------------------------- attribute values


def any_value(value: object) -> object:
    """OTLP AnyValue -> a plain value."""
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        return int(value["intValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return {kv["key"]: any_value(kv.get("value")) for kv in (value["kvlistValue"] or {}).get("values", [])}
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes(raw: object) -> dict:
    """OTLP key/value lists, dotted maps, or nested maps (Phoenix's span export writes
    `{"llm": {"input_messages": [{"message": {...}}]}}`): always dotted keys, lists of maps indexed
    (`llm.input_messages.0.message.role`) as the OpenInference conventions name them."""
    if isinstance(raw, list):  # OTLP: [{key, value: AnyValue}]
        return {a["key"]: any_value(a.get("value")) for a in raw if isinstance(a, dict) and "key" in a}
    if not isinstance(raw, dict):
        return {}
    flat: dict = {}
    _flatten(raw, "", flat, 0)
    return flat


def _flatten(value: object, prefix: str, into: dict, depth: int) -> None:
    if isinstance(value, dict) and value and depth < 12:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), into, depth + 1)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value) and prefix and depth < 12:
        for i, item in enumerate(value):
            _flatten(item, f"{prefix}.{i}", into, depth + 1)
    elif prefix:
        into[prefix] = value


def span_id(value: object) -> str | None:
    """An id as lowercase hex.  16 or 32 hex digits are hex already, even when every digit is 0-9 (a trace
    id "1212..." used to be read as a decimal number and stored as another id); other runs of digits
    of more than 16 (Jaeger's and Zipkin's decimal uint64 ids) are decimal; anything else is kept as text."""
    if value in (None, "", 0):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return format(value, "016x" if value < 2**64 else "032x")
    text = str(value)
    if len(text) in (16, 32) and _HEX_ID.fullmatch(text):
        return text.lower()
    if text.isascii() and text.isdigit() and 16 < len(text) <= 39:
        number = int(text)
        return format(number, "016x" if number < 2**64 else "032x")
    return text.lower()


_HEX_ID = re.compile(r"[0-9a-fA-F]{16}|[0-9a-fA-F]{32}")


def _indexed(attrs: dict, prefix: str) -> list[dict]:
    """`prefix.N.rest` attributes -> a list of nested dicts, in N order."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.(.+)")
    found: dict[int, dict] = {}
    for key, value in attrs.items():
        match = pattern.fullmatch(key)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return [found[i] for i in sorted(found)]


def _openinference_messages(attrs: dict, prefix: str) -> list[Msg]:
    messages = []
    for flat in _indexed(attrs, prefix):
        role = flat.get("message.role", "assistant")
        contents = [c.get("message_content.text", "") for c in _indexed(flat, "message.contents")]
        text = flat.get("message.content") or "\n".join(c for c in contents if c)
        calls = [
            {
                "id": c.get("tool_call.id"),
                "function": {"name": c.get("tool_call.function.name"), "arguments": c.get("tool_call.function.arguments", "")},
            }
            for c in _indexed(flat, "message.tool_calls")
        ]
        messages += to_messages(
            [
                {
                    "role": role,
                    "content": text,
                    "tool_calls": calls,
                    "tool_call_id": flat.get("message.tool_call_id"),
                    "name": flat.get("message.name"),
                }
            ]
        )
    return messages


def _legacy_prompt(attrs: dict, prefix: str) -> list[Msg]:
    rows = _indexed(attrs, prefix)
    return to_messages([{"role": r.get("role"), "content": r.get("content"), "tool_call_id": r.get("tool_call_id")} for r in rows])


def interpret(attrs: dict, name: str) -> dict:
    """What a span is and what it carries, from GenAI or OpenInference attributes."""
    oi_kind = str(attrs.get("openinference.span.kind", "")).upper()
    operation = str(attrs.get("gen_ai.operation.name", "")).lower()
    if oi_kind == "LLM" or operation in _LLM_OPERATIONS or any(k.startswith(("gen_ai.prompt", "gen_ai.input.messages")) for k in attrs):
        return {"kind": "llm", "inputs": _llm_inputs(attrs), "outputs": _llm_outputs(attrs)}
    info: dict = {"inputs": [], "outputs": []}
    if oi_kind == "TOOL" or operation == "execute_tool" or "gen_ai.tool.name" in attrs or "tool.name" in attrs:
        return {**info, "kind": "tool", **_tool_call(attrs, name)}
    if oi_kind in ("AGENT", "CHAIN") or operation in ("invoke_agent", "create_agent") or "gen_ai.agent.name" in attrs:
        info["kind"] = "agent" if oi_kind != "CHAIN" else "chain"
    elif any(k.startswith(("http.", "url.", "net.", "db.", "rpc.")) for k in attrs) or re.match(
        r"^(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS)\b", name or ""
    ):
        info["kind"] = "noise"
    else:
        info["kind"] = "other" if attrs else "noise"
    return info


def _llm_inputs(attrs: dict) -> list:
    inputs = (
        to_messages(attrs.get("gen_ai.input.messages"))
        or _openinference_messages(attrs, "llm.input_messages")
        or (
            to_messages(attrs.get("gen_ai.prompt"))
            if isinstance(decode(attrs.get("gen_ai.prompt")), (list, dict))
            else _legacy_prompt(attrs, "gen_ai.prompt")
        )
    )
    if not inputs and "input.value" in attrs:
        decoded = decode(attrs["input.value"])
        inputs = to_messages(decoded.get("messages", decoded) if isinstance(decoded, dict) else decoded)
    return inputs


def _llm_outputs(attrs: dict) -> list:
    outputs = (
        to_messages(attrs.get("gen_ai.output.messages"))
        or _openinference_messages(attrs, "llm.output_messages")
        or (
            to_messages(attrs.get("gen_ai.completion"))
            if isinstance(decode(attrs.get("gen_ai.completion")), (list, dict))
            else _legacy_prompt(attrs, "gen_ai.completion")
        )
        or to_messages(attrs.get("gen_ai.output"))
        or to_messages(attrs.get("output.value"))
    )
    if not outputs and isinstance(attrs.get("gen_ai.completion"), str):
        outputs = [Msg(role="assistant", text=attrs["gen_ai.completion"])]
    return outputs


def _tool_call(attrs: dict, name: str) -> dict:
    """A tool span's name, arguments, result and call id, under whichever convention wrote them."""
    raw_args = attrs.get(
        "gen_ai.tool.call.arguments",
        attrs.get("gen_ai.tool.args", attrs.get("tool.parameters", attrs.get("input.value", attrs.get("input", "")))),
    )
    result = attrs.get("gen_ai.tool.call.result", attrs.get("gen_ai.output", attrs.get("output.value", attrs.get("output"))))
    return {
        "tool_name": attrs.get("gen_ai.tool.name") or attrs.get("tool.name") or name,
        "tool_arguments": raw_args if isinstance(raw_args, str) else str(raw_args),
        "tool_result": result if isinstance(result, str) or result is None else str(result),
        "tool_call_id": attrs.get("gen_ai.tool.call.id") or attrs.get("tool_call.id"),
    }


# ---------------------------------------------------------------- records -> spans


def _time(value: object) -> float:
    if value is None:
        return 0.0
    try:
        return float(value)  # type: ignore[arg-type]  # whatever the exporter wrote: a bad one is 0
    except (TypeError, ValueError):
        from datetime import datetime

        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1e9
        except ValueError:
            return 0.0


def _otlp_spans(document: dict) -> Iterator[tuple[str, dict, dict]]:
    """(trace id, span, resource attributes) from OTLP JSON, current or legacy names."""
    for resource_spans in document.get("resourceSpans") or document.get("batches") or []:
        resource = attributes((resource_spans.get("resource") or {}).get("attributes"))
        for scope in resource_spans.get("scopeSpans") or resource_spans.get("instrumentationLibrarySpans") or []:
            for span in scope.get("spans") or []:
                yield span_id(span.get("traceId")) or "trace", span, resource


def _flat_spans(value: object) -> list[dict]:
    if isinstance(value, dict) and isinstance(value.get("spans"), list):
        return value["spans"]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    if isinstance(value, dict):
        return [value]
    return []


def _failed(raw: dict) -> bool:
    """The span's status says error: OTLP `status.code` 2 / STATUS_CODE_ERROR, or Phoenix's `status_code`."""
    status = raw.get("status")
    code = status.get("code") if isinstance(status, dict) else raw.get("status_code")
    return code == 2 or str(code).upper() in ("ERROR", "STATUS_CODE_ERROR", "2")


def to_span(raw: dict, order: int) -> tuple[str | None, Span]:
    """One span in any of the accepted shapes -> (trace id, Span)."""
    attrs, trace, sid, parent, start, end = _ids_and_times(raw)
    if raw.get("span_kind") and "openinference.span.kind" not in attrs:  # Phoenix's export keeps the kind apart
        attrs = {**attrs, "openinference.span.kind": str(raw["span_kind"])}
    name = str(raw.get("name") or attrs.get("gen_ai.operation.name") or attrs.get("openinference.span.kind") or "span")
    info = interpret(attrs, name)
    span = Span(
        id=sid or f"span-{order}",
        parent_id=parent,
        name=name,
        kind=info["kind"],
        start=start,
        order=order,
        inputs=info["inputs"],
        outputs=info["outputs"],
        tool_name=info.get("tool_name"),
        tool_arguments=info.get("tool_arguments", ""),
        tool_result=info.get("tool_result"),
        tool_call_id=info.get("tool_call_id"),
        end=end or None,
        failed=_failed(raw),
        agent_name=(str(attrs["gen_ai.agent.name"]) if attrs.get("gen_ai.agent.name") else name if info["kind"] == "agent" else None),
        metadata={
            k: v
            for k, v in attrs.items()
            if k.startswith(("gen_ai.request.model", "gen_ai.usage", "llm.model_name")) and isinstance(v, (str, int, float))
        },
    )
    return trace, span


def _ids_and_times(raw: dict) -> tuple[dict, str | None, str | None, str | None, float, float]:
    """(attributes, trace id, span id, parent id, start, end) from an OTLP span, a flat span or a bare attribute map."""
    if "spanId" in raw or "traceId" in raw:  # OTLP span
        ids = span_id(raw.get("traceId")), span_id(raw.get("spanId")), span_id(raw.get("parentSpanId"))
        return attributes(raw.get("attributes")), *ids, _time(raw.get("startTimeUnixNano")), _time(raw.get("endTimeUnixNano"))
    if "context" in raw or "attributes" in raw:  # flat span JSON
        context = raw.get("context") or {}
        trace = span_id(context.get("trace_id") or raw.get("trace_id"))
        sid = span_id(context.get("span_id") or raw.get("span_id"))
        parent_ctx = raw.get("parent") or {}
        parent = span_id(parent_ctx.get("span_id") if isinstance(parent_ctx, dict) else parent_ctx) or span_id(raw.get("parent_id"))
        return attributes(raw.get("attributes")), trace, sid, parent, _time(raw.get("start_time")), _time(raw.get("end_time"))
    return raw, None, None, None, 0.0, 0.0  # a bare attribute map


def sniff(record: object) -> bool:
    if isinstance(record, dict) and ("resourceSpans" in record or "batches" in record):
        return True
    spans = _flat_spans(record)
    return (
        bool(spans)
        and all(
            isinstance(s, dict)
            and any(str(k).startswith(("gen_ai.", "llm.", "openinference.")) for k in attributes(s.get("attributes", s)))
            for s in spans[:20]
        )
        and not any("openinference.span.kind" in attributes(s.get("attributes", s)) or "span_kind" in s for s in spans[:20])
    )


def parse_many(records: list, source: str) -> Iterator[Trace | RecordError]:
    """All records of a file together: spans of one trace may be spread over lines."""
    by_trace: dict[str, list[Span]] = {}
    order = 0
    for label, value in records:
        try:
            if isinstance(value, dict) and ("resourceSpans" in value or "batches" in value):
                raw_spans = [(t, s) for t, s, _ in _otlp_spans(value)]
            else:
                raw_spans = [(None, s) for s in _flat_spans(value)]  # type: ignore[misc]  # no trace id outside OTLP: the span's own
            if not raw_spans:
                raise ValueError("no spans found")
            for trace_hint, raw in raw_spans:
                trace, span = to_span(raw, order)
                order += 1
                by_trace.setdefault(trace or trace_hint or f"{source}:trace", []).append(span)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            yield RecordError(source=source, record=label, reason=str(exc) or type(exc).__name__)
    for trace_id, spans in by_trace.items():
        built = build_trace(spans, trace_id, source, NAME)
        for where, what, repaired in built.problems:
            yield RecordError(source=source, record=where, reason=what, repaired=repaired)
        yield built.trace
