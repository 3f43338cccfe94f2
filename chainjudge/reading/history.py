"""A plain conversation history: a list of {role, name?, content} (no tool-call structure).

Accepted as `{"history": [...]}` or a bare list.  Roles other than user/system are the agent's; a
`name` of a tool (or role "tool") makes a tool result.
"""

from __future__ import annotations

from chainjudge.core.schema import Step, StepKind, Trace
from chainjudge.reading.records import content_text, file_stem, small_metadata, trace_id

NAME = "history"
EXPECTS = "history: a list of {role, name, content}"
_TOOL_ROLES = {"tool", "function", "observation", "tool_result"}


def sniff(record: object) -> bool:
    return isinstance(record, dict) and isinstance(record.get("history"), list)


def parse(record: object, source: str, record_label: str) -> Trace:
    if isinstance(record, list):
        entries, envelope = record, {}
    elif isinstance(record, dict) and isinstance(record.get("history"), list):
        entries, envelope = record["history"], record
    else:
        raise ValueError("expected {history: [...]} or a list of {role, content}")
    if not entries:
        raise ValueError("history is empty")
    last_agent = max(
        (i for i, e in enumerate(entries) if isinstance(e, dict) and e.get("role") not in ("user", "system", *_TOOL_ROLES)),
        default=-1,
    )
    steps = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("role"), str):
            raise ValueError(f"history[{i}] must be an object with a string role")
        role = entry["role"]
        text = content_text(entry.get("content"))
        name = entry.get("name") if isinstance(entry.get("name"), str) else None
        if role == "system":
            kind = StepKind.system
        elif role == "user":
            kind = StepKind.user
        elif role in _TOOL_ROLES:
            kind = StepKind.tool_result
        elif role in ("thought", "reasoning", "thinking"):
            kind = StepKind.reasoning
        else:
            kind = StepKind.decision if i == last_agent else StepKind.message
        steps.append(Step(index=i, ref=str(i), kind=kind, text=text, name=name))
    return Trace(
        id=trace_id(envelope, file_stem(source), record_label),
        steps=steps,
        source=f"{source}:{record_label}",
        format=NAME,
        metadata=small_metadata(envelope, skip={"history"}),
    )
