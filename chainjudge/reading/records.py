"""Helpers shared by adapters of chat-like records: trace ids and small metadata."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from pydantic import JsonValue

# The name a file's traces are called by when their records carry no id.  `read_traces` sets it for each
# file read from a folder to the file's path inside that folder without its suffix ("subset-a/1"), so
# `A/1.json` and `B/1.json` give two ids, and the same file always gives the same id (a file given by
# itself, or at the top of the folder, keeps its bare stem).
_FILE_NAMES: ContextVar[dict[str, str] | None] = ContextVar("chainjudge_file_names", default=None)


def file_stem(source: str) -> str:
    """What ids derived from a file start with: its path inside the folder it was read from, else its stem."""
    names = _FILE_NAMES.get()
    return (names or {}).get(source) or Path(source).stem


@contextmanager
def file_named(source: str, name: str | None) -> Iterator[None]:
    """Within the block, ids derived from SOURCE start with NAME (held only around synchronous parsing,
    never across a yield, so no other reader sees it)."""
    if name is None:
        yield
        return
    token = _FILE_NAMES.set({**(_FILE_NAMES.get() or {}), source: name})
    try:
        yield
    finally:
        _FILE_NAMES.reset(token)


_ID_FIELDS = ("id", "trace_id", "record_id", "run_id")
_MAX_METADATA_CHARS = 2000


def trace_id(record: dict, source_stem: str, record_label: str) -> str:
    for field in _ID_FIELDS:
        value = record.get(field)
        if isinstance(value, (str, int)) and str(value):
            return str(value)
    if {"data_source", "query_index", "sample_index"} <= record.keys():
        # AgentProcessBench: the judges' files name records <data_source>:<query_index>:<sample_index>
        return f"{record['data_source']}:{record['query_index']}:{record['sample_index']}"
    if "task_id" in record:
        trial = record.get("trial")
        return f"{source_stem}:task-{record['task_id']}" + (f":trial-{trial}" if trial is not None else "")
    return f"{source_stem}:{record_label.replace(' ', '-')}"


def small_metadata(record: dict, skip: set[str]) -> dict[str, JsonValue]:
    """Top-level fields worth keeping beside the steps (reward, task, labels), without bulky payloads."""
    kept: dict[str, JsonValue] = {}
    for key, value in record.items():
        if key in skip:
            continue
        try:
            encoded = json.dumps(value)
        except (TypeError, ValueError):
            continue
        if len(encoded) <= _MAX_METADATA_CHARS:
            kept[key] = value
    return kept


def content_text(content: object) -> str:
    """OpenAI content: a string, None, or a list of parts ({type: text, text: ...})."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                text = part.get("text")
                if text is None and isinstance(part.get("content"), str):
                    text = part["content"]
                texts.append(str(text) if text is not None else f"[{part.get('type', 'part')}]")
        return "\n".join(texts)
    if isinstance(content, dict):
        return json.dumps(content, ensure_ascii=False)
    return str(content)
