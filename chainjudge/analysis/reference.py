"""One reference label per item, and how far the people who gave labels agree with each other.

Why: calibration compares a judge with *the* reference.  Pooling every annotator counts an item
labelled by the ground truth and by a reviewer twice (10 steps with 2 annotators came out as 20 paired
labels, and "trusted"), and two reviewers who disagree would both count.  So each (trace, step,
criterion) gets exactly one reference label, chosen by a precedence of sources (by default a
reviewer's adjudication, then ground truth, then imported human labels), the newest of the winning
source by UTC instant.  How far the annotators agree with each other is reported apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from itertools import combinations

from chainjudge.core.schema import AnnotatorAgreement, Judgment, Label, LabelSource

ADJUDICATION = LabelSource.adjudication.value
DEFAULT_PRECEDENCE: tuple[str, ...] = (ADJUDICATION, "ground-truth", "human")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def source_of(label: Label) -> str:
    """adjudication (a reviewer in the app), ground-truth, human (imported) or judge."""
    return label.provenance.source.value


def _instant(label: Label) -> datetime:
    """The label's time as an aware UTC instant (naive times are taken as UTC; none sorts oldest)."""
    if label.created_at is None:
        return _EPOCH
    stamp = label.created_at
    return stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp.astimezone(timezone.utc)


def reference_labels(labels: Sequence[Label], precedence: Sequence[str] = DEFAULT_PRECEDENCE) -> list[Label]:
    """One label per (trace, step, criterion): the most trusted source present, newest within it."""
    rank = {source: i for i, source in enumerate(precedence)}
    best: dict[tuple[str, str, str], tuple[tuple, Label]] = {}
    for position, label in enumerate(labels):
        source = source_of(label)
        if source not in rank or not label.step_key:
            continue
        key = (label.trace_id, label.step_key, label.criterion)
        order = (-rank[source], _instant(label), position)
        if key not in best or order > best[key][0]:
            best[key] = (order, label)
    return [label for _, label in sorted(best.values(), key=lambda pair: (pair[1].trace_id, pair[1].step_key))]


def parse_precedence(text: str | None) -> tuple[str, ...]:
    if not text:
        return DEFAULT_PRECEDENCE
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [c for c in chosen if c not in DEFAULT_PRECEDENCE]
    if unknown or not chosen:
        raise ValueError(f"reference sources {unknown or chosen} unknown; use some of {', '.join(DEFAULT_PRECEDENCE)}")
    return chosen


def annotator_agreement(labels: Sequence[Label], criterion: str, bootstrap: int = 1000, seed: int = 0) -> list[AnnotatorAgreement]:
    """Cohen's kappa (with its trace-clustered interval) for every pair of non-judge annotators on the
    items both labelled, and Krippendorff's alpha across all of them."""
    import numpy as np

    from chainjudge.analysis.calibrate import agreement, krippendorff_alpha

    people: dict[str, list[Label]] = {}
    for label in labels:
        if label.criterion == criterion and source_of(label) != "judge" and label.step_key:
            people.setdefault(label.annotator, []).append(label)
    result = []
    for a, b in combinations(sorted(people), 2):
        shared = {(label.trace_id, label.step_key) for label in people[a]} & {(label.trace_id, label.step_key) for label in people[b]}
        if not shared:
            continue
        report = agreement(people[a], people[b], a, b, criterion, bootstrap=bootstrap, seed=seed)
        result.append(
            AnnotatorAgreement(
                criterion=criterion, first=a, second=b, items=report.paired_items, traces=report.traces, cohen_kappa=report.cohen_kappa
            )
        )
    if len(people) >= 2:
        values = sorted({label.value for ls in people.values() for label in ls})
        code = {v: i for i, v in enumerate(values)}
        units: dict[tuple[str, str], int] = {}
        for ls in people.values():
            for label in ls:
                units.setdefault((label.trace_id, label.step_key), len(units))
        data = np.full((len(people), len(units)), np.nan)
        for row, ls in enumerate(people.values()):
            for label in ls:
                data[row, units[(label.trace_id, label.step_key)]] = code[label.value]
        alpha = krippendorff_alpha(data)
        for r in result:
            r.alpha_all = alpha
    return result


def judgment_labels(judgments: Sequence[Judgment], annotator: str, criterion: str | None = None) -> list[Label]:
    """A judge's verdicts as labels (kind judge), so they can be compared with people's: the one place this
    conversion is written (calibration, the CLI's run:NAME annotators, the demo)."""
    return [
        Label(
            trace_id=j.trace_id,
            step_ref=j.step_ref,
            step_index=j.step_index,
            criterion=j.criterion_id,
            value=j.verdict.label,
            annotator=annotator,
            kind="judge",
        )
        for j in judgments
        if j.verdict is not None and j.error is None and (criterion is None or j.criterion_id == criterion)
    ]
