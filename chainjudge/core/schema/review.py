"""The review queue's and the labels' typed seams: what kind of disagreement an item is, the rows the store
hands the queue policy (named fields, not 8-10-tuples unpacked by position), where a label came from, and
the kinds of failure that leave a judgment without a verdict."""

from __future__ import annotations

import enum
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

REVIEW_PREFIX = "review:"  # annotators and label sources written by the review app (and nothing else)


class QueueKind(str, enum.Enum):
    """Why an item needs a person; a str, so it reads, filters and stores as its text."""

    abstained = "abstained"  # a verifier would not decide: people first
    judge_vs_human = "judge_vs_human"
    judge_vs_ground_truth = "judge_vs_ground_truth"
    panel_split = "panel_split"
    check_vs_model = "check_vs_model"
    judge_error = "judge_error"
    check_error = "check_error"
    injection = "injection"
    low_confidence = "low_confidence"

    def __str__(self) -> str:
        return self.value


class JudgeKind(str, enum.Enum):
    """Who gave a judgment: a model judge (a verifier counts as one) or a deterministic check."""

    model = "model"
    check = "check"

    def __str__(self) -> str:
        return self.value


class ErrorKind(str, enum.Enum):
    """The failures chainjudge itself names.  A judgment's `error_kind` stays free text when read (older
    stores and plug-ins may hold others); code compares against these members."""

    rate_limit = "rate_limit"
    server = "server"
    connection = "connection"
    timeout = "timeout"
    auth = "auth"
    invalid_answer = "invalid_answer"
    check_input = "check_input"
    unknown_check = "unknown_check"
    check_crashed = "check_crashed"
    abstained = "abstained"
    error = "error"

    def __str__(self) -> str:
        return self.value


class LabelSource(str, enum.Enum):
    """Where a label's authority comes from, most trusted first by default: a reviewer's adjudication in the
    app, a ground truth, an imported human label, another judge."""

    adjudication = "adjudication"
    ground_truth = "ground-truth"
    human = "human"
    judge = "judge"

    def __str__(self) -> str:
        return self.value


class Provenance(BaseModel):
    """A label's origin, typed: its source (which decides precedence), who gave it, and the reference the
    writer left (`review:ITEM` for a queue item, a file for an import, `otlp:/v1/logs` ...)."""

    model_config = ConfigDict(frozen=True)

    source: LabelSource
    annotator: str
    reference: str | None = None

    @staticmethod
    def review_reference(item_id: str) -> str:
        """The reference an adjudication of queue item ITEM_ID carries."""
        return REVIEW_PREFIX + item_id


class JudgmentSignal(NamedTuple):
    """One judgment as the queue policy reads it."""

    run: str
    trace_id: str
    step_ref: str
    step_index: int
    criterion_id: str
    label: str | None
    error: str | None
    judge_kind: str
    confidence: float | None
    flags: int | None


class LabelDisagreement(NamedTuple):
    """A judge's verdict against a person's (or a ground truth's) label on the same step and criterion."""

    run: str
    trace_id: str
    step_ref: str
    step_index: int
    criterion_id: str
    judge_label: str
    label_kind: str
    label_value: str
    annotator: str


class SplitVerdict(NamedTuple):
    """Judges (or a check and a model) that gave different labels on one step and criterion."""

    trace_id: str
    step_ref: str
    step_index: int
    criterion_id: str
    labels: str
    judges: str
    run: str
    with_check: bool


class QueueEntry(NamedTuple):
    """An item written to the queue (the store fills the facets: rubric, segment, failure mode)."""

    id: str
    kind: QueueKind
    run: str
    trace_id: str
    step_ref: str
    step_index: int
    criterion_id: str
    detail: str
    severity: str
    priority: float
