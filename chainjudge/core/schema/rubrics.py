"""Rubrics: criteria, their scales and examples."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chainjudge.core.schema.assertions import Assertion
from chainjudge.core.schema.traces import StepKind

# ---------------------------------------------------------------- rubrics


class BinaryScale(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["binary"] = "binary"

    @property
    def labels(self) -> list[str]:
        return ["pass", "fail"]

    def passes(self, label: str) -> bool:
        return label == "pass"

    def describe(self) -> str:
        return 'label is "pass" or "fail"'


class LikertScale(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["likert"] = "likert"
    min: int = 1
    max: int = 5
    pass_threshold: int = Field(description="Scores at or above this pass.")
    anchors: dict[int, str] = Field(default_factory=dict, description="Optional meaning of some scores.")

    @model_validator(mode="after")
    def _ordered(self) -> "LikertScale":
        if not self.min < self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        if not self.min <= self.pass_threshold <= self.max:
            raise ValueError(f"pass_threshold {self.pass_threshold} is outside {self.min}..{self.max}")
        return self

    @property
    def labels(self) -> list[str]:
        return [str(v) for v in range(self.min, self.max + 1)]

    def passes(self, label: str) -> bool:
        return int(label) >= self.pass_threshold

    def describe(self) -> str:
        anchors = "; ".join(f"{k} = {v}" for k, v in sorted(self.anchors.items()))
        text = f"label is an integer score from {self.min} to {self.max}"
        return f"{text} ({anchors})" if anchors else text


class LabelScale(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["labels"] = "labels"
    labels: list[str] = Field(min_length=2)
    failing: list[str] = Field(min_length=1, description="Labels that count as a failure.")
    meanings: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _failing_known(self) -> "LabelScale":
        unknown = [f for f in self.failing if f not in self.labels]
        if unknown:
            raise ValueError(f"failing labels {unknown} are not among labels {self.labels}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be distinct")
        return self

    def passes(self, label: str) -> bool:
        return label not in self.failing

    def describe(self) -> str:
        names = ", ".join(f'"{lab}"' + (f" ({self.meanings[lab]})" if lab in self.meanings else "") for lab in self.labels)
        return f"label is one of {names}"


Scale = Annotated[Union[BinaryScale, LikertScale, LabelScale], Field(discriminator="type")]


class Example(BaseModel):
    """A few-shot example shown to the judge."""

    model_config = ConfigDict(extra="forbid")
    step: str
    label: str
    rationale: str


class Criterion(BaseModel):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    question: str = Field(min_length=1)
    applies_to: list[StepKind] = Field(min_length=1)
    scale: Scale = Field(default_factory=BinaryScale)
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    examples: list[Example] = Field(default_factory=list)
    check: str | None = Field(None, description="Name of a deterministic check that judges this criterion instead of a model.")
    assertion: Assertion | None = Field(
        None, alias="assert", description="A trajectory assertion that judges this criterion instead of a model."
    )

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @property
    def deterministic(self) -> bool:
        """Judged without a model: a named check or a trajectory assertion."""
        return bool(self.check or self.assertion)

    @model_validator(mode="after")
    def _one_judge(self) -> "Criterion":
        if self.check and self.assertion:
            raise ValueError("a criterion has either `check` or `assert`, not both")
        return self

    @model_validator(mode="after")
    def _examples_on_scale(self) -> "Criterion":
        for i, ex in enumerate(self.examples):
            if ex.label not in self.scale.labels:
                raise ValueError(f"examples[{i}].label {ex.label!r} is not on the scale {self.scale.labels}")
        return self


class ContextBudget(BaseModel):
    """How much of a long trace the judge sees, in tokens (counted with cl100k_base, the OpenAI tokenizer
    litellm bundles; other models' tokenizers differ by some percent, so leave a margin below the window)."""

    model_config = ConfigDict(extra="forbid")

    tokens: int = Field(ge=512, description="The whole prompt: instructions, criteria, earlier steps and the judged step.")
    step_tokens: int | None = Field(
        None, ge=64, description="The judged step's own share (default: a third of tokens); beyond it the step is cut with a visible note."
    )
    recent_steps: int = Field(3, ge=0, description="Steps just before the judged one shown verbatim; earlier steps as one-line digests.")

    @property
    def step_share(self) -> int:
        return min(self.step_tokens or self.tokens // 3, self.tokens // 2)


class Rubric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    criteria: list[Criterion] = Field(min_length=1)
    context: ContextBudget | None = Field(
        None, description="A token budget for long traces; without it the judge sees the step and up to max_context_chars of earlier steps."
    )

    @field_validator("criteria")
    @classmethod
    def _unique_ids(cls, criteria: list[Criterion]) -> list[Criterion]:
        ids = [c.id for c in criteria]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"criterion ids must be unique; repeated: {dup}")
        return criteria

    def criterion(self, criterion_id: str) -> Criterion:
        for c in self.criteria:
            if c.id == criterion_id:
                return c
        raise KeyError(criterion_id)
