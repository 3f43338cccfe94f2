"""Agreement and trust: estimates with their intervals, the trust rule, agreement reports with their baselines,
judge-error-corrected rates and bias probes."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field


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
    min_answered: float = Field(
        0.9, ge=0, le=1, description="Share of reference items the judge answered (errors and abstentions count against it)."
    )
    min_tpr_low: float = Field(0.8, ge=0, le=1, description="Lower 95% bound of sensitivity on the failing class.")
    min_tnr_low: float = Field(0.8, ge=0, le=1, description="Lower 95% bound of specificity.")
    review_kappa: float = Field(
        0.4,
        ge=-1,
        le=1,
        allow_inf_nan=False,
        description="With enough evidence but bounds below the above: 'needs review' when kappa's lower bound reaches this.",
    )
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
        None,
        description="For numeric (Likert) candidate labels: the score at or above which a step should pass, "
        "chosen to maximise balanced accuracy against the reference's pass / fail",
    )
    threshold_balanced_accuracy: float | None = None
    tpr: Estimate = Field(
        default_factory=lambda: Estimate(value=None),
        description="Sensitivity on the failing class: reference failures the candidate also failed (unanswered count as missed).",
    )
    tnr: Estimate = Field(
        default_factory=lambda: Estimate(value=None),
        description="Specificity: reference passes the candidate also passed (unanswered count as wrong).",
    )
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
    ppi_failure_rate: Estimate | None = Field(
        None,
        description="Prediction-powered: the judge's rate on every run item, "
        "rectified by people's labels on the labelled items (Angelopoulos et al., 2023).",
    )
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
