"""Failure modes: exemplars, the catalogue (yours to version) and the regression cases made from it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from chainjudge.core.schema.rubrics import Criterion
from chainjudge.core.schema.traces import Trace


class Exemplar(BaseModel):
    """A failing step that shows what a failure mode looks like."""

    run: str
    trace_id: str
    step_ref: str
    step_index: int
    criterion_id: str
    text: str


class FailureMode(BaseModel):
    id: str = Field(pattern=r"^FM-\d{3,}$")
    name: str
    description: str = ""
    status: Literal["open", "fixed", "accepted", "merged"] = "open"
    merged_into: str | None = None
    keywords: list[str] = Field(default_factory=list)
    criteria: list[str] = Field(default_factory=list)
    segments: list[str] = Field(default_factory=list, description="Trace metadata segments it touches, when traces carry one.")
    agents: list[str] = Field(default_factory=list, description="Agents whose steps failed in it (multi-agent traces).")
    first_seen: str = Field(description="Run in which the mode first appeared.")
    last_seen: str
    counts: dict[str, int] = Field(default_factory=dict, description="Failing steps per run (recurrence).")
    exemplars: list[Exemplar] = Field(default_factory=list)
    centroid: str = Field(description="Mean embedding of its failures (float16, base64), to match new clusters.")


class Catalogue(BaseModel):
    """The failure-mode catalogue: a YAML file in the user's project, versioned with it."""

    version: int = 0
    embedding_model: str = "all-MiniLM-L6-v2"
    modes: list[FailureMode] = Field(default_factory=list)

    def mode(self, mode_id: str) -> FailureMode:
        for mode in self.modes:
            if mode.id == mode_id:
                return mode
        raise KeyError(mode_id)


class RegressionCase(BaseModel):
    """One case of the regression suite (a JSON file in the suite folder): the trace prefix up to the
    failing step, the criterion, and the label that marked the failure."""

    mode_id: str
    mode_name: str
    criterion: Criterion
    failed_label: str
    trace: Trace  # the prefix: every step up to and including the failing one
    step_ref: str
    source_run: str
