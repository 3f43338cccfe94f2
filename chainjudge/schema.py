"""The one schema: every model that crosses a boundary (file, LLM, database, UI) lives here.

Keeping them in one module means a change to what a trace, a rubric or a judgment *is* happens in one
place, and every adapter, judge, store and report agrees on it.  The judge model fills only `Verdict`
(rationale first, so it reasons before it labels); code adds all provenance in `Judgment`.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_serializer, field_validator, model_validator

from chainjudge.scrub import scrub


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
    repaired: bool = Field(False, description="Nothing was lost: the anomaly was repaired and the trace kept (a parent span that never arrived).")

    def __str__(self) -> str:
        return f"{self.source}: record {self.record}: {self.reason}"


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
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    question: str = Field(min_length=1)
    applies_to: list[StepKind] = Field(min_length=1)
    scale: Scale = Field(default_factory=BinaryScale)
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    examples: list[Example] = Field(default_factory=list)
    check: str | None = Field(None, description="Name of a deterministic check that judges this criterion instead of a model.")

    @model_validator(mode="after")
    def _examples_on_scale(self) -> "Criterion":
        for i, ex in enumerate(self.examples):
            if ex.label not in self.scale.labels:
                raise ValueError(f"examples[{i}].label {ex.label!r} is not on the scale {self.scale.labels}")
        return self


class Rubric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    criteria: list[Criterion] = Field(min_length=1)

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
    error_kind: str | None = Field(None, description="What kind of failure left no verdict: rate_limit, server, connection, timeout, invalid_answer, check_input, unknown_check, check_crashed ...")
    judge_kind: Literal["model", "check"] = Field("model", description="A model judge or a deterministic check.")
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
    def step_key(self) -> str:
        """How items are matched: the ref when known, else '#<index>', '' for a trace-level label."""
        if self.step_ref is not None:
            return self.step_ref
        if self.step_index is not None:
            return f"#{self.step_index}"
        return ""


class Estimate(BaseModel):
    """A figure with its 95% interval (bootstrap resampling traces, not steps) and the number of items it
    is computed over, so figures over different items are never read side by side as if comparable."""

    value: float | None
    low: float | None = None
    high: float | None = None
    n: int | None = Field(None, description="Items the figure is computed over.")


class TrustPolicy(BaseModel):
    """When a judge's verdicts on a criterion may stand in for people's.  Every rule must hold; the first
    that fails is named in `trust_basis`.  Defaults follow the issue tracker's go-live rules."""

    model_config = ConfigDict(extra="forbid")

    min_failing_labels: int = Field(10, ge=1, description="Failing reference labels needed ...")
    min_failing_traces: int = Field(5, ge=1, description="... spread over at least this many traces.")
    min_passing_labels: int = Field(10, ge=1, description="Passing reference labels needed (for TNR).")
    min_answered: float = Field(0.9, ge=0, le=1, description="Share of reference items the judge answered (errors and abstentions count against it).")
    min_tpr_low: float = Field(0.8, ge=0, le=1, description="Lower 95% bound of sensitivity on the failing class.")
    min_tnr_low: float = Field(0.8, ge=0, le=1, description="Lower 95% bound of specificity.")
    review_kappa: float = Field(0.4, description="With enough evidence but bounds below the above: 'needs review' when kappa's lower bound reaches this.")
    min_figure_items: int = Field(20, ge=1, description="Fewer items than this: a figure is shown as 'too few', not as a number.")


class Baseline(BaseModel):
    name: str
    label: str | None
    step_accuracy: float | None
    first_error_accuracy: float | None


class AgreementReport(BaseModel):
    """How far a candidate annotator (a judge, a run) agrees with a reference one on one criterion."""

    reference: str
    candidate: str
    criterion: str
    labels: list[str]
    failing: list[str]
    traces: int
    reference_items: int
    paired_items: int
    step_accuracy: Estimate
    first_error_accuracy: Estimate
    cohen_kappa: Estimate
    weighted_kappa: float | None = None
    krippendorff_alpha: float | None = None
    spearman: float | None = None
    kendall: float | None = None
    fail_precision: float | None = None
    fail_recall: float | None = None
    true_negative_rate: float | None = None
    confusion: list[list[int]] = Field(description="rows: reference label, columns: candidate label (order of `labels`)")
    baselines: list[Baseline]
    suggested_pass_threshold: int | None = Field(
        None, description="For numeric (Likert) candidate labels: the score at or above which a step should pass, "
        "chosen to maximise balanced accuracy against the reference's pass / fail")
    threshold_balanced_accuracy: float | None = None
    tpr: Estimate = Field(default_factory=lambda: Estimate(value=None), description="Sensitivity on the failing class: reference failures the candidate also failed (unanswered count as missed).")
    tnr: Estimate = Field(default_factory=lambda: Estimate(value=None), description="Specificity: reference passes the candidate also passed (unanswered count as wrong).")
    answered_share: float | None = Field(None, description="Reference items the candidate gave a label for.")
    failing_reference_labels: int = 0
    failing_reference_traces: int = 0
    trust: Literal["trusted", "needs review", "unreliable"]
    trust_rule: str = Field("", description="The rule that decided: the first that failed, or 'all rules hold'.")
    trust_basis: str


