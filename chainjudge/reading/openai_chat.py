"""OpenAI chat messages with `tool_calls`, as tau-bench and AgentProcessBench record them.

A record is `{"messages": [...]}`, `{"traj": [...]}` (tau-bench runs) or a bare list of messages.  Each
message becomes one step whose `ref` is its index in that list, so labels keyed by message index (as
AgentProcessBench's `step_labels` are) point straight at it.
"""

from __future__ import annotations

import json
from typing import Any

from chainjudge.core.schema import Step, StepKind, ToolCall, Trace
from chainjudge.reading.records import content_text, file_stem, small_metadata, trace_id

NAME = "openai"
EXPECTS = "messages / traj: a list of {role, content, tool_calls}"
_MESSAGE_KEYS = ("messages", "traj", "trajectory", "conversation")


def _messages_of(record: object) -> tuple[list, dict]:
    if isinstance(record, list):
        return record, {}
    if isinstance(record, dict):
        for key in _MESSAGE_KEYS:
            if isinstance(record.get(key), list):
                return record[key], record
    raise ValueError(f"no message list (looked for {', '.join(_MESSAGE_KEYS)})")


def sniff(record: object) -> bool:
    try:
        messages, _ = _messages_of(record)
    except ValueError:
        return False
    return bool(messages) and all(isinstance(m, dict) and "role" in m for m in messages[:50])


def _tool_calls(raw: object, where: str) -> list[ToolCall]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"{where}.tool_calls must be a list")
    calls = []
    for i, call in enumerate(raw):
        if not isinstance(call, dict):
            raise ValueError(f"{where}.tool_calls[{i}] must be an object")
        fn: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else call
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}.tool_calls[{i}] has no function name")
        args = fn.get("arguments", "")
        calls.append(ToolCall(id=call.get("id"), name=name, arguments=args if isinstance(args, str) else json.dumps(args)))
    return calls


def parse(record: object, source: str, record_label: str) -> Trace:
    messages, envelope = _messages_of(record)
    if not messages:
        raise ValueError("message list is empty")
    call_owner: dict[str, str] = {}  # tool_call id -> ref of the assistant step that made it
    last_assistant = max((i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "assistant"), default=-1)
    steps = [_step(i, message, last_assistant, call_owner) for i, message in enumerate(messages)]
    return Trace(
        id=trace_id(envelope, file_stem(source), record_label),
        steps=steps,
        source=f"{source}:{record_label}",
        format=NAME,
        metadata={**small_metadata(envelope, skip=set(_MESSAGE_KEYS) | {"tools", "info"}), **_expected_actions(envelope)},
    )


def _step(i: int, message: object, last_assistant: int, call_owner: dict[str, str]) -> Step:
    """One message as a step; an assistant's tool calls are noted in CALL_OWNER so results find their call."""
    where = f"messages[{i}]"
    if not isinstance(message, dict):
        raise ValueError(f"{where} must be an object, got {type(message).__name__}")
    role = message.get("role")
    text = content_text(message.get("content"))
    ref = str(i)
    if role in ("system", "developer", "user"):
        return Step(index=i, ref=ref, kind=StepKind.user if role == "user" else StepKind.system, text=text)
    if role == "assistant":
        calls = _tool_calls(message.get("tool_calls"), where)
        if message.get("function_call"):
            calls += _tool_calls([message["function_call"]], where)
        kind = StepKind.tool_call if calls else StepKind.decision if i == last_assistant else StepKind.message
        call_owner.update({call.id: ref for call in calls if call.id})
        return Step(index=i, ref=ref, kind=kind, text=text, tool_calls=calls)
    if role in ("tool", "function", "ipython"):
        call_id = message.get("tool_call_id")
        parent = call_owner.get(call_id) if call_id else None
        return Step(
            index=i, ref=ref, kind=StepKind.tool_result, text=text, name=message.get("name"), tool_call_id=call_id, parent_ref=parent
        )
    raise ValueError(f"{where}.role is {role!r}; expected system, user, assistant or tool")


def _expected_actions(envelope: dict) -> dict:
    """tau-bench keeps the task's expected actions under info.task.actions: they are the trace's reference
    trajectory for `tool_sequence` assertions (`reference_trajectory`: [{tool, args}])."""
    info = envelope.get("info")
    task = info.get("task") if isinstance(info, dict) else None
    actions = task.get("actions") if isinstance(task, dict) else None
    if not isinstance(actions, list) or not all(isinstance(a, dict) and isinstance(a.get("name"), str) for a in actions):
        return {}
    return {
        "reference_trajectory": [
            {"tool": a["name"], "args": a.get("kwargs") if isinstance(a.get("kwargs"), dict) else None} for a in actions
        ]
    }
