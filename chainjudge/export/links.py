"""Which ids of the source system a judged step points at.

Steps read from spans keep the span id as their ref (`SPAN`, or `SPAN:in0` / `SPAN:out1` / `SPAN:call` /
`SPAN#2` for several steps of one span); the trace keeps the source's trace id.  An id chainjudge
invented (a file path, `span-0`) is not linked: an exported score must point at something that exists."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chainjudge.core.schema import Judgment, Trace

SPAN_FORMATS = {"otel", "openinference", "langfuse", "langsmith"}
_HEX_TRACE = re.compile(r"[0-9a-f]{32}")
_HEX_SPAN = re.compile(r"[0-9a-f]{16}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Link:
    trace_id: str | None  # the source's trace id, when it is one
    span_id: str | None  # the judged step's span / observation id, when it is one
    otel: bool  # both ids are OpenTelemetry hex ids (OTLP can parent an event to them)


def _real(value: str) -> bool:
    return bool(_HEX_TRACE.fullmatch(value) or _HEX_SPAN.fullmatch(value) or _UUID.fullmatch(value))


def link_for(judgment: Judgment, trace: Trace | None) -> Link:
    if trace is None or trace.format not in SPAN_FORMATS:
        return Link(None, None, False)
    trace_id = trace.id.lower() if _real(trace.id.lower()) else None
    span = re.split(r"[:#]", judgment.step_ref, maxsplit=1)[0].lower()
    span_id = span if _real(span) else None
    otel = bool(trace_id and span_id and _HEX_TRACE.fullmatch(trace_id) and _HEX_SPAN.fullmatch(span_id))
    return Link(trace_id, span_id, otel)
