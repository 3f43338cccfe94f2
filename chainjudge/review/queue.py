"""What people need to look at, and what they decide: the review queue, leases and adjudications.

The queue holds only what the machine cannot settle: a judge against a person's label or against
ground truth, judges of a panel (or a deterministic check and a model) that split, low confidence, judge
errors and steps flagged as possible prompt injection.  It is ranked by severity x uncertainty and kept
in an indexed table, so a page of it loads in milliseconds whatever the store holds.  Two reviewers
never get the same item at once (a short lease); an adjudication is a new human label row, never an
overwrite, and feeds the calibration figures at once.
"""

from __future__ import annotations

import time

from chainjudge.core.schema import Judgment, Label, QueueItem, utc_now
from chainjudge.core.store import Store

SEVERITY_WEIGHT = {"low": 1.0, "medium": 2.0, "high": 3.0, "critical": 4.0}
KINDS = ("judge_vs_human", "judge_vs_ground_truth", "panel_split", "check_vs_model", "judge_error", "check_error",
         "injection", "low_confidence")
LOW_CONFIDENCE = 0.5
LEASE_S = 300.0


_COLUMNS = "id, kind, run, trace_id, step_ref, step_index, criterion_id, detail, severity, priority"
_READ = _COLUMNS + ", rubric_id, segment, mode_id"
_FIELDS = [c.strip() for c in _READ.split(",")]


def _item(row: tuple) -> QueueItem:
    return QueueItem(**dict(zip(_FIELDS, row)))
FACETS = ("kind", "criterion_id", "run", "rubric_id", "segment", "mode_id")


def _severities(store: Store) -> dict[tuple[str, str], str]:
    result = {}
    for name in [r.name for r in store.runs()]:
        run = store.get_run(name)
        if run and run.rubric:
            for c in run.rubric.criteria:
                result[(name, c.id)] = c.severity
    return result


def refresh_queue(store: Store) -> int:
    """Recompute what needs a person (keeping what is already done). Returns the open items."""
    severity = _severities(store)
    db = store.connection
    rows: list[tuple] = []
    check_errors: set[tuple[str, str, str]] = set()

    def add(kind, run, trace_id, ref, index, criterion, detail, uncertainty):
        level = severity.get((run, criterion), "medium")
        rows.append((f"{kind}|{run}|{trace_id}|{ref}|{criterion}", kind, run, trace_id, ref, index, criterion,
                     detail, level, round(SEVERITY_WEIGHT[level] * uncertainty, 4)))

    for run, trace_id, ref, index, criterion, label, error, judge_kind, conf, flags in db.execute(
        "SELECT run, trace_id, step_ref, step_index, criterion_id, label, error, judge_kind, "
        "json_extract(data, '$.verdict.confidence'), json_array_length(json_extract(data, '$.flags')) FROM judgments"
    ):
        if error is not None:
            if judge_kind == "check":
                if (run, trace_id, ref) in check_errors:
                    continue  # one item per step: the checks fail together when the step gives them no input
                check_errors.add((run, trace_id, ref))
                add("check_error", run, trace_id, ref, index, criterion, error[:200], 1.0)
            else:
                add("judge_error", run, trace_id, ref, index, criterion, error[:200], 1.0)
            continue
        if flags:
            add("injection", run, trace_id, ref, index, criterion, "step flagged as possible prompt injection", 0.9)
        if conf is not None and conf < LOW_CONFIDENCE:
            add("low_confidence", run, trace_id, ref, index, criterion, f"judge confidence {conf:.2f}", 1.0 - conf)
    for run, trace_id, ref, index, criterion, label, kind, value, annotator in db.execute(
        "SELECT j.run, j.trace_id, j.step_ref, j.step_index, j.criterion_id, j.label, l.kind, l.value, l.annotator "
        "FROM judgments j JOIN labels l ON l.trace_id = j.trace_id AND l.step_key = j.step_ref "
        "AND l.criterion = j.criterion_id AND l.kind IN ('human', 'ground-truth') "
        "WHERE j.error IS NULL AND l.value != j.label"
    ):
        name = "judge_vs_human" if kind == "human" else "judge_vs_ground_truth"
        add(name, run, trace_id, ref, index, criterion, f"judge says {label}, {annotator} says {value}", 1.0)
    for trace_id, ref, index, criterion, labels, judges, run, with_check in db.execute(
        "SELECT trace_id, step_ref, MIN(step_index), criterion_id, GROUP_CONCAT(DISTINCT label), "
        "GROUP_CONCAT(DISTINCT judge), MIN(run), MAX(judge_kind = 'check') FROM judgments WHERE error IS NULL "
        "GROUP BY trace_id, step_ref, criterion_id HAVING COUNT(DISTINCT label) > 1"
    ):
        kind = "check_vs_model" if with_check else "panel_split"
        add(kind, run, trace_id, ref, index, criterion, f"labels given: {labels} (by {judges})", 1.0)
    _write_queue(store, rows)
    return db.execute("SELECT COUNT(*) FROM review_queue WHERE done = 0").fetchone()[0]


