"""States people annotate with the expected next action (a mixin of Store).  The store keeps each state
and annotation as the pack's JSON and never reads inside it; the newest annotation per (state,
annotator) counts, older ones stay as history."""

from __future__ import annotations

from collections.abc import Sequence

from chainjudge.core.schema import utc_now
from chainjudge.core.store.base import StorePart


class StateStore(StorePart):
    def save_states(self, states: Sequence[tuple[str, str, str]]) -> int:
        """(id, origin, JSON) rows; a state already stored keeps its first content. Returns how many were new."""
        now = utc_now().isoformat()
        with self.transaction():
            before = self._db.total_changes
            self._db.executemany("INSERT OR IGNORE INTO states VALUES (?, ?, ?, ?)", [(*row, now) for row in states])
            return int(self._db.total_changes - before)

    def states(self, ids: Sequence[str] | None = None) -> list[tuple[str, str, str]]:
        """(id, origin, JSON), in the order they were stored."""
        rows = self.query("SELECT id, origin, data FROM states ORDER BY rowid")
        wanted = set(ids) if ids is not None else None
        return [r for r in rows if wanted is None or r[0] in wanted]

    def add_state_annotation(self, state_id: str, annotator: str, data: str) -> None:
        with self.transaction():
            if self._db.execute("SELECT 1 FROM states WHERE id = ?", (state_id,)).fetchone() is None:
                raise KeyError(f"no state {state_id!r} in {self.location}")
            self._db.execute(
                "INSERT INTO state_annotations (state_id, annotator, data, created_at) VALUES (?, ?, ?, ?)",
                (state_id, annotator, data, utc_now().isoformat()),
            )

    def state_annotations(self) -> list[tuple[str, str, str]]:
        """The newest annotation per (state, annotator): (state id, annotator, JSON), oldest first."""
        return self.query(
            "SELECT state_id, annotator, data FROM state_annotations a WHERE id = (SELECT MAX(id) FROM state_annotations b "
            "WHERE b.state_id = a.state_id AND b.annotator = a.annotator) ORDER BY id"
        )
