"""Results that cross modules: decisions against expected actions and the review queue's items (agreement and
trust: agreement.py; failure modes: modes.py; go-live: golive.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from chainjudge.core.schema.judging import Judgment, Label
from chainjudge.core.schema.traces import Trace


class Mismatch(BaseModel):
    trace_id: str
    field: str
    expected: str | None
    decided: str | None


class Rate(BaseModel):
    correct: int
    total: int
    accuracy: float
    low: float
    high: float


class DecisionReport(BaseModel):
    """Decisions against expected actions (a pack scores them; the go-live score and report read this)."""

    overall: Rate
    by: dict[str, dict[str, Rate]]
    field_accuracy: dict[str, Rate]
    mismatches: list[Mismatch]
    missing_decision: list[str]
    unknown_scenario: list[str]
    expected_source: str = Field("policy", description="Where the expected actions came from: policy (derived) or annotated (people).")


class QueueItem(BaseModel):
    """One thing a person should look at, as the review queue and app show it."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    run: str
    trace_id: str
    step_ref: str
    step_index: int
    criterion_id: str
    detail: str
    severity: str
    priority: float
    rubric_id: str | None = None
    segment: str | None = None
    mode_id: str | None = None


class ItemContext(BaseModel):
    """What the review app shows for one queue item: the trace as the run judged it, every judgment of the
    step on the criterion, the labels people gave it, and the labels a reviewer may choose from."""

    trace: Trace | None
    judgments: list[Judgment]
    labels: list[Label]
    options: list[str]
