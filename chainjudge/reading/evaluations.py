"""OpenTelemetry GenAI evaluation events in: `gen_ai.evaluation.result` log records (from chainjudge's own
`export --format otel`, or any evaluator that follows the convention) become judge labels, so another
tool's verdicts can be compared with chainjudge's (`chainjudge labels agreement`).

The step is `chainjudge.step_ref` when the event carries it, else the span the event is parented to; the
trace is `chainjudge.trace_id`, else the event's trace id.  An event with neither is skipped and counted."""

from __future__ import annotations

from collections.abc import Iterator

from chainjudge.core.schema import Label, utc_now
from chainjudge.reading.otel import attributes

EVENT = "gen_ai.evaluation.result"


def _records(document: dict) -> Iterator[dict]:
    for resource in document.get("resourceLogs") or []:
        for scope in resource.get("scopeLogs") or []:
            yield from (r for r in scope.get("logRecords") or [] if isinstance(r, dict))


def labels_from_logs(document: dict) -> tuple[list[Label], int]:
    """(labels, events skipped).  Only evaluation events count; other log records are ignored."""
    labels, skipped = [], 0
    for record in _records(document):
        attrs = attributes(record.get("attributes"))
        if (record.get("eventName") or attrs.get("event.name")) != EVENT:
            continue
        trace_id = attrs.get("chainjudge.trace_id") or record.get("traceId")
        step_ref = attrs.get("chainjudge.step_ref") or record.get("spanId")
        name = attrs.get("gen_ai.evaluation.name")
        value = attrs.get("gen_ai.evaluation.score.label")
        if value is None and attrs.get("gen_ai.evaluation.score.value") is not None:
            value = str(attrs["gen_ai.evaluation.score.value"])
        if not (trace_id and step_ref and name and value is not None):
            skipped += 1
            continue
        evaluator = attrs.get("chainjudge.judge") or "evaluator"
        labels.append(
            Label(
                trace_id=str(trace_id),
                step_ref=str(step_ref),
                criterion=str(name),
                value=str(value),
                annotator=f"otel:{evaluator}",
                kind="judge",
                note=attrs.get("gen_ai.evaluation.explanation"),
                created_at=utc_now(),
                source="otlp:/v1/logs",
            )
        )
    return labels, skipped
