"""Guardrails from logged history for the gate (pure): read what `chainjudge ope --out` wrote, fail closed.

Value: the lower 95% bound of the agent's estimated value over the logged policy's must reach
`min_value_ratio` (conversions no worse than today, say 0.95).  Harm: the upper bound of the agent's
estimated unsubscribe or complaint rate minus today's must stay under `max_unsubscribe_delta`.  A guardrail
the policy asks for with no file, a withheld estimate (thin support or ESS) or a missing bound is a reason:
unknown evidence never passes.
"""

from __future__ import annotations

from collections.abc import Mapping

from chainjudge.core.schema import Estimate, Guardrail


def _estimate(figures: Mapping | None, estimator: str) -> Mapping | None:
    if not figures:
        return None
    return next((e for e in figures.get("overall", {}).get("estimates", []) if e.get("estimator") == estimator), None)


def ope_reasons(policy, value_figures: Mapping | None, harm_figures: Mapping | None) -> list[str]:
    """Reasons the off-policy guardrails of POLICY (a GatePolicy) do not pass; empty when they pass or are unset."""
    reasons = []
    if policy.min_value_ratio is not None:
        reasons.append(_value_reason(policy, value_figures))
    if policy.max_unsubscribe_delta is not None:
        reasons.append(_harm_reason(policy, harm_figures))
    return [r for r in reasons if r is not None]


def _value_reason(policy, figures: Mapping | None) -> str | None:
    """Why min_value_ratio fails (missing figures, unknown value or interval, a lower bound below it), or None."""
    name = policy.ope_estimator
    found = _estimate(figures, name)
    ratio = (found or {}).get("ratio") or {}
    if figures is None:
        return (
            f"min_value_ratio {policy.min_value_ratio:g} needs off-policy value figures: chainjudge ope ... --out FILE, then gate "
            f"--ope-value FILE"
        )
    if found is None or found.get("value", {}).get("value") is None:
        why = ((found or {}).get("value") or {}).get("warning") or f"no {name} estimate in the figures"
        return f"the agent's off-policy value ({name}) is unknown: {why}"
    if ratio.get("low") is None:
        return f"the agent's off-policy value ({name}) has no interval (too few groups to resample)"
    if ratio["low"] < policy.min_value_ratio:
        return (
            f"the agent's estimated value is {ratio['value']:.3f}x the logged policy's, lower bound "
            f"{ratio['low']:.3f} ({name}); needs {policy.min_value_ratio:g}"
        )
    return None


def _harm_reason(policy, figures: Mapping | None) -> str | None:
    """Why max_unsubscribe_delta fails (missing figures, unknown rate or interval, an upper bound above it), or None."""
    name = policy.ope_estimator
    found = _estimate(figures, name)
    difference = (found or {}).get("difference") or {}
    if figures is None:
        return (
            f"max_unsubscribe_delta {policy.max_unsubscribe_delta:g} needs off-policy unsubscribe figures: "
            "chainjudge ope ... --reward unsubscribed --out FILE, then gate --ope-unsubscribe FILE"
        )
    if found is None or found.get("value", {}).get("value") is None:
        why = ((found or {}).get("value") or {}).get("warning") or f"no {name} estimate in the figures"
        return f"the agent's off-policy unsubscribe rate ({name}) is unknown: {why}"
    if difference.get("high") is None:
        return f"the agent's off-policy unsubscribe rate ({name}) has no interval (too few groups to resample)"
    if difference["high"] > policy.max_unsubscribe_delta:
        return (
            f"the agent's estimated unsubscribe rate is {difference['value']:+.4f} against the logged policy's, "
            f"upper bound {difference['high']:+.4f} ({name}); allowed {policy.max_unsubscribe_delta:+g}"
        )
    return None


def _figure(raw: Mapping | None, n: int | None = None) -> Estimate:
    raw = raw or {}
    return Estimate(value=raw.get("value"), low=raw.get("low"), high=raw.get("high"), n=n)


def guardrail(figures: Mapping, estimator: str, kind: str, source: str) -> Guardrail:
    """What the report shows for one file `chainjudge ope --out` wrote: the estimator's agent value, the
    logged policy's own, their ratio and difference; a withheld estimate keeps its warning and no number."""
    overall = figures.get("overall") or {}
    rows = (overall.get("diagnostics") or {}).get("rows")
    found = _estimate(figures, estimator) or {}
    value = found.get("value") or {}
    warning = value.get("warning") if value.get("value") is None else None
    if not found:
        warning = f"no {estimator} estimate in {source}"
    return Guardrail(
        kind=kind,
        estimator=estimator,
        source=source,
        agent=_figure(value, rows),  # type: ignore[arg-type]
        logged=_figure(overall.get("incumbent"), rows),
        ratio=_figure(found.get("ratio"), rows),
        difference=_figure(found.get("difference"), rows),
        warning=warning,
    )
