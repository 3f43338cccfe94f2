"""A verifier learned from people's labels: the stored, versioned artifact (coefficients, not a pickle)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from pydantic import BaseModel, Field

from chainjudge.core.schema.traces import utc_now


class SelectiveCut(BaseModel):
    """Where the verifier decides: items whose confidence is at least `confidence`; below it, it abstains."""

    confidence: float | None = Field(description="None: the verifier decides nothing (no cut met the guarantee).")
    target: float = Field(gt=0, lt=1, description="The agreement with people it guarantees on what it decides ...")
    risk: float = Field(gt=0, lt=1, description="... with probability at least 1 - risk.")
    decided_share: float = Field(ge=0, le=1, description="Share of the out-of-fold tune items it decided.")
    agreement: float | None = Field(None, description="Agreement on those items, out of fold.")
    bound: float | None = Field(None, description="Guaranteed agreement (exact binomial bound) at the cut.")


class Verifier(BaseModel):
    """A calibrated logistic regression over named trace features, per criterion, learned from the tune
    split's reference labels only.  Its version is the hash of everything that decides its outputs; it is
    part of every judgment it makes (judge = `verifier:NAME@VERSION`)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    criterion: str
    failing: list[str]
    features: list[str]
    reference_features: bool
    from_run: str | None = Field(
        None, description="A run whose judgments of the same steps are features (kept only where they helped out of fold)."
    )
    run_criteria: list[str] = Field(default_factory=list, description="That run's criteria used as features.")
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    platt_a: float = Field(description="Calibration on out-of-fold scores: P(fail) = 1 / (1 + exp(-(a * score + b))).")
    platt_b: float
    cut: float = Field(ge=0, le=1, description="P(fail) at or above which a step is called failing (kappa-best out of fold).")
    selective: SelectiveCut
    label_set_hash: str = Field(description="Hash of the tune labels it learned from.")
    tune_items: int
    tune_failing: int
    tune_groups: int
    oof_kappa: float | None = Field(None, description="Cohen's kappa of its decisions out of fold (whole groups held out).")
    oof_kappa_low: float | None = Field(
        None, description="... its 95% lower bound (bootstrap over whole groups); a constant verdict has kappa 0."
    )
    group_key: str = Field("trace", description="What cross-validation held out together (task, question, trace).")
    created_at: datetime = Field(default_factory=utc_now)

    @property
    def version(self) -> str:
        material = self.model_dump(mode="json", exclude={"created_at", "name"})
        if material.get("from_run") is None and not material.get("run_criteria"):
            material.pop("from_run", None)  # fields added later: versions of verifiers without them stay the same
            material.pop("run_criteria", None)
        if material.get("oof_kappa_low") is None:
            material.pop("oof_kappa_low", None)
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"
