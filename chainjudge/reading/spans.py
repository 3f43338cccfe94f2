"""A span tree (OpenTelemetry, OpenInference, Langfuse, LangSmith) -> a Trace of typed steps.

Each format adapter only turns its records into `Span`s (id, parent, time, kind, messages in/out, tool
name/arguments/result); this module does the rest once: time order, parent links kept (a parent that
never arrives, a cycle, a duplicated id is reported and repaired), transport noise dropped, messages
already shown by an earlier call not repeated, tool calls paired with their results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pydantic import JsonValue

from chainjudge.core.schema import Step, StepKind, ToolCall, Trace
from chainjudge.reading.messages import Call, Msg


@dataclass
class Span:
    id: str
    parent_id: str | None
    name: str
    kind: str  # llm | tool | agent | chain | other | noise
    start: float = 0.0
    inputs: list[Msg] = field(default_factory=list)
    outputs: list[Msg] = field(default_factory=list)
    tool_name: str | None = None
    tool_arguments: str = ""
    tool_result: str | None = None
    tool_call_id: str | None = None
    metadata: dict[str, JsonValue] = field(default_factory=dict)
    order: int = 0  # position in the file, to break ties in time
    end: float | None = None
    failed: bool = False  # the tracer recorded an error status
    agent_name: str | None = None  # an agent span's agent (gen_ai.agent.name, else the span's name)

    def timing(self) -> dict[str, JsonValue]:
        """start / end in seconds, when both are known: trajectory assertions group overlapping calls."""
        if not self.start or not self.end:
            return {}
        return {"start": self.start / 1e9, "end": self.end / 1e9}


@dataclass
class SpanTrace:
    trace: Trace
    problems: list[tuple[str, str, bool]]  # (span id, what happened, repaired with nothing lost)


def _repair(spans: list[Span]) -> tuple[list[Span], list[tuple[str, str, bool]]]:
    problems: list[tuple[str, str, bool]] = []
    unique: dict[str, Span] = {}
    for span in spans:
        if span.id in unique:
            problems.append((f"span {span.id}", "duplicated span id; kept the first", False))
            continue
        unique[span.id] = span
    for span in unique.values():
        if span.parent_id and span.parent_id not in unique:
            problems.append((f"span {span.id}", f"parent {span.parent_id} never arrived; kept at the top", True))
            span.parent_id = None
    for span in unique.values():  # break cycles: walk up, drop the link that closes a loop
        seen = {span.id}
        current = span
        while current.parent_id:
            if current.parent_id in seen:
                problems.append((f"span {current.id}", f"parent link to {current.parent_id} makes a cycle; link dropped", True))
                current.parent_id = None
                break
            seen.add(current.parent_id)
            current = unique[current.parent_id]
    return sorted(unique.values(), key=lambda s: (s.start, s.order)), problems


def _is_tool_definition(text: str) -> bool:
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return False
    return (
        isinstance(value, dict)
        and value.get("type") == "function"
        and isinstance(value.get("function"), dict)
        and "parameters" in value["function"]
    )


class _Builder:
    """Steps of one trace as the spans are walked: unique refs, tool calls waiting for their results."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.seen_messages: set[str] = set()
        self.pending: list[dict] = []  # tool calls not yet answered: {id, name, ref}, oldest first
        self.used_refs: set[str] = set()

    def add(self, ref: str, kind: StepKind, **fields) -> Step:
        base, n = ref, 1
        while ref in self.used_refs:
            n += 1
            ref = f"{base}#{n}"
        self.used_refs.add(ref)
        step = Step(index=len(self.steps), ref=ref, kind=kind, **fields)
        self.steps.append(step)
        return step

    def add_calls(self, ref: str, text: str, calls: list[Call], parent: str | None, metadata: dict | None = None) -> None:
        step = self.add(
            ref,
            StepKind.tool_call,
            text=text,
            parent_ref=parent,
            metadata=metadata or {},
            tool_calls=[ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in calls],
        )
        self.pending.extend({"id": c.id, "name": c.name, "ref": step.ref} for c in calls)

    def answer(self, call_id: str | None, name: str | None, any_open: bool) -> str | None:
        """The ref of the call this result answers (by id, else by name, else the oldest), marked answered."""
        for match in (
            lambda c: call_id is not None and c["id"] == call_id,
            lambda c: name is not None and c["name"] == name and (call_id is None or c["id"] is None),
            lambda c: any_open and call_id is None,
        ):
            for call in self.pending:
                if match(call):
                    self.pending.remove(call)
                    return call["ref"]
        return None

    def add_result(
        self,
        ref: str,
        text: str,
        name: str | None,
        call_id: str | None,
        parent: str | None,
        replayed: bool = False,
        metadata: dict | None = None,
    ) -> None:
        owner = self.answer(call_id, name, any_open=replayed)
        if replayed and owner is None:
            return  # a later call's input replays a result already recorded: not a new step
        self.add(ref, StepKind.tool_result, text=text, name=name, tool_call_id=call_id, parent_ref=owner or parent, metadata=metadata or {})

    def llm(self, span: Span) -> None:
        """An LLM span: its new input messages (earlier ones are replays), then its outputs."""
        for i, msg in enumerate(span.inputs):
            fp = msg.fingerprint()
            if fp in self.seen_messages:
                continue
            self.seen_messages.add(fp)
            ref = f"{span.id}:in{i}"
            if msg.role in ("system", "user"):
                self.add(ref, StepKind.system if msg.role == "system" else StepKind.user, text=msg.text, parent_ref=span.id)
            elif msg.role == "tool":
                if not _is_tool_definition(msg.text):  # LangChain lists the tools offered as "tool" messages
                    self.add_result(ref, msg.text, msg.name, msg.tool_call_id, span.id, replayed=True)
            elif msg.calls:
                self.add_calls(ref, msg.text, msg.calls, span.id)
            else:
                self.add(ref, StepKind.message, text=msg.text, parent_ref=span.id)
        for i, msg in enumerate(span.outputs):
            self.seen_messages.add(msg.fingerprint())
            ref = span.id if len(span.outputs) == 1 else f"{span.id}:out{i}"
            if msg.calls:
                self.add_calls(ref, msg.text, msg.calls, span.parent_id)
            elif msg.text:
                self.add(ref, StepKind.message, text=msg.text, parent_ref=span.parent_id, metadata=span.metadata)

    def tool(self, span: Span) -> None:
        name = span.tool_name or span.name
        known = any(c["id"] == span.tool_call_id if span.tool_call_id else c["name"] == name for c in self.pending)
        if not known:  # the call was not recorded by an LLM span: the tool span is both
            self.add_calls(
                f"{span.id}:call",
                "",
                [Call(name=name, arguments=span.tool_arguments, id=span.tool_call_id)],
                span.parent_id,
                metadata=span.timing(),
            )
        status = {"status": "error"} if span.failed else {}
        self.add_result(span.id, span.tool_result or "", name, span.tool_call_id, span.parent_id, metadata={**span.timing(), **status})

    def finish(self) -> list[Step]:
        """The agent's last message is its decision."""
        for step in reversed(self.steps):
            if step.kind is StepKind.message:
                self.steps[step.index] = step.model_copy(update={"kind": StepKind.decision})
                break
            if step.kind in (StepKind.tool_call, StepKind.tool_result):
                break
        return self.steps