class AnnotatorAgreement(BaseModel):
    """How far two annotators (people, ground truth, adjudications) agree with each other on one criterion."""

    criterion: str
    first: str
    second: str
    items: int
    traces: int
    cohen_kappa: Estimate
    alpha_all: float | None = Field(None, description="Krippendorff's alpha across every annotator of the criterion.")


class CorrectedRate(BaseModel):
    """A criterion's failure rate in a run, raw and corrected for the judge's TPR / TNR (Rogan-Gladen)."""

    criterion: str
    raw_failure_rate: Estimate
    corrected_failure_rate: Estimate = Field(description="[0, 1] when the judge is no better than chance.")
    tpr: float | None
    tnr: float | None
    calibration_items: int
    calibration_traces: int
    run_traces: int


class ProbeResult(BaseModel):
    """How often a meaning-preserving change flipped the judge's label, on one criterion."""

    change: str
    criterion: str
    items: int
    flips: int
    errors: int
    flip_rate: Estimate


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


class SpaceDimension(BaseModel):
    field: str = Field(description="Trace metadata key holding the value (a list for multi-valued dimensions).")
    values: list[str] = Field(min_length=1)
    weights: dict[str, float] = Field(default_factory=dict, description="Weight per value (default 1).")
    adversarial: bool = False


class ScenarioSpace(BaseModel):
    id: str
    min_traces_per_cell: int = Field(1, ge=1)
    grid: list[str] = Field(min_length=1)
    dimensions: dict[str, SpaceDimension]

    @model_validator(mode="after")
    def _grid_known(self) -> "ScenarioSpace":
        unknown = [g for g in self.grid if g not in self.dimensions]
        if unknown:
            raise ValueError(f"grid names unknown dimensions {unknown}")
        return self


class ScoreTerm(BaseModel):
    name: str
    value: float = Field(description="0..1, higher is better; for an unknown term, its low end (fail closed)")
    low: float
    high: float
    weight: float
    explanation: str
    known: bool = Field(True, description="False: the evidence is missing or untrusted; the term counts at its low end.")


class GoLiveScore(BaseModel):
    score: float
    low: float
    high: float
    terms: list[ScoreTerm]

    @property
    def unknown(self) -> list[str]:
        return [t.name for t in self.terms if not t.known]


SCORE_TERMS = ("decision_accuracy", "critical_pass_rate", "judge_reliability", "coverage", "consistency", "open_failure_modes")


class GatePolicy(BaseModel):
    """What a run must show to go live.  Missing evidence never passes: a critical criterion judged by
    neither a trusted model nor a deterministic check fails the gate unless waived here by name."""

    model_config = ConfigDict(extra="forbid")

    min_score: float = 0.8
    min_high_weight_coverage: float = 0.9
    high_weight: float = 2.0
    max_critical_failures: int = 0
    no_recurring_failure_modes: bool = True
    weights: dict[str, float] = Field(default_factory=dict, description=f"Score term weights (>= 0, not all 0): {', '.join(SCORE_TERMS)}.")
    waive_untrusted: list[str] = Field(default_factory=list, description="Critical criteria allowed to go without a trusted judge (named, so it is a decision).")
    max_corrected_failure_rate: float | None = Field(None, ge=0, le=1, description="Upper 95% bound of each critical criterion's judge-error-corrected failure rate.")
    max_probe_flip_rate: float | None = Field(None, ge=0, le=1, description="Upper 95% bound of every bias probe's flip rate (needs chainjudge probe RUN).")
    trust: TrustPolicy = Field(default_factory=TrustPolicy)
    reference: list[str] = Field(default_factory=lambda: ["adjudication", "ground-truth", "human"], description="Sources of the one reference label per item, most trusted first.")

    @field_validator("weights")
    @classmethod
    def _weights_valid(cls, weights: dict[str, float]) -> dict[str, float]:
        return validate_weights(weights)


def validate_weights(weights: dict[str, float]) -> dict[str, float]:
    """Known terms, finite, >= 0 (a negative weight rewards a worse term), and not all zero."""
    import math

    unknown = sorted(set(weights) - set(SCORE_TERMS))
    if unknown:
        raise ValueError(f"unknown score terms {unknown}; known: {', '.join(SCORE_TERMS)}")
    bad = {k: v for k, v in weights.items() if not math.isfinite(v) or v < 0}
    if bad:
        raise ValueError(f"weights must be finite and >= 0; got {bad}")
    return weights


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
