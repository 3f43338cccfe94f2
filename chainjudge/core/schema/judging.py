"""Judging: what the judge model fills (Verdict), what code records (Judgment), settings, runs, work items and labels."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from chainjudge.core.schema.review import REVIEW_PREFIX, JudgeKind, LabelSource, Provenance
from chainjudge.core.schema.rubrics import Criterion, Rubric
from chainjudge.core.schema.traces import Step, utc_now
from chainjudge.core.scrub import scrub

# ---------------------------------------------------------------- judging


class Verdict(BaseModel):
    """What a judge model returns for one criterion: rationale first, then the label.

    The judge path builds a subclass per criterion whose `label` only admits that criterion's scale.
    """

    rationale: str = Field(description="One or two sentences: why this label.")
    label: str
    evidence: str | None = Field(None, description="A short exact quote from the step supporting the label.")
    confidence: float | None = Field(None, ge=0, le=1)


class Usage(BaseModel):
    prompt_tokens: float = 0
    completion_tokens: float = 0
    cost_usd: float = 0


class Judgment(BaseModel):
    """One criterion judged on one step, by a model or a deterministic check, with its provenance.

    Either `verdict` or `error` is set: a failed judgment is kept as data, counted as unscored.
    """

    run: str
    trace_id: str
    step_index: int
    step_ref: str
    criterion_id: str
    verdict: Verdict | None = None
    passed: bool | None = None
    error: str | None = None
    judge: str = Field(description="The model string, or check:<name> for a deterministic check.")
    rubric_id: str
    rubric_hash: str
    prompt_hash: str
    cache_key: str
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0
    attempts: int = 1
    criteria_in_call: int = 1
    reused: bool = Field(False, description="Copied from an identical judgment already stored; no call made.")
    flags: list[str] = Field(default_factory=list, description="Why the step may be trying to steer the judge.")
    error_kind: str | None = Field(
        None,
        description="What kind of failure left no verdict: rate_limit, server, connection, timeout, invalid_answer, check_input, "
        "unknown_check, check_crashed ...",
    )
    judge_kind: JudgeKind = Field(JudgeKind.model, description="A model judge or a deterministic check.")
    aligned: str | None = Field(None, description="NAME@VERSION of the aligned judge (retrieved examples) that made it, if any.")
    label_probs: dict[str, float] | None = Field(
        None, description="Probability of each label from the answer's token log-probabilities, where the server returned them."
    )
    raw_label: str | None = Field(None, description="The judge's own label, when the aligned judge's decision threshold changed it.")
    created_at: datetime = Field(default_factory=utc_now)

    @field_validator("error")
    @classmethod
    def _no_secrets_in_errors(cls, value: str | None) -> str | None:
        return scrub(value)  # provider errors can quote the URL or key they were called with

    @property
    def scored(self) -> bool:
        return self.verdict is not None and self.error is None


class JudgeSettings(BaseModel):
    """Everything about a judge that changes its answers; part of every cache key."""

    model: str
    api_base: str | None = None
    mode: Literal["json_schema", "json", "tools", "md_json"] = "json_schema"
    batch: bool = Field(False, description="All criteria of a step in one call.")
    temperature: float = 0.0
    max_tokens: int = 400
    max_reasks: int = Field(2, description="instructor re-asks on a schema-invalid answer.")
    ask_evidence: bool = Field(True, description="Ask for an evidence quote (checked against the step).")
    sample: int = Field(0, ge=0, description="Sample number, for self-consistency runs at temperature > 0.")
    redact_pii: bool = Field(False, description="Replace PII with placeholders before prompts are built.")
    max_context_chars: int = 2000
    max_step_chars: int = 4000
    aligned: str | None = Field(None, description="NAME@VERSION of the aligned judge whose worked examples the prompts carry.")
    verifier: str | None = Field(
        None, description="NAME@VERSION of the verifier that decides first (a cascade: the model judges what it abstains on)."
    )
    label_probs: bool = Field(
        False,
        description="Ask for token log-probabilities and keep each label's probability (aligned judges: thresholds are chosen on them).",
    )
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="criterion id -> probability of failing at or above which a step fails (the aligned judge's decision thresholds; "
        "part of its version).",
    )

    @field_serializer("api_base")
    def _stored_without_credentials(self, value: str | None) -> str | None:
        return scrub(value)  # kept whole in memory (the judge needs it), written with *** for credentials


class Run(BaseModel):
    name: str
    rubric_id: str
    rubric_hash: str
    rubric: "Rubric | None" = None
    judge: JudgeSettings
    sources: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utc_now)


class WorkItem(BaseModel):
    """One judge call's worth of work: a step and the criteria to judge on it, prompt already built.

    The prompt is built at planning time because its hash is part of the cache key: work already done
    is recognised before any call is made.
    """

    run: str
    trace_id: str
    step: Step
    criteria: tuple[Criterion, ...]
    messages: list[dict[str, str]]
    prompt_hash: str
    cache_keys: dict[str, str] = Field(description="criterion id -> cache key")
    rubric_id: str
    rubric_hash: str
    flags: list[str] = Field(default_factory=list, description="Possible prompt injection found in the step.")

    def identity(self, criterion_id: str, judge: str) -> dict[str, Any]:
        """What every Judgment of this item on CRITERION_ID by JUDGE carries, whoever made it (a model, a
        verifier, a scripted judge): run, trace, step, criterion, judge, rubric version, prompt hash, cache key."""
        return {
            "run": self.run,
            "trace_id": self.trace_id,
            "step_index": self.step.index,
            "step_ref": self.step.ref,
            "criterion_id": criterion_id,
            "judge": judge,
            "rubric_id": self.rubric_id,
            "rubric_hash": self.rubric_hash,
            "prompt_hash": self.prompt_hash,
            "cache_key": self.cache_keys[criterion_id],
        }


class Label(BaseModel):
    """One label from a person, a ground truth or another judge, on a step or (without a step) a trace.

    Labels need no ingested trace: they are matched to judgments and to each other by trace id and
    step ref (or index).  Corrections are new rows; the newest row per annotator and item counts.
    """

    model_config = ConfigDict(extra="forbid")

    trace_id: str = Field(min_length=1)
    step_ref: str | None = None
    step_index: int | None = Field(None, ge=0)
    criterion: str = Field(min_length=1)
    value: str
    annotator: str = Field(min_length=1)
    kind: Literal["human", "judge", "ground-truth"] = "human"
    note: str | None = None
    created_at: datetime | None = None
    source: str | None = None

    @property
    def provenance(self) -> Provenance:
        """Where the label came from, typed: an annotator the review app wrote (`review:...`) is an
        adjudication whatever its kind; otherwise its kind says (ground truth, imported human, judge)."""
        source = LabelSource.adjudication if self.annotator.startswith(REVIEW_PREFIX) else LabelSource(self.kind)
        return Provenance(source=source, annotator=self.annotator, reference=self.source)

    @property
    def step_key(self) -> str:
        """How items are matched: the ref when known, else '#<index>', '' for a trace-level label."""
        if self.step_ref is not None:
            return self.step_ref
        if self.step_index is not None:
            return f"#{self.step_index}"
        return ""


class AlignedExample(BaseModel):
    """A labelled step of the tune split, shown to an aligned judge as a worked example."""

    criterion: str
    text: str
    label: str
    reason: str
    trace_id: str
    step_ref: str


class Threshold(BaseModel):
    """An aligned judge's decision threshold for one criterion: a step fails when the judge's probability
    of a failing label is at least `p_fail`.  Chosen on the tune split to maximise kappa, and kept only
    where it beats the judge's own labels there, also with one trace held out at a time."""

    p_fail: float = Field(ge=0, le=1)
    source: Literal["label log-probabilities", "verdict confidence"]
    tune_items: int
    kappa_as_said: float  # on tune, the judge's own labels
    kappa_at_threshold: float  # on tune, with this threshold


class AlignedJudge(BaseModel):
    """A named, versioned aligned judge: the rubric it aligns and the worked examples it retrieves from
    (the tune split's reference labels).  Its version is the hash of all of it."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    rubric_id: str
    rubric_hash: str
    k: int = Field(4, ge=1, le=16)
    examples: list[AlignedExample]
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utc_now)

    @property
    def version(self) -> str:
        import hashlib
        import json

        parts = [self.rubric_hash, self.k, [e.model_dump() for e in self.examples]]
        if self.thresholds:  # versions made before thresholds existed stay the same
            parts.append({c: t.p_fail for c, t in sorted(self.thresholds.items())})
        material = json.dumps(parts, sort_keys=True)
        return hashlib.sha256(material.encode()).hexdigest()[:12]

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"
