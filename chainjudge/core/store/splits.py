"""The sealed test split (a mixin of Store): which traces are for tuning a judge and which are kept for
testing it, every look at the test split, so a figure measured on it can say how fresh it is, and the
aligned judges tuned on it."""

from __future__ import annotations

from chainjudge.core.schema import AlignedJudge, Verifier, utc_now
from chainjudge.core.store.base import StorePart


class SplitStore(StorePart):
    def save_split(self, assignment: dict[str, str], seed: int, test_share: float) -> None:
        """Replace the split with this one (trace id -> tune | test), in one transaction."""
        now = utc_now().isoformat()
        with self.transaction():
            self._db.execute("DELETE FROM label_splits")
            self._db.executemany(
                "INSERT INTO label_splits VALUES (?, ?, ?, ?, ?)",
                [(trace, split, seed, test_share, now) for trace, split in sorted(assignment.items())],
            )

    def add_to_split(self, assignment: dict[str, str], seed: int, test_share: float) -> None:
        """Place new traces; a trace already placed keeps its side (the row is never replaced)."""
        now = utc_now().isoformat()
        with self.transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO label_splits VALUES (?, ?, ?, ?, ?)",
                [(trace, split, seed, test_share, now) for trace, split in sorted(assignment.items())],
            )

    def split(self) -> dict[str, str]:
        return dict(self.query("SELECT trace_id, split FROM label_splits"))

    def split_settings(self) -> tuple[int, float] | None:
        """(seed, test share) of the stored split, or None when there is none."""
        rows = self.query("SELECT seed, test_share FROM label_splits LIMIT 1")
        return (int(rows[0][0]), float(rows[0][1])) if rows else None

    def record_look(self, candidate: str, version: str, criterion: str) -> int:
        """Note a look at the test split; returns the looks by this candidate at this version (this one included)."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO split_looks (candidate, version, criterion, at) VALUES (?, ?, ?, ?)",
                (candidate, version, criterion, utc_now().isoformat()),
            )
            return int(
                self._db.execute("SELECT COUNT(*) FROM split_looks WHERE candidate = ? AND version = ?", (candidate, version)).fetchone()[0]
            )

    def save_aligned(self, judge: AlignedJudge) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO aligned_judges VALUES (?, ?, ?, ?)",
                (judge.name, judge.version, judge.model_dump_json(), utc_now().isoformat()),
            )

    def aligned_judges(self) -> list[AlignedJudge]:
        """The newest version of every aligned judge, by name."""
        rows = self.query(
            "SELECT a.data FROM aligned_judges a WHERE a.rowid = (SELECT b.rowid FROM aligned_judges b "
            "WHERE b.name = a.name ORDER BY b.created_at DESC, b.rowid DESC LIMIT 1) ORDER BY a.name"
        )
        return [AlignedJudge.model_validate_json(data) for (data,) in rows]

    def looks(self, version: str) -> int:
        """How many times the test split was looked at by judges of this version (any criterion)."""
        return int(self.query("SELECT COUNT(*) FROM split_looks WHERE version = ?", (version,))[0][0])

    def aligned(self, name: str) -> AlignedJudge | None:
        """The newest version of the aligned judge NAME."""
        rows = self.query("SELECT data FROM aligned_judges WHERE name = ? ORDER BY created_at DESC, rowid DESC LIMIT 1", (name,))
        return AlignedJudge.model_validate_json(rows[0][0]) if rows else None

    def save_verifier(self, verifier: Verifier) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO verifiers VALUES (?, ?, ?, ?, ?)",
                (verifier.name, verifier.version, verifier.criterion, verifier.model_dump_json(), utc_now().isoformat()),
            )

    def verifier(self, name: str, version: str | None = None) -> Verifier | None:
        """The newest version of the verifier NAME, or the given VERSION of it."""
        if version is not None:
            rows = self.query("SELECT data FROM verifiers WHERE name = ? AND version = ?", (name, version))
        else:
            rows = self.query("SELECT data FROM verifiers WHERE name = ? ORDER BY created_at DESC, rowid DESC LIMIT 1", (name,))
        return Verifier.model_validate_json(rows[0][0]) if rows else None

    def verifiers(self) -> list[Verifier]:
        """The newest version of every verifier, by name."""
        rows = self.query(
            "SELECT v.data FROM verifiers v WHERE v.rowid = (SELECT w.rowid FROM verifiers w "
            "WHERE w.name = v.name ORDER BY w.created_at DESC, w.rowid DESC LIMIT 1) ORDER BY v.name"
        )
        return [Verifier.model_validate_json(data) for (data,) in rows]
