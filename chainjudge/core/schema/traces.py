"""Traces as chainjudge reads them: steps of a recorded agent run, and records an adapter could not read."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class StepKind(str, enum.Enum):
    """What a step of a trace is; rubric criteria say which kinds they apply to."""

    system = "system"  # instructions given to the agent (context, rarely judged)
    user = "user"  # what the user or the environment said (context)
    reasoning = "reasoning"  # free-text thinking of the agent
    tool_call = "tool_call"  # the agent asks a tool for something
    tool_result = "tool_result"  # what the tool answered
    decision = "decision"  # the agent's final decision / answer
    message = "message"  # an agent message to the user that is not the final decision
    structure = "structure"  # an agent / chain span kept for the tree, with no text of its own


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    name: str
    arguments: str = Field("", description="Arguments as the agent wrote them (usually a JSON string).")


AgentKind = Literal["orchestrator", "worker", "tool", "human"]


class Step(BaseModel):
    """One unit of a trace that can be judged.

    `index` is the 0-based position in the trace; `ref` is a stable pointer to where the step came from
    (a message index, a span id) so labels recorded elsewhere can point at it.
    """

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    ref: str
    kind: StepKind
    text: str = ""
    name: str | None = Field(None, description="Tool or agent name where the format has one.")
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = Field(None, description="For a tool_result: the id of the call it answers.")
    parent_ref: str | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    # who produced the step in a multi-agent trace; left out of the stored JSON when unknown, so traces
    # without agents keep their content versions
    agent: str | None = Field(None, exclude_if=lambda v: v is None, description="The agent that produced the step (multi-agent traces).")
    agent_kind: AgentKind | None = Field(None, exclude_if=lambda v: v is None, description="orchestrator, worker, tool or human.")

    def render(self) -> str:
        """The step as the judge reads it: its text, then any tool calls."""
        parts = [self.text] if self.text else []
        for call in self.tool_calls:
            parts.append(f"[tool call] {call.name}({call.arguments})")
        if self.kind is StepKind.tool_result and self.name:
            parts.insert(0, f"[result of {self.name}]")
        return "\n".join(parts)


class Trace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    steps: list[Step]
    source: str | None = Field(None, description="File (and record) the trace was read from.")
    format: str | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _indices_are_positions(self) -> "Trace":
        for position, step in enumerate(self.steps):
            if step.index != position:
                raise ValueError(f"steps[{position}].index is {step.index}; it must equal its position")
        refs = [s.ref for s in self.steps]
        if len(set(refs)) != len(refs):
            dup = next(r for r in refs if refs.count(r) > 1)
            raise ValueError(f"step ref {dup!r} appears more than once")
        return self


class RecordError(BaseModel):
    """A record an adapter could not read. Results as data: the caller reports it and goes on."""

    source: str
    record: str = Field(description="Line number, list index or id of the bad record.")
    reason: str
    repaired: bool = Field(
        False, description="Nothing was lost: the anomaly was repaired and the trace kept (a parent span that never arrived)."
    )

    def __str__(self) -> str:
        return f"{self.source}: record {self.record}: {self.reason}"