def _write_queue(store: Store, rows: list[tuple]) -> None:
    """Upsert the items, fill the facets people filter by, and keep settled steps settled, in one transaction."""
    db = store.connection
    now = utc_now().isoformat()
    with store.transaction():
        db.executemany(
            f"INSERT INTO review_queue ({_COLUMNS}, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET detail = excluded.detail, priority = excluded.priority, severity = excluded.severity",
            [(*r, now) for r in rows],
        )
        # facets to filter by: the run's rubric, the trace's segment, the failure mode the judgment fell into
        db.execute("UPDATE review_queue SET rubric_id = (SELECT rubric_id FROM runs WHERE runs.name = review_queue.run)")
        db.execute("UPDATE review_queue SET segment = (SELECT json_extract(data, '$.metadata.segment') FROM traces "
                   "WHERE traces.id = review_queue.trace_id)")
        db.execute(
            "UPDATE review_queue SET mode_id = (SELECT fa.mode_id FROM judgments j JOIN failure_assignments fa "
            "ON fa.run = j.run AND fa.cache_key = j.cache_key WHERE j.run = review_queue.run AND j.trace_id = review_queue.trace_id "
            "AND j.step_ref = review_queue.step_ref AND j.criterion_id = review_queue.criterion_id LIMIT 1)"
        )
        # a step a reviewer has settled stays settled, whatever new disagreement the refresh found on it
        db.execute(
            "UPDATE review_queue SET done = 1 WHERE done = 0 AND EXISTS (SELECT 1 FROM review_queue d WHERE d.done = 1 "
            "AND d.trace_id = review_queue.trace_id AND d.step_ref = review_queue.step_ref "
            "AND d.criterion_id = review_queue.criterion_id)"
        )


def _filters(filters: dict[str, str | None]) -> tuple[str, list]:
    """WHERE clauses for the queue's facets: kind, criterion, run, rubric, segment, failure mode."""
    clauses, params = [], []
    for name, value in filters.items():
        column = {"criterion": "criterion_id", "rubric": "rubric_id", "mode": "mode_id"}.get(name, name)
        if column not in FACETS:
            raise ValueError(f"unknown queue filter {name!r}")
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    return (" AND " + " AND ".join(clauses)) if clauses else "", params


def queue_page(store: Store, page: int = 0, size: int = 50, **filters: str | None) -> list[QueueItem]:
    """One page of open items, most urgent first; filters: kind, criterion, run, rubric, segment, mode."""
    where, params = _filters(filters)
    rows = store.connection.execute(
        f"SELECT {_READ} FROM review_queue WHERE done = 0{where} ORDER BY priority DESC, id LIMIT ? OFFSET ?",
        [*params, size, page * size],
    )
    return [_item(row) for row in rows]


def queue_counts(store: Store) -> dict[str, int]:
    return dict(store.connection.execute("SELECT kind, COUNT(*) FROM review_queue WHERE done = 0 GROUP BY kind"))


