"""Trajectory assertions: deterministic criteria about the tool calls of a whole trace, declared in a
rubric beside model criteria (`assert:` on a criterion).  Judged without a model by
`chainjudge.core.trajectory`; the semantics of each kind and mode are documented there and in the README."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ArgsMatch = Literal["ignore", "exact", "subset", "normalised"]


class ExpectedCall(BaseModel):
    """One call of a reference trajectory: a tool name and (optionally) its arguments."""

    model_config = ConfigDict(extra="forbid")

    tool: str = Field(min_length=1)
    args: dict[str, Any] | None = Field(None, description="Expected arguments; None: any arguments.")


class _Assertion(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolUsed(_Assertion):
    """The tool was called at least `min` (default 1) and at most `max` times; `max: 0` alone: never called."""

    kind: Literal["tool_used"]
    tool: str = Field(min_length=1)
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> "ToolUsed":
        if self.min is None:
            self.min = 0 if self.max == 0 else 1
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class ToolSequence(_Assertion):
    """The trace's calls against a reference trajectory.  strict: the same calls in the same order
    (calls made in parallel may come in any order among themselves); unordered: the same calls in any
    order; subset: every call the agent made is in the reference (nothing extra); superset: every
    reference call was made (extra calls allowed).  The reference comes from here, else from the trace
    (`reference_trajectory` in its metadata: a scenario's expected actions, or `--reference FILE`)."""

    kind: Literal["tool_sequence"]
    mode: Literal["strict", "unordered", "subset", "superset"] = "strict"
    args: ArgsMatch = "normalised"
    reference: list[ExpectedCall] | None = None
    ignore_tools: list[str] = Field(default_factory=list, description="Calls to leave out on both sides (look-ups, say).")


class ToolArgs(_Assertion):
    """Every call of `tool` has arguments that match `expected` (by `match`) and/or validate against the
    JSON schema `schema`."""

    kind: Literal["tool_args"]
    tool: str = Field(min_length=1)
    match: Literal["exact", "subset", "normalised"] = "subset"
    expected: dict[str, Any] | None = None
    json_schema: dict[str, Any] | None = Field(None, alias="schema")
    required: bool = Field(True, description="Fail when the tool was never called.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _something_to_check(self) -> "ToolArgs":
        if self.expected is None and self.json_schema is None:
            raise ValueError("tool_args needs `expected` or `schema`")
        return self


class StepCount(_Assertion):
    """The trace has between `min` and `max` steps (of the given kinds, or all)."""

    kind: Literal["step_count"]
    min: int = Field(0, ge=0)
    max: int | None = Field(None, ge=0)
    kinds: list[str] = Field(default_factory=list)


class ToolResultOk(_Assertion):
    """Judged on each tool result step: the call's result is not an error (an error status recorded by
    the tracer, or a result that opens with Error / Exception / Traceback)."""

    kind: Literal["tool_result_ok"]


Assertion = Annotated[ToolUsed | ToolSequence | ToolArgs | StepCount | ToolResultOk, Field(discriminator="kind")]
