"""What people need to look at, and what they decide: the review queue, leases and adjudications.

The queue holds only what the machine cannot settle: a verifier's abstentions (first), a judge against a
person's label or against
ground truth, judges of a panel (or a deterministic check and a model) that split, low confidence, judge
errors and steps flagged as possible prompt injection.  It is ranked by severity x uncertainty and kept
in an indexed table, so a page of it loads in milliseconds whatever the store holds.  Two reviewers
never get the same item at once (a short lease); an adjudication is a new human label row, never an
overwrite, and feeds the calibration figures at once.  This module is the policy; its SQL lives in the
store (`core/store/review.py`).
"""

from __future__ import annotations

import time

from chainjudge.core.schema import ErrorKind, ItemContext, JudgeKind, Label, Provenance, QueueEntry, QueueItem, QueueKind, utc_now
from chainjudge.core.store import Store
from chainjudge.core.store.review import QUEUE_FACETS, LeaseLost  # noqa: F401  (LeaseLost: raised by adjudicate)

SEVERITY_WEIGHT = {"low": 1.0, "medium": 2.0, "high": 3.0, "critical": 4.0}
KINDS = tuple(kind.value for kind in QueueKind)
ABSTAINED_WEIGHT = 1.5  # a verifier's abstention goes to people before anything of the same severity
LOW_CONFIDENCE = 0.5
LEASE_S = 300.0
FILTER_COLUMNS = {"criterion": "criterion_id", "rubric": "rubric_id", "mode": "mode_id"}


def _severities(store: Store) -> dict[tuple[str, str], str]:
    result: dict[tuple[str, str], str] = {}
    for name in [r.name for r in store.runs()]:
        run = store.get_run(name)
        if run and run.rubric:
            for c in run.rubric.criteria:
                result[(name, c.id)] = c.severity
    return result


def refresh_queue(store: Store) -> int:
    """Recompute what needs a person (keeping what is already done). Returns the open items."""
    severity = _severities(store)
    rows: list[QueueEntry] = []

    def add(kind: QueueKind, run: str, trace_id: str, ref: str, index: int, criterion: str, detail: str, uncertainty: float) -> None:
        level = severity.get((run, criterion), "medium")
        rows.append(
            QueueEntry(
                f"{kind}|{run}|{trace_id}|{ref}|{criterion}",
                kind,
                run,
                trace_id,
                ref,
                index,
                criterion,
                detail,
                level,
                round(SEVERITY_WEIGHT[level] * uncertainty, 4),
            )
        )

    _judgment_items(store, add)
    for d in store.judge_label_disagreements():
        kind = QueueKind.judge_vs_human if d.label_kind == "human" else QueueKind.judge_vs_ground_truth
        add(
            kind,
            d.run,
            d.trace_id,
            d.step_ref,
            d.step_index,
            d.criterion_id,
            f"judge says {d.judge_label}, {d.annotator} says {d.label_value}",
            1.0,
        )
    for v in store.split_verdicts():
        kind = QueueKind.check_vs_model if v.with_check else QueueKind.panel_split
        add(kind, v.run, v.trace_id, v.step_ref, v.step_index, v.criterion_id, f"labels given: {v.labels} (by {v.judges})", 1.0)
    return store.write_queue(rows)


def _judgment_items(store: Store, add) -> None:
    """Items from single judgments: abstentions, errors (one per step for checks), flags, low confidence."""
    check_errors: set[tuple[str, str, str]] = set()
    for s in store.judgment_signals():
        where = (s.run, s.trace_id, s.step_ref, s.step_index, s.criterion_id)
        if s.error is not None:
            if s.error.startswith(f"{ErrorKind.abstained}:"):  # the verifier would not decide: people do, first
                add(QueueKind.abstained, *where, s.error[:200], ABSTAINED_WEIGHT)
            elif s.judge_kind != JudgeKind.check:
                add(QueueKind.judge_error, *where, s.error[:200], 1.0)
            elif (s.run, s.trace_id, s.step_ref) not in check_errors:  # the checks fail together when the step gives them no input
                check_errors.add((s.run, s.trace_id, s.step_ref))
                add(QueueKind.check_error, *where, s.error[:200], 1.0)
            continue
        if s.flags:
            add(QueueKind.injection, *where, "step flagged as possible prompt injection", 0.9)
        if s.confidence is not None and s.confidence < LOW_CONFIDENCE:
            add(QueueKind.low_confidence, *where, f"judge confidence {s.confidence:.2f}", 1.0 - s.confidence)


def _facets(filters: dict[str, str | None]) -> dict[str, str]:
    """The queue's facets by the names people use (kind, criterion, run, rubric, segment, mode)."""
    facets = {FILTER_COLUMNS.get(name, name): value for name, value in filters.items()}
    unknown = [name for name, column in zip(filters, facets, strict=True) if column not in QUEUE_FACETS]
    if unknown:
        raise ValueError(f"unknown queue filter {unknown[0]!r}")
    return {column: value for column, value in facets.items() if value}


def queue_page(store: Store, page: int = 0, size: int = 50, **filters: str | None) -> list[QueueItem]:
    """One page of open items, most urgent first; filters: kind, criterion, run, rubric, segment, mode."""
    return store.queue_page(page * size, size, _facets(filters))


def queue_counts(store: Store) -> dict[str, int]:
    return store.queue_counts()


def claim_next(store: Store, reviewer: str, lease_s: float = LEASE_S, **filters: str | None) -> QueueItem | None:
    """The highest-priority open item nobody else holds, leased to this reviewer."""
    now = time.time()
    return store.lease_next(reviewer, now, now + lease_s, _facets(filters))


def adjudicate(store: Store, item: QueueItem, reviewer: str, label: str, note: str | None = None) -> None:
    """Store the reviewer's label as a new human label row and close the item, in ONE transaction that
    first checks the reviewer still holds the item's lease; LeaseLost (nothing written) otherwise."""
    store.settle(
        item,
        reviewer,
        time.time(),
        Label(
            trace_id=item.trace_id,
            step_ref=item.step_ref,
            step_index=item.step_index,
            criterion=item.criterion_id,
            value=label,
            annotator=reviewer,
            kind="human",
            note=note or None,
            created_at=utc_now(),
            source=Provenance.review_reference(item.id),
        ),
    )


def release(store: Store, reviewer: str) -> None:
    """Give back whatever the reviewer holds (signing out, skipping)."""
    store.release_leases(reviewer)


def item_context(store: Store, item: QueueItem) -> ItemContext:
    """Everything the item view shows: the trace, every judgment of the step on this criterion, labels."""
    judgments = store.step_judgments(item.trace_id, item.step_ref, item.criterion_id)
    labels = store.step_labels(item.trace_id, item.step_ref, item.criterion_id)
    run = store.get_run(item.run)
    scale = None
    if run and run.rubric:
        try:
            scale = run.rubric.criterion(item.criterion_id).scale.labels
        except KeyError:
            scale = None
    options = scale or sorted({j.verdict.label for j in judgments if j.verdict} | {label.value for label in labels}) or ["pass", "fail"]
    return ItemContext(
        trace=store.get_trace(item.trace_id, run=item.run),  # the version the run judged
        judgments=judgments,
        labels=labels,
        options=options,
    )
