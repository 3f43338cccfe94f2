"""Label files in: chainjudge's documented JSONL / CSV rows, and AgentProcessBench records as they are.

A documented row is `{trace_id, step_ref | step_index (none for a trace-level label), criterion, label,
annotator, kind, note?, time?}`.  A Who&When failure log (`mistake_agent`, `mistake_step`,
`mistake_reason` beside its `history`) becomes one attribution label: criterion `attribution`, on the
decisive step, valued with the responsible agent, the reason as its note.  An AgentProcessBench record
(`step_labels` keyed by assistant message
index, and `final_label`) becomes one label per step plus a trace-level `final` label; the human file and
every judge file are read unchanged.  Command-line options fill in what a file lacks (annotator, kind,
criterion) and map values (`1=correct 0=neutral -1=error`).
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from chainjudge.core.schema import REVIEW_PREFIX, Label, RecordError
from chainjudge.reading import describe_error
from chainjudge.reading.loading import iter_records, not_utf8
from chainjudge.reading.records import file_stem
from chainjudge.reading.records import trace_id as derive_trace_id

FINAL_CRITERION = "final"


@dataclass(frozen=True)
class ImportOptions:
    annotator: str | None = None
    kind: str | None = None
    criterion: str | None = None
    value_map: dict[str, str] = field(default_factory=dict)


def parse_value_map(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--map takes KEY=VALUE pairs; got {pair!r}")
        key, value = pair.split("=", 1)
        mapping[key.strip()] = value.strip()
    return mapping


def _value(raw: object, options: ImportOptions) -> str:
    text = str(raw).strip() if not isinstance(raw, float) or not raw.is_integer() else str(int(raw))
    return options.value_map.get(text, text)


def check_annotator(name: str) -> str:
    """An imported annotator's name; `review:` names are the review app's alone (its adjudications outrank
    every imported label), so a file may not claim one."""
    if unicodedata.normalize("NFKC", name).strip().casefold().startswith(REVIEW_PREFIX):
        raise ValueError(f"annotator {name!r}: names starting with {REVIEW_PREFIX!r} are written only by the review app")
    return name


def _time(raw: object) -> datetime | None:
    if not raw:
        return None
    return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))


def _from_agentprocessbench(record: dict, source: str, label: str, options: ImportOptions) -> list[Label]:
    trace = derive_trace_id(record, file_stem(source), label)
    annotator = options.annotator or record.get("annotator") or record.get("username")
    if not annotator:
        raise ValueError("no annotator in the record; pass --annotator")
    annotator = check_annotator(str(annotator))
    kind = options.kind or ("judge" if record.get("annotator") else "human")
    criterion = options.criterion or "step"
    explanations = (record.get("explanations") or {}).get("steps") or {}
    common = {"trace_id": trace, "annotator": annotator, "kind": kind, "created_at": _time(record.get("updated_at")), "source": source}
    labels = [
        Label(step_ref=str(ref), criterion=criterion, value=_value(raw, options), note=explanations.get(str(ref)), **common)
        for ref, raw in record["step_labels"].items()
        if raw is not None  # the annotator gave no label for this step: missing, not a value
    ]
    if record.get("final_label") is not None:
        final_note = (record.get("explanations") or {}).get("final")
        labels.append(Label(criterion=FINAL_CRITERION, value=_value(record["final_label"], options), note=final_note, **common))
    return labels


ATTRIBUTION = "attribution"


def _from_whowhen(record: dict, source: str, label: str, options: ImportOptions) -> Label:
    step = record.get("mistake_step")
    if step is None or not str(step).strip().lstrip("-").isdigit():
        raise ValueError(f"mistake_step {step!r} is not a step index")
    agent = record.get("mistake_agent")
    if not isinstance(agent, str) or not agent.strip():
        raise ValueError("mistake_agent is missing or empty")
    annotator = check_annotator(str(options.annotator or "who-and-when"))
    return Label(
        trace_id=derive_trace_id(record, file_stem(source), label),
        step_ref=str(int(step)),
        criterion=options.criterion or ATTRIBUTION,
        value=_value(agent.strip(), options),
        annotator=annotator,
        kind=options.kind or "human",
        note=str(record.get("mistake_reason") or "") or None,
        source=source,
    )


def _from_row(row: dict, source: str, options: ImportOptions) -> Label:
    def pick(*names):
        for name in names:
            value = row.get(name)
            if value not in (None, ""):
                return value
        return None

    value = pick("label", "value")
    if value is None:
        raise ValueError("no label (column 'label')")
    index = pick("step_index", "index")
    return Label(
        trace_id=str(pick("trace_id", "trace") or ""),
        step_ref=None if pick("step_ref", "ref") is None else str(pick("step_ref", "ref")),
        step_index=None if index is None else int(index),
        criterion=str(options.criterion or pick("criterion") or ""),
        value=_value(value, options),
        annotator=check_annotator(str(options.annotator or pick("annotator") or "")),
        kind=options.kind or pick("kind") or "human",
        note=pick("note"),
        created_at=_time(pick("time", "created_at")),
        source=source,
    )


def _csv_rows(handle, source: str, options: ImportOptions) -> Iterator[Label | RecordError]:
    reader = csv.DictReader(handle)
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        yield RecordError(source=source, record="line 1", reason=f"not CSV: {exc}")
        return
    if not_utf8(list(header)):
        yield RecordError(source=source, record="line 1", reason="the header is not UTF-8 text")
        return
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a NUL byte, an unterminated quote: this row is lost, the next is read
            yield RecordError(source=source, record=f"line {reader.line_num}", reason=f"not CSV: {exc}")
            continue
        number = reader.line_num
        bad = next((k for k, v in row.items() if not_utf8(k) or not_utf8(v)), None)
        if bad is not None:
            yield RecordError(source=source, record=f"line {number}", reason="not UTF-8 text")
            continue
        try:
            yield _from_row(row, source, options)
        except (ValueError, ValidationError, TypeError) as exc:
            yield RecordError(source=source, record=f"line {number}", reason=describe_error(exc))


def read_labels(path: str | Path, options: ImportOptions) -> Iterator[Label | RecordError]:
    source = str(path)
    if Path(path).suffix.lower() == ".csv":
        try:
            # bytes that are not UTF-8 become surrogates, so one bad row is reported and the rest still read
            handle = open(path, newline="", encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            yield RecordError(source=source, record="(file)", reason=f"cannot open: {exc.strerror or exc}")
            return
        with handle:
            yield from _csv_rows(handle, source, options)
        return
    for record in iter_records(path):
        if record.error is not None:
            yield RecordError(source=source, record=record.label, reason=record.error)
            continue
        value = record.value
        try:
            if not isinstance(value, dict):
                raise ValueError(f"expected an object, got {type(value).__name__}")
            if isinstance(value.get("step_labels"), dict):
                yield from _from_agentprocessbench(value, source, record.label, options)
            elif "mistake_agent" in value and isinstance(value.get("history"), list):
                yield _from_whowhen(value, source, record.label, options)
            else:
                yield _from_row(value, source, options)
        except (ValueError, ValidationError, TypeError) as exc:
            yield RecordError(source=source, record=record.label, reason=describe_error(exc))
