"""How a figure is written for people: value, interval and the items it is computed over, or
"too few" when it rests on fewer items than the trust policy's minimum.  One function, so the CLI, the
report and the review app never show a bare number from 2 items beside one from 2,000."""

from __future__ import annotations

from chainjudge.core.schema import Estimate

DEFAULT_MIN_ITEMS = 20


def format_estimate(estimate: Estimate, min_items: int = DEFAULT_MIN_ITEMS, digits: int = 3) -> str:
    if estimate.n is not None and estimate.n < min_items:
        return f"too few (n={estimate.n})"
    if estimate.value is None:
        return "-" if estimate.n is None else f"- (n={estimate.n})"
    text = f"{estimate.value:.{digits}f}"
    if estimate.low is not None and estimate.high is not None:
        text += f" [{estimate.low:.{digits}f}, {estimate.high:.{digits}f}]"
    return text + (f" n={estimate.n}" if estimate.n is not None else "")
