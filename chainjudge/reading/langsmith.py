"""LangSmith run payloads: the ingest batch `{"post": [...], "patch": [...]}` (a patch completes the run
posted with the same id), a list of runs, or a run tree with `child_runs`.  `run_type` llm / tool /
chain / retriever / prompt; `inputs` / `outputs`; `parent_run_id` links."""

from __future__ import annotations

import json
from collections.abc import Iterator

import chainjudge.reading.otel as otel
from chainjudge.core.schema import RecordError, Trace
from chainjudge.reading.messages import decode, to_messages
from chainjudge.reading.spans import Span, build_trace

NAME = "langsmith"
EXPECTS = "{post, patch} run payloads, or runs with run_type / inputs / outputs"


def _runs(record: object) -> list[dict]:
    if isinstance(record, dict) and ("post" in record or "patch" in record):
        merged: dict[str, dict] = {}
        for run in (record.get("post") or []) + (record.get("patch") or []):
            if isinstance(run, dict) and run.get("id"):
                merged.setdefault(str(run["id"]), {}).update(
                    {k: v for k, v in run.items() if v not in (None, "{}", "[]") or k not in merged.get(str(run["id"]), {})}
                )
        return list(merged.values())
    if isinstance(record, dict) and "run_type" in record:
        flat, stack = [], [record]
        while stack:
            run = stack.pop()
            flat.append(run)
            for child in run.get("child_runs") or []:
                stack.append({**child, "parent_run_id": child.get("parent_run_id") or run.get("id")})
        return flat
    if isinstance(record, list):
        return [r for r in record if isinstance(r, dict) and "run_type" in r]
    return []


def sniff(record: object) -> bool:
    return bool(_runs(record))


def _span(run: dict, order: int) -> Span:
    kind = {"llm": "llm", "tool": "tool", "chain": "chain", "retriever": "tool", "prompt": "other", "parser": "other"}.get(
        str(run.get("run_type")), "other"
    )
    inputs, outputs = decode(run.get("inputs")), decode(run.get("outputs"))
    span = Span(
        id=str(run.get("id")),
        parent_id=str(run["parent_run_id"]) if run.get("parent_run_id") else None,
        name=str(run.get("name") or run.get("run_type")),
        kind=kind,
        start=otel._time(run.get("start_time")),
        order=order,
    )
    if kind == "llm":
        span.inputs = to_messages(inputs.get("messages", inputs.get("prompts")) if isinstance(inputs, dict) else inputs)
        out = outputs.get("generations", outputs) if isinstance(outputs, dict) else outputs
        span.outputs = to_messages(out)
        model = ((run.get("extra") or {}).get("metadata") or {}).get("ls_model_name")
        if model:
            span.metadata["model"] = model
    elif kind == "tool":
        span.tool_name = span.name
        span.tool_arguments = json.dumps(inputs, default=str) if not isinstance(inputs, str) else inputs
        result = outputs.get("output", outputs) if isinstance(outputs, dict) else outputs
        span.tool_result = result if isinstance(result, str) or result is None else json.dumps(result, default=str)
    return span


def parse_many(records: list, source: str) -> Iterator[Trace | RecordError]:
    by_trace: dict[str, list[Span]] = {}
    order = 0
    for label, value in records:
        runs = _runs(value)
        if not runs:
            yield RecordError(source=source, record=label, reason="no LangSmith runs found")
            continue
        for run in runs:
            by_trace.setdefault(str(run.get("trace_id") or run.get("id")), []).append(_span(run, order))
            order += 1
    for trace_id, spans in by_trace.items():
        built = build_trace(spans, trace_id, source, NAME)
        for where, what, repaired in built.problems:
            yield RecordError(source=source, record=where, reason=what, repaired=repaired)
        yield built.trace
