"""The trust rule: evidence first (enough failing labels across enough traces, passing labels, the share
answered), then the TPR / TNR lower bounds; kappa only tells 'needs review' from 'unreliable' once the
evidence is there."""

from __future__ import annotations

from dataclasses import dataclass

from chainjudge.analysis.panel import aggregate_panel, error_correlation, unanimity  # noqa: F401  (re-exported)
from chainjudge.analysis.stats import _kappas_batch, confusion_matrix, kappa_from_confusion, krippendorff_alpha, pass_hat_k, wilson_interval  # noqa: F401  (re-exported: the statistics calibration is built on)
from chainjudge.core.schema import Estimate, TrustPolicy, TrustStatus


@dataclass(frozen=True)
class TrustEvidence:
    failing: int
    failing_traces: int
    passing: int
    answered: float | None
    tpr: Estimate
    tnr: Estimate
    kappa: Estimate


def decide_trust(e: TrustEvidence, p: TrustPolicy) -> tuple[TrustStatus, str, str]:
    """(trust, the rule that decided, why).  Evidence first (enough failing labels across enough traces,
    passing labels, answered share), then the TPR / TNR lower bounds; kappa only tells 'needs review'
    from 'unreliable' once the evidence is there."""
    if e.failing < p.min_failing_labels or e.failing_traces < p.min_failing_traces:
        return (
            TrustStatus.unreliable,
            "min_failing_labels",
            f"{e.failing} failing reference labels in {e.failing_traces} traces; trust needs at least "
            f"{p.min_failing_labels} from {p.min_failing_traces} traces",
        )
    if e.passing < p.min_passing_labels:
        return (
            TrustStatus.unreliable,
            "min_passing_labels",
            f"{e.passing} passing reference labels; trust needs at least {p.min_passing_labels}",
        )
    if e.answered is None or e.answered < p.min_answered:
        share = 0.0 if e.answered is None else e.answered
        return (
            TrustStatus.unreliable,
            "min_answered",
            f"the judge answered {share:.0%} of the reference items (errors and "
            f"abstentions count against it); trust needs {p.min_answered:.0%}",
        )
    tpr_low, tnr_low = e.tpr.low or 0.0, e.tnr.low or 0.0
    bounds = f"TPR lower bound {tpr_low:.2f} (n={e.tpr.n}), TNR lower bound {tnr_low:.2f} (n={e.tnr.n})"
    if tpr_low >= p.min_tpr_low and tnr_low >= p.min_tnr_low:
        return TrustStatus.trusted, "all rules hold", f"{bounds}, both >= {p.min_tpr_low:.2f} / {p.min_tnr_low:.2f}"
    rule = "min_tpr_low" if tpr_low < p.min_tpr_low else "min_tnr_low"
    if e.kappa.low is not None and e.kappa.low >= p.review_kappa:
        return (
            TrustStatus.needs_review,
            rule,
            f"{bounds}: below {p.min_tpr_low:.2f} / {p.min_tnr_low:.2f}; kappa lower bound {e.kappa.low:.2f}",
        )
    return TrustStatus.unreliable, rule, f"{bounds}: below {p.min_tpr_low:.2f} / {p.min_tnr_low:.2f}"
