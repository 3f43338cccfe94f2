"""Trace adapters: each turns a file's records into `Trace` models.

Every adapter module exposes `NAME`, `sniff(record) -> bool` and `parse(record, source, record_label) ->
Trace` (raising `ValueError` with a reason for a bad record).  `read_traces` does the shared work once:
loading JSON or JSONL, choosing the format, turning each bad record into a `RecordError` (file, record,
reason) while the good ones still come through, and optional splitting of free text into steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from chainjudge.core.schema import RecordError, Trace
from chainjudge.core.segment import SplitMode
from chainjudge.errors import ChainjudgeError
from chainjudge.reading import conversation, langfuse, langsmith, native, openai_chat, openinference, otel
from chainjudge.reading.linear import atif, devai, openhands, swe_agent
from chainjudge.reading.loading import Record, iter_records
from chainjudge.reading.records import file_named
from chainjudge.reading.splitting import split_trace

# sniffed in this order: the most specific shapes first
ADAPTERS: dict[str, Any] = {  # modules, and the classes of the linear formats
    m.NAME: m for m in (native, otel, openinference, langfuse, langsmith, atif, swe_agent, openhands, devai, openai_chat, conversation)
}
FORMATS: tuple[str, ...] = ("auto", *ADAPTERS)  # the built-in ones; formats() adds installed plug-ins


def registry() -> dict[str, ModuleType]:
    """Installed `chainjudge.adapters` plug-ins first (they are explicit additions, sniffed before the
    generic chat shapes), then the built-in adapters."""
    from chainjudge.core.plugins import adapters

    return {**adapters(), **ADAPTERS}  # type: ignore[dict-item]


def formats() -> tuple[str, ...]:
    return ("auto", *registry())


class UnknownFormat(ChainjudgeError, ValueError):
    pass


def sniff(record: object) -> str | None:
    for name, adapter in registry().items():
        if adapter.sniff(record):
            return name
    return None


def describe_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err["loc"]) or "(record)"
            parts.append(f"{loc}: {err['msg']}")
        return "; ".join(parts)
    return str(exc) or type(exc).__name__


def read_file(
    path: str | Path, fmt: str = "auto", split: SplitMode = "none", file_name: str | None = None
) -> Iterator[Trace | RecordError]:
    """Read one file; yields a Trace per good record and a RecordError per bad one.  NAME: what ids derived
    from the file (records without an id of their own) start with, instead of the file's stem."""
    source = str(path)
    known = registry()
    if fmt != "auto" and fmt not in known:
        raise UnknownFormat(f"unknown trace format {fmt!r}; choose one of {', '.join(formats())}")
    chosen = None if fmt == "auto" else known[fmt]
    if chosen is not None and not hasattr(chosen, "parse_many"):
        yield from _read_each(iter_records(path), chosen, known, source, split, file_name)
        return
    records = list(iter_records(path))
    good = [r for r in records if r.error is None]
    if chosen is None and good:
        name = sniff(good[0].value)
        chosen = known[name] if name and hasattr(known[name], "parse_many") else None
    if chosen is None:
        yield from _read_each(iter(records), None, known, source, split, file_name)
        return
    for record in records:  # a whole-file format (spans of many traces): the records are read together
        if record.error is not None:
            yield RecordError(source=source, record=record.label, reason=record.error)
    with file_named(source, file_name):
        parsed = list(chosen.parse_many([(r.label, r.value) for r in good], source))
    for item in parsed:
        yield split_trace(item, split) if isinstance(item, Trace) and split != "none" else item


def _read_each(
    stream: Iterator, chosen: Any, known: dict[str, Any], source: str, split: SplitMode, file_name: str | None
) -> Iterator[Trace | RecordError]:
    """Record by record with one adapter (sniffed from the first good record when none was chosen)."""
    for record in stream:
        if record.error is not None:
            yield RecordError(source=source, record=record.label, reason=record.error)
            continue
        adapter = chosen
        if adapter is None:
            name = sniff(record.value)
            if name is None:
                tried = ", ".join(f"{n}: {a.EXPECTS}" for n, a in known.items())
                yield RecordError(source=source, record=record.label, reason=f"format not recognised (tried: {tried}); pass --format")
                continue
            adapter = chosen = known[name]  # one file, one format: sniff once
            if hasattr(adapter, "parse_many"):
                yield RecordError(
                    source=source, record=record.label, reason=f"{name} records must start the file; mixed formats in one file"
                )
                continue
        yield _parse_one(adapter, record, source, split, file_name)


def _parse_one(adapter: Any, record: Any, source: str, split: SplitMode, file_name: str | None) -> Trace | RecordError:
    try:
        with file_named(source, file_name):
            trace = adapter.parse(record.value, source, record.label)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return RecordError(source=source, record=record.label, reason=describe_error(exc))
    except RecursionError:
        return RecordError(source=source, record=record.label, reason="nested too deeply to read")
    return split_trace(trace, split) if split != "none" else trace


def read_traces(paths: Iterable[str | Path], fmt: str = "auto", split: SplitMode = "none") -> Iterator[Trace | RecordError]:
    """Traces of files and folders.  A file inside a folder is named by its path there ("A/1" and "B/1"),
    so files that share a stem in different subfolders never share a derived trace id."""
    for path in paths:
        path = Path(path)
        if not path.is_dir():
            yield from read_file(path, fmt, split)
            continue
        for file in sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl", ".traj")):
            yield from read_file(file, fmt, split, file_name=file.relative_to(path).with_suffix("").as_posix())


__all__ = ["ADAPTERS", "FORMATS", "Record", "formats", "read_file", "read_traces", "registry", "sniff", "UnknownFormat"]
