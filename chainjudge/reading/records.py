"""Helpers shared by adapters of chat-like records: trace ids and small metadata."""

from __future__ import annotations

import json

from pydantic import JsonValue

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