def build_trace(spans: list[Span], trace_id: str, source: str, fmt: str, metadata: dict | None = None) -> SpanTrace:
    ordered, problems = _repair([s for s in spans if s.kind != "noise"])
    builder = _Builder()
    for span in ordered:
        if span.kind in ("agent", "chain"):
            builder.add(span.id, StepKind.structure, text=span.name, name=span.name, parent_ref=span.parent_id, metadata=span.metadata)
        elif span.kind == "llm":
            builder.llm(span)
        elif span.kind == "tool":
            builder.tool(span)
    trace = Trace(id=trace_id, steps=_with_agents(builder.finish(), ordered), source=source, format=fmt, metadata=metadata or {})
    return SpanTrace(trace=trace, problems=problems)


def _with_agents(steps: list[Step], spans: list[Span]) -> list[Step]:
    """Each step's agent: the nearest agent span above the span it came from (multi-agent traces; a trace
    without agent spans is returned unchanged)."""
    by_id = {s.id: s for s in spans}
    if not any(s.agent_name for s in spans):
        return steps
    from chainjudge.reading.conversation import agent_kind

    def agent_of(span_id: str | None) -> str | None:
        current, hops = by_id.get(span_id or ""), 0
        while current is not None and hops < 1000:  # bounded: a cycle in parent ids cannot loop forever
            if current.kind == "agent" and current.agent_name:
                return current.agent_name
            current, hops = by_id.get(current.parent_id or ""), hops + 1
        return None

    out = []
    for step in steps:
        agent = agent_of(step.ref.split("#")[0].split(":")[0]) or agent_of(step.parent_ref)
        out.append(step.model_copy(update={"agent": agent, "agent_kind": agent_kind(agent)}) if agent else step)
    return out
