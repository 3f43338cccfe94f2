"""Go-live: the scenario space, coverage, the score and its terms, the gate policy, and the evidence the gate and the report read."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chainjudge.core.schema.agreement import AgreementReport, CorrectedRate, Estimate, ProbeResult, TrustPolicy, TrustStatus
from chainjudge.core.schema.results import DecisionReport


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
    waive_untrusted: list[str] = Field(
        default_factory=list, description="Critical criteria allowed to go without a trusted judge (named, so it is a decision)."
    )
    max_corrected_failure_rate: float | None = Field(
        None, ge=0, le=1, description="Upper 95% bound of each critical criterion's judge-error-corrected failure rate."
    )
    max_probe_flip_rate: float | None = Field(
        None, ge=0, le=1, description="Upper 95% bound of every bias probe's flip rate (needs chainjudge probe RUN)."
    )
    trust: TrustPolicy = Field(default_factory=TrustPolicy)
    reference: list[str] = Field(
        default_factory=lambda: ["adjudication", "ground-truth", "human"],
        description="Sources of the one reference label per item, most trusted first.",
    )
    # guardrails from logged history (chainjudge ope --out FILE; the gate's --ope-value / --ope-unsubscribe)
    ope_estimator: Literal["dr", "switch-dr", "snips", "ips", "dm"] = Field(
        "dr", description="The off-policy estimator the guardrails read."
    )
    min_value_ratio: float | None = Field(
        None,
        gt=0,
        le=100,
        allow_inf_nan=False,
        description="Lower 95% bound of the agent's estimated value over the logged policy's (e.g. conversions), from gate --ope-value.",
    )
    max_unsubscribe_delta: float | None = Field(
        None,
        ge=-1,
        le=1,
        allow_inf_nan=False,
        description="Upper 95% bound of the agent's estimated unsubscribe (or complaint) rate minus the logged policy's, from gate "
        "--ope-unsubscribe.",
    )

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
    by_origin: dict[str, dict[tuple[str, ...], int]] = Field(
        default_factory=dict, description="Per origin of the states (generated, imported): traces per cell."
    )


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
    weighted_failure: Estimate = Field(
        description="Importance-weighted (Horvitz-Thompson) over the target space; Wilson on Kish's effective size."
    )
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
