"""Judgments as OpenTelemetry GenAI evaluation events: `gen_ai.evaluation.result` log records (OTLP JSON)
carrying `gen_ai.evaluation.name` (the criterion), `.score.value` (1 pass / 0 fail, or the numeric label),
`.score.label` and `.explanation` (the rationale), parented to the judged span's trace and span ids when
the trace came from spans (the convention asks for that); `chainjudge.*` attributes keep the run, the
trace and step as chainjudge knows them, so a receiver can place an event with no span."""

from __future__ import annotations

from collections.abc import Iterable

from chainjudge.core.schema import Judgment
from chainjudge.export.links import Link

EVENT = "gen_ai.evaluation.result"


def _value(value) -> dict:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def score_value(judgment: Judgment) -> float | None:
    if judgment.passed is not None:
        return 1.0 if judgment.passed else 0.0
    try:
        return float(judgment.verdict.label) if judgment.verdict else None
    except ValueError:
        return None


def log_record(judgment: Judgment, link: Link) -> dict:
    verdict = judgment.verdict
    attributes: dict[str, str | float] = {
        "event.name": EVENT,
        "gen_ai.evaluation.name": judgment.criterion_id,
        "chainjudge.run": judgment.run,
        "chainjudge.trace_id": judgment.trace_id,
        "chainjudge.step_ref": judgment.step_ref,
        "chainjudge.judge": judgment.judge,
    }
    value = score_value(judgment)
    if value is not None:
        attributes["gen_ai.evaluation.score.value"] = value
    if verdict is not None:
        attributes["gen_ai.evaluation.score.label"] = verdict.label
        attributes["gen_ai.evaluation.explanation"] = verdict.rationale
    else:
        attributes["error.type"] = judgment.error_kind or "error"
    record = {
        "timeUnixNano": str(int(judgment.created_at.timestamp() * 1e9)),
        "eventName": EVENT,
        "severityNumber": 9,
        "severityText": "INFO",
        "attributes": [{"key": k, "value": _value(v)} for k, v in attributes.items()],
    }
    if link.otel:
        record["traceId"], record["spanId"] = link.trace_id, link.span_id
    return record


def otlp_logs(judgments: Iterable[tuple[Judgment, Link]], version: str) -> dict:
    """An OTLP/HTTP JSON logs export request (`POST /v1/logs`) holding one event per judgment."""
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "chainjudge"}}]},
                "scopeLogs": [
                    {"scope": {"name": "chainjudge", "version": version}, "logRecords": [log_record(j, link) for j, link in judgments]}
                ],
            }
        ]
    }
