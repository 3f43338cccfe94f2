"""The CEP pack's own tables in the store: user states people annotate with the expected next action, and
their annotations.  The pack creates them through its migrations when it first touches a store (the core
store knows nothing of them); each state and annotation is kept as the pack's JSON, and the newest
annotation per (state, annotator) counts, older ones staying as history (append-only: a change of mind is
a new row)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from chainjudge.core.schema import utc_now
from chainjudge.core.store import Store

OWNER = "cep"

# Append-only, like the core's: never edit one that has shipped; add a new one.  IF NOT EXISTS because
# stores made before the tables moved here got them from the core's retired migration 016.
MIGRATIONS: list[tuple[str, object]] = [
    (
        "001_states",
        """
        CREATE TABLE IF NOT EXISTS states (id TEXT PRIMARY KEY, origin TEXT NOT NULL, data TEXT NOT NULL, created_at TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS state_annotations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            state_id TEXT NOT NULL REFERENCES states(id),
            annotator TEXT NOT NULL,
            data TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS state_annotations_by_state ON state_annotations (state_id, annotator)
        """,
    ),
]


class StateRow(NamedTuple):
    id: str
    origin: str
    data: str  # the pack's JSON of the state (a Scenario)


class StateAnnotation(NamedTuple):
    state_id: str
    annotator: str
    data: str  # the pack's JSON of the expected action


class StateTables:
    """The states and their annotations in one store (its tables created on first use)."""

    def __init__(self, store: Store) -> None:
        store.apply_migrations(OWNER, MIGRATIONS)
        self.store = store

    def save_states(self, states: Sequence[tuple[str, str, str]]) -> int:
        """(id, origin, JSON) rows; a state already stored keeps its first content. Returns how many were new."""
        now = utc_now().isoformat()
        return self.store.write_many("INSERT OR IGNORE INTO states VALUES (?, ?, ?, ?)", [(*row, now) for row in states])

    def states(self, ids: Sequence[str] | None = None) -> list[StateRow]:
        """Every state (or those with the IDS), in the order they were stored."""
        rows = self.store.query("SELECT id, origin, data FROM states ORDER BY rowid")
        wanted = set(ids) if ids is not None else None
        return [StateRow(*r) for r in rows if wanted is None or r[0] in wanted]

    def add_state_annotation(self, state_id: str, annotator: str, data: str) -> None:
        with self.store.transaction():
            if not self.store.query("SELECT 1 FROM states WHERE id = ?", (state_id,)):
                raise KeyError(f"no state {state_id!r} in {self.store.location}")
            self.store.write_many(
                "INSERT INTO state_annotations (state_id, annotator, data, created_at) VALUES (?, ?, ?, ?)",
                [(state_id, annotator, data, utc_now().isoformat())],
            )

    def state_annotations(self) -> list[StateAnnotation]:
        """The newest annotation per (state, annotator), oldest first."""
        rows = self.store.query(
            "SELECT state_id, annotator, data FROM state_annotations a WHERE id = (SELECT MAX(id) FROM state_annotations b "
            "WHERE b.state_id = a.state_id AND b.annotator = a.annotator) ORDER BY id"
        )
        return [StateAnnotation(*r) for r in rows]
