"""Response models the judge LLM fills, built once per set of criteria.

Each criterion gets a `Verdict` subclass whose `label` admits only that criterion's scale, and whose
`evidence` must be found in the judged step: a validator that raises makes instructor re-ask.  For
batched judging one model holds a verdict per criterion id.
"""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, ClassVar, Literal

from instructor import OpenAISchema
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model, field_validator

from chainjudge.core.schema import Criterion, LikertScale, Scale, Verdict

_SPACE = re.compile(r"\s+")
_SCALE: TypeAdapter[Any] = TypeAdapter(Scale)

# The judged step's text, for the evidence check.  A ContextVar rather than instructor's `context=`:
# that argument renders every message as a Jinja template, which would let trace content run template
# code and would alter what the judge sees.  Each judging task sets its own value.
STEP_TEXT: ContextVar[str | None] = ContextVar("chainjudge_step_text", default=None)


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


# Response models subclass instructor's OpenAISchema so instructor uses them as they are instead of
# building a wrapper model on every call (~1.3 ms of client CPU each).


_SCHEMAS: dict[type, str] = {}  # model class -> its lean JSON schema, serialised


def _lean(node: object) -> object:
    """Drop what costs prompt tokens on every call and tells the judge nothing new: titles (the property
    names say it), descriptions (the system message states each criterion, its scale and how to answer)
    and null defaults."""
    if isinstance(node, dict):
        return {k: _lean(v) for k, v in node.items() if k not in ("title", "description") and not (k == "default" and v is None)}
    if isinstance(node, list):
        return [_lean(v) for v in node]
    return node


class _Schema(OpenAISchema):
    """instructor asks for the JSON schema on every call; compute it once per model class."""

    _hidden_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        if cls not in _SCHEMAS:
            schema = super().model_json_schema()
            for name in cls._hidden_fields:
                schema.get("properties", {}).pop(name, None)
            title = schema.get("title")
            lean = _lean(schema)
            assert isinstance(lean, dict)
            _SCHEMAS[cls] = json.dumps({**lean, "title": title})  # the top-level title names the tool in TOOLS mode
        fresh: dict[str, Any] = json.loads(_SCHEMAS[cls])  # a fresh copy each time (callers may change it), faster than deepcopy
        return fresh


class _CheckedVerdict(Verdict, _Schema):
    """Verdict on one criterion."""

    @field_validator("evidence")
    @classmethod
    def _evidence_in_step(cls, value: str | None) -> str | None:
        step_text = STEP_TEXT.get()
        if not value or step_text is None:
            return value or None
        if _normal(value) not in _normal(step_text):
            raise ValueError("evidence must be an exact quote from the step; quote it exactly or leave it null")
        return value


def _label_type(scale: Scale) -> Any:
    if isinstance(scale, LikertScale):
        return Literal[tuple(range(scale.min, scale.max + 1))]
    return Literal[tuple(scale.labels)]


def _safe(name: str) -> str:
    return "c_" + re.sub(r"\W", "_", name)


class _LabelOnly(_Schema):
    """Verdict on one criterion."""

    # for judges too weak to quote reliably (the local one): no evidence field to invent
    _hidden_fields: ClassVar[tuple[str, ...]] = ("evidence", "confidence")

    rationale: str = Field(description="One or two sentences: why this label.")
    label: str
    evidence: None = Field(None, exclude=True)
    confidence: None = Field(None, exclude=True)


def _scale_name(scale: Scale) -> str:
    if isinstance(scale, LikertScale):
        return f"{scale.min}_to_{scale.max}"
    return "_or_".join(re.sub(r"\W", "_", str(label)) for label in scale.labels)[:48]


@lru_cache(maxsize=256)
def _verdict_model_for(scale_json: str, with_evidence: bool) -> type[BaseModel]:
    scale = _SCALE.validate_json(scale_json)
    return create_model(
        f"Verdict_{_scale_name(scale)}",
        __base__=_CheckedVerdict if with_evidence else _LabelOnly,
        __doc__="Verdict on one criterion.",
        label=(_label_type(scale), Field(description=scale.describe())),
    )


def verdict_model(criterion: Criterion, with_evidence: bool = True) -> type[BaseModel]:
    """The response model for one criterion.  Criteria on the same scale share one model, so a batched
    schema defines the verdict shape once, however many criteria it holds."""
    return _verdict_model_for(criterion.scale.model_dump_json(), with_evidence)


@lru_cache(maxsize=64)
def _batch_model_for(criteria_json: tuple[str, ...], with_evidence: bool) -> type[BaseModel]:
    criteria = [Criterion.model_validate_json(c) for c in criteria_json]
    fields = {_safe(c.id): (verdict_model(c, with_evidence), Field(alias=c.id, description=c.question)) for c in criteria}

    class _Batch(_Schema):
        """One verdict per criterion id."""

        model_config = ConfigDict(populate_by_name=True)

    model: type[BaseModel] = create_model("StepVerdicts", __base__=_Batch, __doc__="One verdict per criterion id.", **fields)  # type: ignore[call-overload]
    return model


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
        cid: Verdict(rationale=v.rationale, label=str(v.label), evidence=v.evidence, confidence=v.confidence) for cid, v in verdicts.items()
    }


@lru_cache(maxsize=64)
def _lenient_batch_for(criteria_json: tuple[str, ...], with_evidence: bool) -> type[BaseModel]:
    strict = _batch_model_for(criteria_json, with_evidence)
    criteria = [Criterion.model_validate_json(c) for c in criteria_json]

    class _Lenient(_Schema):
        """One verdict per criterion id."""

        model_config = ConfigDict(populate_by_name=True, extra="ignore")

        @classmethod
        def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return strict.model_json_schema(*args, **kwargs)  # the judge is asked for the strict shape

    fields = {_safe(c.id): (dict | None, Field(None, alias=c.id)) for c in criteria}
    model: type[BaseModel] = create_model("StepVerdictsLenient", __base__=_Lenient, **fields)  # type: ignore[call-overload]
    return model


def lenient_batch_model(criteria: tuple[Criterion, ...], with_evidence: bool = True) -> type[BaseModel]:
    """Accepts any object; each criterion's verdict is validated on its own afterwards, so one bad
    verdict costs a re-ask of that criterion only, not of the whole step."""
    return _lenient_batch_for(tuple(c.model_dump_json() for c in criteria), with_evidence)


def salvage(answer: BaseModel, criteria: tuple[Criterion, ...], with_evidence: bool) -> tuple[dict[str, Verdict], dict[str, str]]:
    """Valid verdicts of a lenient batched answer, and why each other criterion is missing or invalid."""
    good: dict[str, Verdict] = {}
    problems: dict[str, str] = {}
    for criterion in criteria:
        value = getattr(answer, _safe(criterion.id), None)
        if value is None:
            problems[criterion.id] = "missing"
            continue
        try:
            verdict = verdict_model(criterion, with_evidence).model_validate(value)
        except ValueError as exc:
            problems[criterion.id] = " ".join(str(exc).split())[:300]
            continue
        good.update(unpack(verdict, (criterion,)))
    return good, problems
