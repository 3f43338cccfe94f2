"""A plain conversation history: a list of {role, name?, content} (no tool-call structure).

Accepted as `{"history": [...]}` or a bare list.  Roles other than user/system are the agent's; a
`name` of a tool (or role "tool") makes a tool result.

Multi-agent logs (Magentic-One, Who&When) name the agent in the role: "WebSurfer", "Orchestrator
(thought)", "Orchestrator (-> WebSurfer)", "human".  Each such step keeps its agent (`agent`, with its
kind: orchestrator, worker, tool or human) and its role as written (`metadata.role`); a thought is a
reasoning step, an instruction to another agent a message to it (`metadata.to`), the human a user step.
Annotations that travel in the same file (who failed, at which step, why) are kept out of the trace's
metadata: they are labels (`labels import` reads them), never something a judge could see.
"""

from __future__ import annotations

import re
from typing import Any

from chainjudge.core.schema import Step, StepKind, Trace
from chainjudge.reading.records import content_text, file_stem, small_metadata, trace_id

NAME = "history"
EXPECTS = "history: a list of {role, name, content}"
_TOOL_ROLES = {"tool", "function", "observation", "tool_result"}
# roles of a single-agent history (one agent under any of its usual names): anything else names an agent
_STANDARD_ROLES = {"user", "human", "system", "assistant", "agent", "ai", "bot", "model", "thought", "reasoning", "thinking", *_TOOL_ROLES}
_AGENT_ROLE = re.compile(r"([A-Za-z][A-Za-z0-9_ .-]{0,60}?)\s{0,3}\((thought|-> ?[A-Za-z0-9_ .-]{1,60}|[a-z ]{1,40})\)")
ANNOTATION_KEYS = {"mistake_agent", "mistake_step", "mistake_reason", "is_corrected"}  # labels, not trace content
_ORCHESTRATORS = ("orchestrator", "manager", "planner", "supervisor", "router")
_TOOL_AGENTS = ("terminal", "executor", "computer", "code_executor")


def agent_kind(agent: str) -> str:
    lower = agent.lower()
    if lower in ("human", "user", "user_proxy", "userproxy", "admin", "customer"):
        return "human"
    if any(word in lower for word in _ORCHESTRATORS):
        return "orchestrator"
    if any(word in lower for word in _TOOL_AGENTS):
        return "tool"
    return "worker"


def _agent_step(index: int, role: str, text: str, is_last: bool) -> Step:
    """A step of a multi-agent log, its agent read from the role."""
    found = _AGENT_ROLE.fullmatch(role.strip()[:150])  # bounded pattern on a bounded string
    agent, detail = (found.group(1).strip(), found.group(2)) if found else (role.strip(), None)
    metadata: dict = {"role": role}
    if agent_kind(agent) == "human":
        kind = StepKind.user
    elif detail == "thought":
        kind = StepKind.reasoning
    elif detail and detail.startswith("->"):
        kind = StepKind.message
        metadata["to"] = detail[2:].strip()
    else:
        kind = StepKind.decision if is_last else StepKind.message
    return Step(index=index, ref=str(index), kind=kind, text=text, agent=agent, agent_kind=agent_kind(agent), metadata=metadata)


def sniff(record: object) -> bool:
    return isinstance(record, dict) and isinstance(record.get("history"), list)


def parse(record: object, source: str, record_label: str) -> Trace:
    entries, envelope = _entries(record)
    last_agent = max(
        (i for i, e in enumerate(entries) if isinstance(e, dict) and e.get("role") not in ("user", "system", *_TOOL_ROLES)),
        default=-1,
    )
    multi_agent = any(
        isinstance(e, dict) and isinstance(e.get("role"), str) and e["role"].strip().lower() not in _STANDARD_ROLES for e in entries
    )
    # AutoGen / AG2 group chats write every agent as role user or assistant with its `name`
    speakers = {
        e["name"]
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("name"), str) and e.get("name") and e.get("role") not in ("system", *_TOOL_ROLES)
    }
    group_chat = not multi_agent and len(speakers) >= 2
    steps = [_step(i, entry, len(entries), last_agent, multi_agent, group_chat) for i, entry in enumerate(entries)]
    return Trace(
        id=trace_id(envelope, file_stem(source), record_label),
        steps=steps,
        source=f"{source}:{record_label}",
        format=NAME,
        metadata=small_metadata(envelope, skip={"history", *ANNOTATION_KEYS}),
    )


def _entries(record: object) -> tuple[list[Any], dict[str, Any]]:
    """The history's entries and the object around them (empty for a bare list)."""
    if isinstance(record, list):
        entries, envelope = record, {}
    elif isinstance(record, dict) and isinstance(record.get("history"), list):
        entries, envelope = record["history"], record
    else:
        raise ValueError("expected {history: [...]} or a list of {role, content}")
    if not entries:
        raise ValueError("history is empty")
    return entries, envelope


_KIND_OF_ROLE = {
    "system": StepKind.system,
    "user": StepKind.user,
    "thought": StepKind.reasoning,
    "reasoning": StepKind.reasoning,
    "thinking": StepKind.reasoning,
    **{role: StepKind.tool_result for role in _TOOL_ROLES},
}


def _step(i: int, entry: object, count: int, last_agent: int, multi_agent: bool, group_chat: bool) -> Step:
    """One entry as a step: an agent's turn in a multi-agent log or group chat keeps its agent."""
    if not isinstance(entry, dict) or not isinstance(entry.get("role"), str):
        raise ValueError(f"history[{i}] must be an object with a string role")
    role = entry["role"]
    text = content_text(entry.get("content"))
    if multi_agent and role not in ("system", *_TOOL_ROLES):
        return _agent_step(i, role, text, i == count - 1)
    if group_chat and role not in ("system", *_TOOL_ROLES) and isinstance(entry.get("name"), str) and entry["name"]:
        return _agent_step(i, entry["name"], text, i == count - 1)  # the speaker, not "user"
    name = entry.get("name") if isinstance(entry.get("name"), str) else None
    kind = _KIND_OF_ROLE.get(role) or (StepKind.decision if i == last_agent else StepKind.message)
    return Step(index=i, ref=str(i), kind=kind, text=text, name=name)
