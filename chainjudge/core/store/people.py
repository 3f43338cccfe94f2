"""Labels (append-only: a correction is a new row) and reviewers: the parts of the store about people
(a mixin of Store)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from chainjudge.core.schema import Label, utc_now
from chainjudge.core.store.base import StorePart, utc_text


class PeopleStore(StorePart):
    def add_labels(self, labels: Sequence[Label]) -> int:
        """Insert labels; an identical row already stored is ignored. Returns how many were new."""
        now = utc_now().isoformat()
        rows = []
        for label in labels:
            data = label.model_dump_json(exclude={"source"})
            rows.append(
                (
                    hashlib.sha256(data.encode()).hexdigest(),
                    label.trace_id,
                    label.step_key,
                    label.criterion,
                    label.value,
                    label.annotator,
                    label.kind,
                    label.model_dump_json(),
                    utc_text(label.created_at) if label.created_at else now,
                )
            )
        with self.transaction():
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO labels (content_hash, trace_id, step_key, criterion, value, annotator, kind, "
                "data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return int(self._db.total_changes - before)

    def labels(self, criterion: str | None = None, annotators: Sequence[str] | None = None) -> list[Label]:
        """The newest label per (annotator, trace, step, criterion)."""
        query = (
            "SELECT data FROM labels l WHERE id = (SELECT id FROM labels m WHERE m.annotator = l.annotator AND "
            "m.trace_id = l.trace_id AND m.step_key = l.step_key AND m.criterion = l.criterion "
            "ORDER BY m.created_at DESC, m.id DESC LIMIT 1)"
        )
        params: list[Any] = []
        if criterion is not None:
            query += " AND criterion = ?"
            params.append(criterion)
        if annotators is not None:
            query += f" AND annotator IN ({','.join('?' * len(annotators))})"
            params.extend(annotators)
        return [Label.model_validate_json(row[0]) for row in self._db.execute(query, params)]

    def reference_label_times(self) -> list[tuple[str, str, str]]:
        """(trace, criterion, stored at: UTC text) of every human or ground-truth label row."""
        return self.query("SELECT trace_id, criterion, created_at FROM labels WHERE kind IN ('human', 'ground-truth')")

    def label_summary(self) -> list[tuple[str, str, str, int]]:
        """(annotator, kind, criterion, rows) for every annotator and criterion."""
        return list(self._db.execute("SELECT annotator, kind, criterion, COUNT(*) FROM labels GROUP BY 1, 2, 3 ORDER BY 1, 3"))

    def add_reviewer(self, name: str, token_hash: str) -> None:
        """Register a reviewer (or re-issue a revoked one a new token)."""
        with self.transaction():
            row = self._db.execute("SELECT revoked_at FROM reviewers WHERE name = ?", (name,)).fetchone()
            if row and row[0] is None:
                raise ValueError(f"a reviewer named {name!r} exists; revoke it first to issue a new token")
            self._db.execute("DELETE FROM reviewers WHERE name = ?", (name,))
            self._db.execute("INSERT INTO reviewers VALUES (?, ?, ?, NULL)", (name, token_hash, utc_now().isoformat()))

    def revoke_reviewer(self, name: str) -> bool:
        """The reviewer's token stops signing in; their adjudications stay, and the row stays as a record
        that this store uses personal tokens (so revoking the last one never opens the app to names)."""
        with self.transaction():
            row = self._db.execute("SELECT 1 FROM reviewers WHERE name = ? AND revoked_at IS NULL", (name,)).fetchone()
            self._db.execute("UPDATE reviewers SET revoked_at = ? WHERE name = ?", (utc_now().isoformat(), name))
        return row is not None

    def reviewers(self) -> list[tuple[str, str]]:
        """(name, created_at) of every reviewer who can sign in."""
        return self.query("SELECT name, created_at FROM reviewers WHERE revoked_at IS NULL ORDER BY name")

    def uses_personal_tokens(self) -> bool:
        """True once any reviewer was ever registered (revoked ones included)."""
        return bool(self.query("SELECT 1 FROM reviewers LIMIT 1"))

    def reviewer_by_token_hash(self, token_hash: str) -> str | None:
        rows = self.query("SELECT name FROM reviewers WHERE token_hash = ? AND revoked_at IS NULL", (token_hash,))
        return rows[0][0] if rows else None

    def local_secret(self, name: str) -> bytes:
        """A random 32-byte key kept in this store file only, made on first use (e.g. the key that
        pseudonymises imported customer ids: the same customer gets the same pseudonym in this store,
        and nobody without the file can reverse or recompute it)."""
        import secrets

        with self.transaction():
            row = self._db.execute("SELECT value FROM local_secrets WHERE name = ?", (name,)).fetchone()
            if row:
                return bytes(row[0])
            value = secrets.token_bytes(32)
            self._db.execute("INSERT INTO local_secrets VALUES (?, ?, ?)", (name, value, utc_now().isoformat()))
            return value
