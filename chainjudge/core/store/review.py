"""The review queue's tables (a mixin of Store): what people should look at, who holds what, and closing
an item with a human label.  The policy (which disagreements need a person, how urgent they are) lives
in `chainjudge.review.queue`; this module is only its SQL, so the store stays the one place that writes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from chainjudge.core.schema import Judgment, JudgmentSignal, Label, LabelDisagreement, QueueEntry, QueueItem, SplitVerdict, utc_now
from chainjudge.core.store.base import StorePart

_COLUMNS = "id, kind, run, trace_id, step_ref, step_index, criterion_id, detail, severity, priority"
_READ = _COLUMNS + ", rubric_id, segment, mode_id"
_FIELDS = [c.strip() for c in _READ.split(",")]
QUEUE_FACETS = ("kind", "criterion_id", "run", "rubric_id", "segment", "mode_id")


class LeaseLost(RuntimeError):
    """The reviewer no longer holds the item (the lease ran out and someone else took it, or it is done)."""


def _item(row: tuple[Any, ...]) -> QueueItem:
    return QueueItem(**dict(zip(_FIELDS, row, strict=True)))


def _where(facets: dict[str, str]) -> tuple[str, list[Any]]:
    unknown = set(facets) - set(QUEUE_FACETS)
    if unknown:
        raise ValueError(f"unknown queue filter {sorted(unknown)[0]!r}")
    return "".join(f" AND {column} = ?" for column in facets), list(facets.values())


class ReviewStore(StorePart):
    # -- what the queue is computed from
    def judgment_signals(self) -> Iterator[JudgmentSignal]:
        """Every judgment as the queue reads it: its place, label, error, judge kind, confidence and flag count."""
        sql = self.dialect
        return (
            JudgmentSignal._make(row)
            for row in self.query(
                "SELECT run, trace_id, step_ref, step_index, criterion_id, label, error, judge_kind, "
                f"{sql.json_number('data', 'verdict', 'confidence')}, {sql.json_array_length('data', 'flags')} FROM judgments"
            )
        )

    def judge_label_disagreements(self) -> list[LabelDisagreement]:
        """Where a human or ground-truth label differs from a judge's verdict."""
        return [
            LabelDisagreement._make(row)
            for row in self.query(
                "SELECT j.run, j.trace_id, j.step_ref, j.step_index, j.criterion_id, j.label, l.kind, l.value, l.annotator "
                "FROM judgments j JOIN labels l ON l.trace_id = j.trace_id AND l.step_key = j.step_ref "
                "AND l.criterion = j.criterion_id AND l.kind IN ('human', 'ground-truth') "
                "WHERE j.error IS NULL AND l.value != j.label"
            )
        ]

    def split_verdicts(self) -> list[SplitVerdict]:
        """Where judges gave different labels on a step and criterion (with_check: one of them is a check)."""
        sql = self.dialect
        return [
            SplitVerdict._make((*row[:7], bool(row[7])))
            for row in self.query(
                f"SELECT trace_id, step_ref, MIN(step_index), criterion_id, {sql.group_concat('label', distinct=True)}, "
                f"{sql.group_concat('judge', distinct=True)}, MIN(run), MAX(CASE WHEN judge_kind = 'check' THEN 1 ELSE 0 END) "
                "FROM judgments WHERE error IS NULL "
                "GROUP BY trace_id, step_ref, criterion_id HAVING COUNT(DISTINCT label) > 1"
            )
        ]

    # -- the queue itself
    def write_queue(self, rows: Sequence[QueueEntry]) -> int:
        """Upsert items, fill the facets people filter by, keep settled steps
        settled, in one transaction.  Returns the open items."""
        now = utc_now().isoformat()
        db = self._db
        with self.transaction():
            db.executemany(
                f"INSERT INTO review_queue ({_COLUMNS}, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET detail = excluded.detail, priority = excluded.priority, severity = excluded.severity",
                [(*r[:1], str(r.kind), *r[2:], now) for r in rows],
            )
            db.execute("UPDATE review_queue SET rubric_id = (SELECT rubric_id FROM runs WHERE runs.name = review_queue.run)")
            db.execute(
                f"UPDATE review_queue SET segment = (SELECT {self.dialect.json_text('data', 'metadata', 'segment')} "
                "FROM traces WHERE traces.id = review_queue.trace_id)"
            )
            db.execute(
                "UPDATE review_queue SET mode_id = (SELECT fa.mode_id FROM failure_assignments fa WHERE fa.run = review_queue.run "
                "AND fa.trace_id = review_queue.trace_id AND fa.step_index = review_queue.step_index "
                "AND fa.criterion_id = review_queue.criterion_id)"
            )
            # a step a reviewer has settled stays settled, whatever new disagreement the refresh found on it
            db.execute(
                "UPDATE review_queue SET done = 1 WHERE done = 0 AND EXISTS (SELECT 1 FROM review_queue d WHERE d.done = 1 "
                "AND d.trace_id = review_queue.trace_id AND d.step_ref = review_queue.step_ref "
                "AND d.criterion_id = review_queue.criterion_id)"
            )
            return int(db.execute("SELECT COUNT(*) FROM review_queue WHERE done = 0").fetchone()[0])

    def queue_page(self, offset: int, size: int, facets: dict[str, str]) -> list[QueueItem]:
        where, params = _where(facets)
        return [
            _item(row)
            for row in self.query(
                f"SELECT {_READ} FROM review_queue WHERE done = 0{where} ORDER BY priority DESC, id LIMIT ? OFFSET ?",
                [*params, size, offset],
            )
        ]

    def queue_counts(self) -> dict[str, int]:
        return dict(self.query("SELECT kind, COUNT(*) FROM review_queue WHERE done = 0 GROUP BY kind"))

    def lease_next(self, reviewer: str, now: float, until: float, facets: dict[str, str]) -> QueueItem | None:
        """The highest-priority open item nobody else holds at `now`, leased to this reviewer until `until`
        (a reviewer holds one item at a time).  On PostgreSQL, where writers do not wait for each other,
        an item another reviewer is taking at this moment is skipped (SKIP LOCKED), not taken twice.
        The lease is taken by an insert that replaces only an expired lease or the reviewer's own: on
        PostgreSQL, the row lock alone does not see a lease another reviewer committed a moment ago (read
        committed re-checks a locked row, not a subquery), so the insert is what decides, and a lost race
        moves on to the next item."""
        where, params = _where(facets)
        tried: list[str] = []
        with self.transaction():
            self._db.execute("DELETE FROM review_leases WHERE reviewer = ?", (reviewer,))
            while True:
                skip = f" AND q.id NOT IN ({','.join('?' * len(tried))})" if tried else ""
                row = self._db.execute(
                    f"SELECT {_READ} FROM review_queue q WHERE done = 0{where}{skip} AND NOT EXISTS ("
                    "SELECT 1 FROM review_leases l WHERE l.item_id = q.id AND l.expires_at > ? AND l.reviewer != ?) "
                    f"ORDER BY priority DESC, id LIMIT 1{self.dialect.skip_locked}",
                    [*params, *tried, now, reviewer],
                ).fetchone()
                if row is None:
                    return None
                taken = self._db.execute(
                    "INSERT INTO review_leases VALUES (?, ?, ?) ON CONFLICT (item_id) DO UPDATE SET "
                    "reviewer = excluded.reviewer, expires_at = excluded.expires_at "
                    "WHERE review_leases.expires_at <= ? OR review_leases.reviewer = ? RETURNING item_id",
                    (row[0], reviewer, until, now, reviewer),
                ).fetchone()
                if taken:
                    return _item(row)
                tried.append(row[0])

    def settle(self, item: QueueItem, reviewer: str, now: float, label: Label) -> None:
        """The reviewer's label as a new row and the item closed, in ONE transaction that first checks the
        reviewer still holds the lease; LeaseLost (nothing written) otherwise."""
        with self.transaction():
            # every queue row of the step, locked in id order before anything else (PostgreSQL; SQLite's
            # BEGIN IMMEDIATE already serialises): two reviewers settling items of one step wait in line
            # instead of each holding one row and waiting for the other's
            self._db.execute(
                "SELECT id FROM review_queue WHERE trace_id = ? AND step_ref = ? AND criterion_id = ? "
                f"ORDER BY id{self.dialect.for_update}",
                (item.trace_id, item.step_ref, item.criterion_id),
            )
            held = self._db.execute(
                "SELECT 1 FROM review_leases l JOIN review_queue q ON q.id = l.item_id "
                f"WHERE l.item_id = ? AND l.reviewer = ? AND l.expires_at > ? AND q.done = 0{self.dialect.for_update}",
                (item.id, reviewer, now),
            ).fetchone()
            if held is None:
                raise LeaseLost(
                    f"{reviewer} no longer holds {item.trace_id} step {item.step_ref} ({item.criterion_id}): "
                    "the lease ran out or the item was settled; nothing was saved"
                )
            self.add_labels([label])
            self._db.execute(
                "UPDATE review_queue SET done = 1 WHERE trace_id = ? AND step_ref = ? AND criterion_id = ?",
                (item.trace_id, item.step_ref, item.criterion_id),
            )
            self._db.execute("DELETE FROM review_leases WHERE item_id = ?", (item.id,))

    def release_leases(self, reviewer: str) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM review_leases WHERE reviewer = ?", (reviewer,))

    # -- what one item shows
    def step_judgments(self, trace_id: str, step_ref: str, criterion: str) -> list[Judgment]:
        return [
            Judgment.model_validate_json(data)
            for (data,) in self.query(
                "SELECT data FROM judgments WHERE trace_id = ? AND step_ref = ? AND criterion_id = ?", (trace_id, step_ref, criterion)
            )
        ]

    def step_labels(self, trace_id: str, step_ref: str, criterion: str) -> list[Label]:
        return [
            Label.model_validate_json(data)
            for (data,) in self.query(
                "SELECT data FROM labels WHERE trace_id = ? AND step_key = ? AND criterion = ? ORDER BY created_at",
                (trace_id, step_ref, criterion),
            )
        ]
