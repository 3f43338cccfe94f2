"""Results that cross modules: agreement and trust, corrected rates, probes, decisions, failure modes, coverage and the go-live score, the review queue."""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chainjudge.core.schema.judging import Judgment, Label
from chainjudge.core.schema.rubrics import Criterion
from chainjudge.core.schema.traces import Trace


class TrustStatus(str, enum.Enum):
    """How far a judge of a criterion may be trusted; a str, so it reads and serialises as its text."""

    trusted = "trusted"
    needs_review = "needs review"
    unreliable = "unreliable"
    unknown = "unknown"

    def __str__(self) -> str:
        return self.value


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
    review_kappa: float = Field(0.4, ge=-1, le=1, allow_inf_nan=False, description="With enough evidence but bounds below the above: 'needs review' when kappa's lower bound reaches this.")
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
    trust: TrustStatus
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
    ppi_failure_rate: Estimate | None = Field(None, description="Prediction-powered: the judge's rate on every run item, "
                                              "rectified by people's labels on the labelled items (Angelopoulos et al., 2023).")
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
    expected_source: str = Field("policy", description="Where the expected actions came from: policy (derived) or annotated (people).")


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

    # every number bounded and finite: NaN compares false with everything, so `min_score: .nan` used to pass
    min_score: float = Field(0.8, ge=0, le=1, allow_inf_nan=False)
    min_high_weight_coverage: float = Field(0.9, ge=0, le=1, allow_inf_nan=False)
    high_weight: float = Field(2.0, gt=0, le=1e6, allow_inf_nan=False)
    max_critical_failures: int = Field(0, ge=0)
    no_recurring_failure_modes: bool = True
    weights: dict[str, float] = Field(default_factory=dict, description=f"Score term weights (>= 0, not all 0): {', '.join(SCORE_TERMS)}.")
    waive_untrusted: list[str] = Field(default_factory=list, description="Critical criteria allowed to go without a trusted judge (named, so it is a decision).")
    max_corrected_failure_rate: float | None = Field(None, ge=0, le=1, description="Upper 95% bound of each critical criterion's judge-error-corrected failure rate.")
    max_probe_flip_rate: float | None = Field(None, ge=0, le=1, description="Upper 95% bound of every bias probe's flip rate (needs chainjudge probe RUN).")
    trust: TrustPolicy = Field(default_factory=TrustPolicy)
    reference: list[str] = Field(default_factory=lambda: ["adjudication", "ground-truth", "human"], description="Sources of the one reference label per item, most trusted first.")
    # guardrails from logged history (chainjudge ope --out FILE; the gate's --ope-value / --ope-unsubscribe)
    ope_estimator: Literal["dr", "switch-dr", "snips", "ips", "dm"] = Field("dr", description="The off-policy estimator the guardrails read.")
    min_value_ratio: float | None = Field(None, gt=0, le=100, allow_inf_nan=False, description="Lower 95% bound of the agent's estimated value over the logged policy's (e.g. conversions), from gate --ope-value.")
    max_unsubscribe_delta: float | None = Field(None, ge=-1, le=1, allow_inf_nan=False, description="Upper 95% bound of the agent's estimated unsubscribe (or complaint) rate minus the logged policy's, from gate --ope-unsubscribe.")

    @field_validator("weights")
    @classmethod
    def _weights_valid(cls, weights: dict[str, float]) -> dict[str, float]:
        return validate_weights(weights)


MAX_WEIGHT = 1e6  # weights are relative; a bound keeps their sum (and the score) finite


def validate_weights(weights: dict[str, float]) -> dict[str, float]:
    """Known terms, finite, >= 0 (a negative weight rewards a worse term), and not all zero."""
    import math

    unknown = sorted(set(weights) - set(SCORE_TERMS))
    if unknown:
        raise ValueError(f"unknown score terms {unknown}; known: {', '.join(SCORE_TERMS)}")
    bad = {k: v for k, v in weights.items() if not math.isfinite(v) or not 0 <= v <= MAX_WEIGHT}
    if bad:
        raise ValueError(f"weights must be finite, >= 0 and <= {MAX_WEIGHT:g} (their sum must stay finite); got {bad}")
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


class CriterionRow(BaseModel):
    """One criterion of a run as the go-live evidence shows it: its counts, its trust status (typed: what
    code decides on) and the trust text people read (why, and on how many items)."""

    criterion: str
    severity: str = "medium"
    judged: int = 0
    passed: int = 0
    scored: int = 0
    trust: str = "untrusted"
    status: TrustStatus = TrustStatus.unknown
    deterministic: bool = False

    @property
    def checked(self) -> bool:
        return self.deterministic

    @property
    def trusted(self) -> bool:
        return self.status is TrustStatus.trusted


