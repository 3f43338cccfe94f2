"""Judge panels: one label per step from several judges, how correlated their errors are (and so how
many independent judges they amount to), and how often they are unanimous."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chainjudge.core.schema import Label


def aggregate_panel(panel: Sequence[Sequence[Label]], labels: list[str], fail: set[str], method: str, name: str) -> list[Label]:
    """One label per step from several judges: majority (ties go to the stricter label), mean of the
    ordinal codes (rounded), or strictest (a failing label if any judge fails it, else the lowest)."""
    code = {v: i for i, v in enumerate(labels)}
    strictness = sorted(range(len(labels)), key=lambda i: (labels[i] not in fail, i))  # failing first, then low
    rank = {c: r for r, c in enumerate(strictness)}
    by_item: dict[tuple[str, str], list[Label]] = {}
    for judge in panel:
        for label in judge:
            if label.step_key and label.value in code:
                by_item.setdefault((label.trace_id, label.step_key), []).append(label)
    out = []
    for (trace_id, _), votes in by_item.items():
        codes = [code[v.value] for v in votes]
        if method == "majority":
            counts = np.bincount(codes, minlength=len(labels))
            best = counts.max()
            chosen = min((c for c in range(len(labels)) if counts[c] == best), key=lambda c: rank[c])
        elif method == "mean":
            chosen = int(np.floor(np.mean(codes) + 0.5))
        elif method == "strictest":
            chosen = min(codes, key=lambda c: rank[c])
        else:
            raise ValueError(f"unknown aggregation {method!r}; choose majority, mean or strictest")
        first = votes[0]
        out.append(
            Label(
                trace_id=trace_id,
                step_ref=first.step_ref,
                step_index=first.step_index,
                criterion=first.criterion,
                value=labels[chosen],
                annotator=name,
                kind="judge",
            )
        )
    return out


def error_correlation(panel: Sequence[Sequence[Label]], reference: Sequence[Label]) -> tuple[np.ndarray, float | None]:
    """Pairwise correlation of judges' errors (label != reference) on the steps all of them labelled,
    and the effective number of independent judges n / (1 + (n - 1) * mean correlation)."""
    truth = {(label.trace_id, label.step_key): label.value for label in reference if label.step_key}
    maps = [{(label.trace_id, label.step_key): label.value for label in judge if label.step_key} for judge in panel]
    common = [item for item in truth if all(item in m for m in maps)]
    n = len(panel)
    if not common or n < 2:
        return np.full((n, n), np.nan), None
    errors = np.array([[m[item] != truth[item] for item in common] for m in maps], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(errors)
    off = corr[~np.eye(n, dtype=bool)]
    off = off[~np.isnan(off)]
    if off.size == 0:
        return corr, None
    mean_rho = float(off.mean())
    # n / (1 + (n-1) rho), bounded to [1, n]: negatively correlated errors do not make more judges than
    # there are (2 judges gave 9e15, and rho = -1/(n-1) divided by zero)
    denominator = 1 + (n - 1) * mean_rho
    return corr, float(n) if denominator <= 1 else float(min(n, max(1.0, n / denominator)))


def unanimity(panel: Sequence[Sequence[Label]]) -> float | None:
    """Share of steps labelled by every member on which all members gave the same label
    (self-consistency when the members are samples of one judge at temperature > 0)."""
    maps = [{(label.trace_id, label.step_key): label.value for label in judge if label.step_key} for judge in panel]
    common = set(maps[0]).intersection(*maps[1:]) if maps else set()
    if not common:
        return None
    return sum(len({m[i] for m in maps}) == 1 for i in common) / len(common)


def labels_alpha(annotators: Sequence[Sequence[Label]], order: list[str]) -> float | None:
    """Krippendorff's alpha (nominal) over several annotators' step labels: units are steps, missing
    labels allowed."""
    from chainjudge.analysis.stats import krippendorff_alpha

    units: dict[tuple[str, str], int] = {}
    for labels in annotators:
        for label in labels:
            if label.step_key:
                units.setdefault((label.trace_id, label.step_key), len(units))
    data = np.full((len(annotators), len(units)), np.nan)
    code = {v: i for i, v in enumerate(order)}
    for row, labels in enumerate(annotators):
        for label in labels:
            if label.step_key and label.value in code:
                data[row, units[(label.trace_id, label.step_key)]] = code[label.value]
    return krippendorff_alpha(data, "nominal")
