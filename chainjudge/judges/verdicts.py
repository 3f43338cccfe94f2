"""Response models the judge LLM fills, built once per set of criteria.

Each criterion gets a `Verdict` subclass whose `label` admits only that criterion's scale, and whose
`evidence` must be found in the judged step: a validator that raises makes instructor re-ask.  For
batched judging one model holds a verdict per criterion id.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator

from chainjudge.schema import Criterion, LikertScale, Verdict

_SPACE = re.compile(r"\s+")


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


class _CheckedVerdict(Verdict):
    @field_validator("evidence")
    @classmethod
    def _evidence_in_step(cls, value: str | None, info: ValidationInfo) -> str | None:
        step_text = (info.context or {}).get("step_text")
        if not value or step_text is None:
            return value or None
        if _normal(value) not in _normal(step_text):
            raise ValueError("evidence must be an exact quote from the step; quote it exactly or leave it null")
        return value


def _label_type(criterion: Criterion):
    scale = criterion.scale
    if isinstance(scale, LikertScale):
        return Literal[tuple(range(scale.min, scale.max + 1))]  # type: ignore[misc]
    return Literal[tuple(scale.labels)]  # type: ignore[misc]


def _safe(name: str) -> str:
    return "c_" + re.sub(r"\W", "_", name)


class _LabelOnly(BaseModel):
    """For judges too weak to quote reliably (the local one): no evidence field to invent."""

    rationale: str = Field(description="One or two sentences: why this label.")
    label: str
    evidence: None = Field(None, exclude=True)
    confidence: None = Field(None, exclude=True)

    @classmethod
    def model_json_schema(cls, *args, **kwargs):  # keep the excluded fields out of the schema sent
        schema = super().model_json_schema(*args, **kwargs)
        for name in ("evidence", "confidence"):
            schema.get("properties", {}).pop(name, None)
        return schema


@lru_cache(maxsize=256)
def _verdict_model_for(criterion_json: str, with_evidence: bool) -> type[BaseModel]:
    criterion = Criterion.model_validate_json(criterion_json)
    return create_model(
        f"Verdict_{_safe(criterion.id)}",
        __base__=_CheckedVerdict if with_evidence else _LabelOnly,
        label=(_label_type(criterion), Field(description=criterion.scale.describe())),
    )


def verdict_model(criterion: Criterion, with_evidence: bool = True) -> type[BaseModel]:
    return _verdict_model_for(criterion.model_dump_json(), with_evidence)


@lru_cache(maxsize=64)
def _batch_model_for(criteria_json: tuple[str, ...], with_evidence: bool) -> type[BaseModel]:
    criteria = [Criterion.model_validate_json(c) for c in criteria_json]
    fields = {
        _safe(c.id): (verdict_model(c, with_evidence), Field(alias=c.id, description=c.question)) for c in criteria
    }
    return create_model(
        "StepVerdicts", __config__=ConfigDict(populate_by_name=True), **fields  # type: ignore[call-overload]
    )


def batch_model(criteria: tuple[Criterion, ...], with_evidence: bool = True) -> type[BaseModel]:
    """One response holding a verdict per criterion, keyed by criterion id."""
    return _batch_model_for(tuple(c.model_dump_json() for c in criteria), with_evidence)


def unpack(answer: BaseModel, criteria: tuple[Criterion, ...]) -> dict[str, Verdict]:
    """Criterion id -> plain Verdict (label normalised to text) from a single or batched answer."""
    if isinstance(answer, (Verdict, _LabelOnly)):
        verdicts = {criteria[0].id: answer}
    else:
        verdicts = {c.id: getattr(answer, _safe(c.id)) for c in criteria}
    return {
        cid: Verdict(rationale=v.rationale, label=str(v.label), evidence=v.evidence, confidence=v.confidence)
        for cid, v in verdicts.items()
    }