def claim_next(store: Store, reviewer: str, lease_s: float = LEASE_S, **filters: str | None) -> QueueItem | None:
    """The highest-priority open item nobody else holds, leased to this reviewer."""
    where, params = _filters(filters)
    now = time.time()
    with store.transaction():
        row = store.connection.execute(
            f"SELECT {_READ} FROM review_queue q WHERE done = 0{where} AND NOT EXISTS ("
            "SELECT 1 FROM review_leases l WHERE l.item_id = q.id AND l.expires_at > ? AND l.reviewer != ?) "
            "ORDER BY priority DESC, id LIMIT 1",
            [*params, now, reviewer],
        ).fetchone()
        if row is None:
            return None
        store.connection.execute("DELETE FROM review_leases WHERE reviewer = ?", (reviewer,))  # one item at a time
        store.connection.execute("INSERT OR REPLACE INTO review_leases VALUES (?, ?, ?)", (row[0], reviewer, now + lease_s))
    return _item(row)


class LeaseLost(RuntimeError):
    """The reviewer no longer holds the item (the lease ran out and someone else took it, or it is done)."""


def adjudicate(store: Store, item: QueueItem, reviewer: str, label: str, note: str | None = None) -> None:
    """Store the reviewer's label as a new human label row and close the item, in ONE transaction that
    first checks the reviewer still holds the item's lease; LeaseLost (nothing written) otherwise."""
    now = time.time()
    with store.transaction():
        held = store.connection.execute(
            "SELECT 1 FROM review_leases l JOIN review_queue q ON q.id = l.item_id "
            "WHERE l.item_id = ? AND l.reviewer = ? AND l.expires_at > ? AND q.done = 0",
            (item.id, reviewer, now)).fetchone()
        if held is None:
            raise LeaseLost(f"{reviewer} no longer holds {item.trace_id} step {item.step_ref} ({item.criterion_id}): "
                            "the lease ran out or the item was settled; nothing was saved")
        store.add_labels([Label(trace_id=item.trace_id, step_ref=item.step_ref, step_index=item.step_index,
                                criterion=item.criterion_id, value=label, annotator=reviewer, kind="human",
                                note=note or None, created_at=utc_now(), source=f"review:{item.id}")])
        store.connection.execute("UPDATE review_queue SET done = 1 WHERE trace_id = ? AND step_ref = ? AND criterion_id = ?",
                                 (item.trace_id, item.step_ref, item.criterion_id))
        store.connection.execute("DELETE FROM review_leases WHERE item_id = ?", (item.id,))


def release(store: Store, reviewer: str) -> None:
    """Give back whatever the reviewer holds (signing out, skipping)."""
    with store.transaction():
        store.connection.execute("DELETE FROM review_leases WHERE reviewer = ?", (reviewer,))


def item_context(store: Store, item: QueueItem) -> dict:
    """Everything the item view shows: the trace, every judgment of the step on this criterion, labels."""
    trace = store.get_trace(item.trace_id, run=item.run)  # the version the run judged
    judgments = [Judgment.model_validate_json(data) for (data,) in store.connection.execute(
        "SELECT data FROM judgments WHERE trace_id = ? AND step_ref = ? AND criterion_id = ?",
        (item.trace_id, item.step_ref, item.criterion_id))]
    labels = [Label.model_validate_json(d) for (d,) in store.connection.execute(
        "SELECT data FROM labels WHERE trace_id = ? AND step_key = ? AND criterion = ? ORDER BY created_at",
        (item.trace_id, item.step_ref, item.criterion_id))]
    run = store.get_run(item.run)
    scale = None
    if run and run.rubric:
        try:
            scale = run.rubric.criterion(item.criterion_id).scale.labels
        except KeyError:
            scale = None
    options = scale or sorted({j.verdict.label for j in judgments if j.verdict} | {l.value for l in labels}) or ["pass", "fail"]
    return {"trace": trace, "judgments": judgments, "labels": labels, "options": options}