class OpenMode(BaseModel):
    """A failure mode of the catalogue still open, with its worst criterion's severity and its count in the run."""

    id: str
    name: str
    severity: str
    count: int = 0
    exemplar: str = ""


class Coverage(BaseModel):
    """How much of the scenario space has passing evidence: per cell the evaluated traces in it, shares of
    cells with enough of them (plain and weighted), the heaviest empty cells and untested edge cases."""

    cells: dict[tuple[str, ...], int]
    covered: float
    weighted: float
    empty_heaviest: list[tuple[tuple[str, ...], float]]
    open_edge_cases: list[str]
    high_weight_coverage: float
    by_origin: dict[str, dict[tuple[str, ...], int]] = Field(default_factory=dict, description="Per origin of the states (generated, imported): traces per cell.")


class CriticalEvidence(BaseModel):
    """Critical criteria of a run: scored items from trusted sources, items whose judge is untrusted, and
    items of trusted criteria that have no verdict (a verifier abstained, the judge errored): unknown, so
    counted as failing at the low end until people label them."""

    model_config = ConfigDict(frozen=True)

    passed: int = 0
    total: int = 0
    untrusted_items: int = 0
    unscored_items: int = 0
    untrusted: tuple[str, ...] = ()
    criteria: int = 0


class AgentRow(BaseModel):
    """One agent of a multi-agent run: its judged steps and how often they failed (Wilson 95% interval)."""

    agent: str
    kind: str | None = None
    judged: int
    failed: int
    failure_rate: Estimate


class SampledCell(BaseModel):
    cell: str
    traces: int
    failed: int
    weight: float = Field(description="Mean importance weight p/q of its traces (below 1: oversampled).")


class SamplingNote(BaseModel):
    """How a run's traces were drawn when a failure-seeking search drew them: its unweighted rates
    over-represent the cells it sought, so the report states both and where it looked."""

    traces: int
    searched: int = Field(description="Traces drawn by the search's adaptive phase.")
    uniform: int = Field(description="Traces drawn in a uniform pass (weight 1).")
    unweighted_failure: Estimate
    weighted_failure: Estimate = Field(description="Importance-weighted (Horvitz-Thompson) over the target space; Wilson on Kish's effective size.")
    cells: list[SampledCell] = Field(default_factory=list, description="Where the search looked, most drawn first.")


class Guardrail(BaseModel):
    """A guardrail from logged history (what `chainjudge ope --out` estimated) as the report shows it:
    the agent's estimated value against what the logged policy got, and their ratio and difference."""

    kind: Literal["value", "harm"]  # value: conversions and the like (higher is better); harm: unsubscribes, complaints
    estimator: str
    source: str
    agent: Estimate
    logged: Estimate
    ratio: Estimate
    difference: Estimate
    warning: str | None = None  # why the estimate is withheld: unknown, never a number


class Evidence(BaseModel):
    """Everything the go-live score, the gate and the report are computed from, for one run."""

    run: str
    traces: int
    score: GoLiveScore
    coverage: Coverage
    space: ScenarioSpace
    decision_report: DecisionReport | None = None
    criteria: list[CriterionRow] = Field(default_factory=list)
    critical_failures: int = 0
    recurring_modes: list[str] = Field(default_factory=list)
    open_modes: list[OpenMode] = Field(default_factory=list)
    untrusted_critical: list[str] = Field(default_factory=list)  # critical, model-judged, no trusted judge
    corrected: list[CorrectedRate] = Field(default_factory=list)
    calibration: dict[str, AgreementReport] = Field(default_factory=dict)
    probes: list[ProbeResult] = Field(default_factory=list)
    agents: list[AgentRow] = Field(default_factory=list, description="Per agent, in multi-agent runs.")
    sampling: SamplingNote | None = Field(None, description="Set when the traces were drawn by a failure-seeking search.")
    guardrails: list[Guardrail] = Field(default_factory=list, description="Off-policy guardrails from logged history, when given.")

    def row(self, criterion: str) -> CriterionRow | None:
        return next((r for r in self.criteria if r.criterion == criterion), None)


class ItemContext(BaseModel):
    """What the review app shows for one queue item: the trace as the run judged it, every judgment of the
    step on the criterion, the labels people gave it, and the labels a reviewer may choose from."""

    trace: Trace | None
    judgments: list[Judgment]
    labels: list[Label]
    options: list[str]


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
