"""Judgments as Phoenix annotations: span annotations (`POST /v1/span_annotations`) for steps that are
spans, trace annotations (`POST /v1/trace_annotations`) for the rest of a trace that came from spans,
`annotator_kind` LLM for a model judge and CODE for a check or assertion."""

from __future__ import annotations

from chainjudge.core.schema import Judgment
from chainjudge.export.links import Link
from chainjudge.export.otel import score_value


def annotation(judgment: Judgment, link: Link) -> tuple[str, dict] | None:
    """("span" | "trace", annotation), or None when the judgment has no verdict or no id to point at."""
    if judgment.verdict is None or link.trace_id is None:
        return None
    result: dict[str, str | float] = {"label": judgment.verdict.label, "explanation": judgment.verdict.rationale}
    value = score_value(judgment)
    if value is not None:
        result["score"] = value
    body = {
        "name": judgment.criterion_id,
        "annotator_kind": "CODE" if judgment.judge_kind == "check" else "LLM",
        "result": result,
        "identifier": f"chainjudge:{judgment.run}",
        "metadata": {"run": judgment.run, "judge": judgment.judge, "step_ref": judgment.step_ref},
    }
    if link.span_id:
        return "span", {"span_id": link.span_id, **body}
    return "trace", {"trace_id": link.trace_id, **body}
