"""Reference trajectories from a file keyed by trace id, for `tool_sequence` assertions
(`chainjudge judge --reference FILE`).

JSONL (or a JSON list) of `{"trace_id": ..., "calls": [{"tool": NAME, "args": {...}}, ...]}`, or one JSON
object `{trace_id: [calls]}`.  A bad record is refused with its file, line and field: a reference that
silently failed to load would turn every sequence assertion into a harness error."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from chainjudge.core.schema import Trace
from chainjudge.core.schema.assertions import ExpectedCall
from chainjudge.core.trajectory import REFERENCE_KEY
from chainjudge.errors import ChainjudgeError


class ReferenceFileError(ChainjudgeError, ValueError):
    pass


def _calls(value: object, where: str) -> list[dict]:
    if not isinstance(value, list):
        raise ReferenceFileError(f"{where}: calls must be a list of {{tool, args}}")
    calls = []
    for i, item in enumerate(value):
        try:
            calls.append(ExpectedCall.model_validate(item).model_dump(exclude_none=True))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ReferenceFileError(f"{where}: calls[{i}].{field}: {first['msg']}") from None
    return calls


def read_references(path: Path) -> dict[str, list[dict]]:
    text = path.read_text(encoding="utf-8")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict) and "trace_id" in whole:
        whole = None  # a JSONL file of one record: read it by lines
    if isinstance(whole, dict):
        return {str(k): _calls(v, f"{path}: trace {k!r}") for k, v in whole.items()}
    records = whole if isinstance(whole, list) else None
    numbered = enumerate(records, 1) if records is not None else ((n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip())
    references = {}
    for number, record in numbered:
        where = f"{path}: {'item' if records is not None else 'line'} {number}"
        if isinstance(record, str):
            try:
                record = json.loads(record)
            except json.JSONDecodeError as exc:
                raise ReferenceFileError(f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("trace_id"), str):
            raise ReferenceFileError(f"{where}: needs a string field trace_id")
        references[record["trace_id"]] = _calls(record.get("calls"), where)
    return references


def with_references(traces: list[Trace], references: dict[str, list[dict]]) -> tuple[list[Trace], int]:
    """The traces with their reference trajectory in metadata (a file's reference replaces one the trace
    carried); and how many traces got one."""
    out, matched = [], 0
    for trace in traces:
        calls = references.get(trace.id)
        if calls is None:
            out.append(trace)
            continue
        matched += 1
        out.append(trace.model_copy(update={"metadata": {**trace.metadata, REFERENCE_KEY: calls}}))
    return out, matched
