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


def not_utf8(value: object) -> bool:
    """A text (or list of texts) read with errors="surrogateescape" that held bytes that are not UTF-8."""
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, str) and any("\udc80" <= ch <= "\udcff" for ch in v) for v in values)


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
    """Records of a file.  In JSONL every line stands alone: a line that is not UTF-8, not JSON or nested
    too deeply is one error record naming its line, and the lines after it are still read.  A whole-file
    JSON document that is not UTF-8 ends in one error record naming the byte."""
    try:
        yield from _iter_records(Path(path))
    except UnicodeDecodeError as exc:
        yield Record(label=f"byte {exc.start}", error=f"not UTF-8 text ({exc.reason})")


def _loads(text: str | bytes, label: str) -> Record:
    try:
        return Record(label=label, value=json.loads(text))
    except json.JSONDecodeError as exc:
        where = label if label.startswith("line") else f"line {exc.lineno}"
        return Record(label=where, error=f"invalid JSON: {exc.msg} at column {exc.colno}")
    except RecursionError:
        return Record(label=label, error="JSON nested too deeply to read")
    except UnicodeDecodeError as exc:
        return Record(label=label, error=f"not UTF-8 text ({exc.reason} at byte {exc.start})")


def _iter_records(path: Path) -> Iterator[Record]:
    try:
        handle = path.open("rb")
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
        if path.suffix == ".jsonl" or head == b"{":
            yield from _jsonl(handle, whole_file_fallback=path.suffix != ".jsonl")
        else:
            yield from _json_document(handle.read().decode("utf-8"))


def _jsonl(handle, whole_file_fallback: bool) -> Iterator[Record]:
    records: list[Record] = []
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        record = _loads(line, f"line {number}")
        if record.error is not None and whole_file_fallback:
            # not JSONL after all: a pretty-printed single JSON document
            handle.seek(0)
            yield from _json_document(handle.read().decode("utf-8"))
            return
        if whole_file_fallback:
            records.append(record)
        else:
            yield record
    yield from records


def _json_document(text: str) -> Iterator[Record]:
    record = _loads(text, "item 0")
    if record.error is not None:
        yield record
        return
    value = record.value
    if isinstance(value, list) and not _one_document(value):
        for index, item in enumerate(value):
            yield Record(label=f"item {index}", value=item)
    else:
        yield record
