"""Judgments as Langfuse scores: a batch for Langfuse's ingestion API (`POST /api/public/ingestion`), one
`score-create` event per judgment keyed to the trace and, where the step is an observation, its id.
Categorical scores hold the label; the rationale is the comment.  Judgments whose trace has no Langfuse
id (read from another format) are left out and counted."""

from __future__ import annotations

import uuid

from chainjudge.core.schema import Judgment
from chainjudge.export.links import Link


def score_event(judgment: Judgment, link: Link) -> dict | None:
    if judgment.verdict is None or link.trace_id is None:
        return None
    key = uuid.uuid5(uuid.NAMESPACE_URL, f"chainjudge:{judgment.run}:{judgment.cache_key}")  # re-export = same score
    body = {
        "id": str(key),
        "traceId": link.trace_id,
        "name": judgment.criterion_id,
        "value": judgment.verdict.label,
        "dataType": "CATEGORICAL",
        "comment": judgment.verdict.rationale,
        "source": "API",
        "metadata": {"run": judgment.run, "judge": judgment.judge, "step_ref": judgment.step_ref},
    }
    if link.span_id:
        body["observationId"] = link.span_id
    return {"id": str(uuid.uuid5(key, "event")), "timestamp": judgment.created_at.isoformat(), "type": "score-create", "body": body}
