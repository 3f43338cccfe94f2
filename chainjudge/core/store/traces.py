"""Trace versions, what runs were judged against, OTLP spans, embeddings, failure assignments and
redaction maps: the parts of the store about traces (a mixin of Store)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainjudge.core.schema import Trace, utc_now
from chainjudge.core.store.base import RunMismatch, StorePart
from chainjudge.core.store.migrations import trace_version

ItemKey = tuple[str, int, str]  # (trace id, step index, criterion id): one judged item of a run


class TraceStore(StorePart):
    def save_traces(self, traces: Sequence[Trace], prune_unpinned: bool = False) -> dict[str, str]:
        """Store traces; a trace whose content changed under an old id is a new version (the old one is
        kept for the runs that judged it).  Returns trace id -> version.  prune_unpinned drops older
        versions no run judged (the OTLP receiver rebuilds a trace on every export)."""
        now = utc_now().isoformat()
        rows = [(t.id, t.source, t.format, t.model_dump_json()) for t in traces]
        versions = {trace_id: trace_version(data) for trace_id, _, _, data in rows}
        with self.transaction():
            if prune_unpinned:
                self._db.executemany(
                    "DELETE FROM trace_versions WHERE id = ? AND version != ? AND version NOT IN "
                    "(SELECT version FROM run_traces WHERE trace_id = ?)",
                    [(i, v, i) for i, v in versions.items()],
                )
            self._db.executemany(
                "INSERT OR IGNORE INTO trace_versions VALUES (?, ?, ?, ?, ?, ?)",
                [(i, versions[i], src, fmt, data, now) for i, src, fmt, data in rows],
            )
            self._db.executemany(
                "INSERT INTO traces VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "source=excluded.source, format=excluded.format, data=excluded.data, updated_at=excluded.updated_at",
                [(i, src, fmt, data, now) for i, src, fmt, data in rows],
            )
        return versions

    def pin_traces(self, run: str, versions: dict[str, str]) -> None:
        """Record which version of each trace a run judges; a resumed run given a changed trace is refused."""
        with self.transaction():
            pinned = dict(self._db.execute("SELECT trace_id, version FROM run_traces WHERE run = ?", (run,)))
            changed = [i for i, v in versions.items() if pinned.get(i, v) != v]
            if changed:
                raise RunMismatch(
                    f"run {run!r} judged another version of {len(changed)} trace(s) ({', '.join(changed[:3])}"
                    f"{' ...' if len(changed) > 3 else ''}): their content changed since. A run keeps the traces it "
                    "judged; give a new --run name to judge the new versions."
                )
            self._db.executemany("INSERT OR IGNORE INTO run_traces VALUES (?, ?, ?)", [(run, i, v) for i, v in versions.items()])

    def trace_versions(self) -> list[tuple[str, int, str, str]]:
        """(trace id, versions, newest version's time, runs that judged any version) per trace."""
        runs = self.dialect.group_concat("r.run || '@' || r.version", " ")
        return self.query(
            "SELECT v.id, COUNT(DISTINCT v.version), MAX(v.created_at), "
            f"(SELECT {runs} FROM run_traces r WHERE r.trace_id = v.id) "
            "FROM trace_versions v GROUP BY v.id ORDER BY v.id"
        )

    # -- what a run was judged against (expected actions, the scenario space), as text
    def set_run_context(self, run: str, name: str, text: str) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO run_context VALUES (?, ?, ?) ON CONFLICT (run, name) DO UPDATE SET data = excluded.data", (run, name, text)
            )

    def run_context(self, run: str, name: str) -> str | None:
        rows = self.query("SELECT data FROM run_context WHERE run = ? AND name = ?", (run, name))
        return rows[0][0] if rows else None

    def add_spans(self, rows: Sequence[tuple[str, str, str]]) -> int:
        """Raw OTLP spans (trace id, span id, JSON) as received; a span id seen before is ignored."""
        now = utc_now().isoformat()
        with self.transaction():
            before = self._db.total_changes
            self._db.executemany("INSERT OR IGNORE INTO otlp_spans VALUES (?, ?, ?, ?)", [(t, s, d, now) for t, s, d in rows])
            return int(self._db.total_changes - before)

    def get_embeddings(self, model: str, hashes: Sequence[str]) -> dict[str, Any]:
        import numpy as np

        found = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            rows = self._db.execute(
                f"SELECT content_hash, vector FROM embeddings WHERE model = ? AND content_hash IN ({','.join('?' * len(chunk))})",
                [model, *chunk],
            )
            found.update({h: np.frombuffer(v, dtype=np.float32) for h, v in rows})
        return found

    def put_embeddings(self, model: str, rows: Sequence[tuple[Any, ...]]) -> None:
        import numpy as np

        with self.transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?)",
                [(model, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in rows],
            )

    def set_assignments(self, run: str, rows: Sequence[tuple[ItemKey, str]]) -> None:
        """Which failure mode each failing judgment of a run fell into ((trace, step index, criterion), mode
        id); replaces the run's.  Keyed per item, like judgments: two items may share a cache key."""
        with self.transaction():
            self._db.execute("DELETE FROM failure_assignments WHERE run = ?", (run,))
            self._db.executemany("INSERT INTO failure_assignments VALUES (?, ?, ?, ?, ?)", [(run, t, i, c, m) for (t, i, c), m in rows])

    def assignments(self, run: str) -> dict[ItemKey, str]:
        return {
            (t, i, c): m
            for t, i, c, m in self._db.execute(
                "SELECT trace_id, step_index, criterion_id, mode_id FROM failure_assignments WHERE run = ?", (run,)
            )
        }

    def span_count(self, trace_id: str) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM otlp_spans WHERE trace_id = ?", (trace_id,)).fetchone()[0])

    def span_trace_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(DISTINCT trace_id) FROM otlp_spans").fetchone()[0])

    def spans_of(self, trace_id: str) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT data FROM otlp_spans WHERE trace_id = ? ORDER BY rowid", (trace_id,))]

    def save_redactions(self, trace_id: str, mapping: dict[str, str]) -> None:
        """The placeholder -> original map of one trace; it stays in this local file, never sent anywhere."""
        with self.transaction():
            self._db.executemany(
                "INSERT INTO redactions VALUES (?, ?, ?) ON CONFLICT (trace_id, placeholder) DO UPDATE SET original = excluded.original",
                [(trace_id, k, v) for k, v in mapping.items()],
            )

    def redactions(self, trace_id: str) -> dict[str, str]:
        return dict(self._db.execute("SELECT placeholder, original FROM redactions WHERE trace_id = ?", (trace_id,)))

    def get_trace(self, trace_id: str, run: str | None = None) -> Trace | None:
        """The newest version of a trace, or with run, the version that run judged."""
        if run is not None:
            row = self._db.execute(
                "SELECT v.data FROM run_traces r JOIN trace_versions v ON v.id = r.trace_id AND v.version = r.version "
                "WHERE r.run = ? AND r.trace_id = ?",
                (run, trace_id),
            ).fetchone()
            if row:
                return Trace.model_validate_json(row[0])
        row = self._db.execute("SELECT data FROM traces WHERE id = ?", (trace_id,)).fetchone()
        return Trace.model_validate_json(row[0]) if row else None

    def trace_ids(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT id FROM traces ORDER BY id")]
