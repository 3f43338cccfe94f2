"""Load a trace file as a stream of records, whether it is JSONL, one JSON list, or one JSON object.

JSONL is streamed line by line so a large file never sits in memory whole; a bad line becomes a record
with an error instead of stopping the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Record:
    label: str  # "line 12" or "item 3": how a user finds it in the file
    value: object = None
    error: str | None = None


def _looks_like_message(value: object) -> bool:
    return isinstance(value, dict) and "role" in value


_SPAN_KEYS = ("spanId", "span_id", "context", "traceId")
_EVENT_KEYS = ("action", "observation")


def _one_document(items: list) -> bool:
    """A JSON list that is one trace (messages, spans, events), not a list of traces."""
    if not items or not all(isinstance(v, dict) for v in items):
        return False
    return (
        all(_looks_like_message(v) for v in items)
        or all(any(k in v for k in _SPAN_KEYS) for v in items)
        or all("source" in v and any(k in v for k in _EVENT_KEYS) for v in items)
        or all("step" in v and "agent" in v for v in items)  # a DevAI / Agent-as-a-Judge trajectory
    )


def iter_records(path: str | Path) -> Iterator[Record]:
    """Records of a file; a file that is not UTF-8 text ends in one error record naming where."""
    try:
        yield from _iter_records(Path(path))
    except UnicodeDecodeError as exc:
        yield Record(label=f"byte {exc.start}", error=f"not UTF-8 text ({exc.reason})")


def _iter_records(path: Path) -> Iterator[Record]:
    try:
        handle = path.open("r", encoding="utf-8")
    except OSError as exc:
        yield Record(label="(file)", error=f"cannot open: {exc.strerror or exc}")
        return
    with handle:
        head = handle.read(1)
        while head and head.isspace():
            head = handle.read(1)
        if not head:
            yield Record(label="(file)", error="file is empty")
            return
        handle.seek(0)
        if path.suffix == ".jsonl" or head == "{":
            yield from _jsonl(handle, whole_file_fallback=path.suffix != ".jsonl")
        else:
            yield from _json_document(handle.read())


def _jsonl(handle, whole_file_fallback: bool) -> Iterator[Record]:
    first_error: Record | None = None
    records: list[Record] = []
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            record = Record(label=f"line {number}", error=f"invalid JSON: {exc.msg} at column {exc.colno}")
            if whole_file_fallback and first_error is None:
                first_error = record
                break
            yield record
            continue
        if whole_file_fallback:
            records.append(Record(label=f"line {number}", value=value))
        else:
            yield Record(label=f"line {number}", value=value)
    if first_error is not None:
        # not JSONL after all: a pretty-printed single JSON document
        handle.seek(0)
        yield from _json_document(handle.read())
        return
    yield from records


def _json_document(text: str) -> Iterator[Record]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        yield Record(label=f"line {exc.lineno}", error=f"invalid JSON: {exc.msg} at column {exc.colno}")
        return
    if isinstance(value, list) and not _one_document(value):
        for index, item in enumerate(value):
            yield Record(label=f"item {index}", value=item)
    else:
        yield Record(label="item 0", value=value)
