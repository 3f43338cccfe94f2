"""SQLite store (WAL) for runs, traces and judgments, with append-only named migrations.

Why SQLite: one file the user owns, safe for several readers and one writer at a time, resumable by
construction: every judgment is committed as it arrives and keyed by (run, cache key), so re-running a
command makes only the judgments that are missing and never duplicates one.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from chainjudge.schema import Judgment, Label, Run, Trace, utc_now

DEFAULT_DB = Path(".chainjudge") / "chainjudge.db"

# Append-only: never edit a migration that has shipped; add a new one.
MIGRATIONS: list[tuple[str, object]] = [  # SQL text, or a function of the connection
    (
        "001_runs_traces_judgments",
        """
        CREATE TABLE runs (
            name TEXT PRIMARY KEY,
            rubric_id TEXT NOT NULL,
            rubric_hash TEXT NOT NULL,
            judge TEXT NOT NULL,
            data TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE traces (
            id TEXT PRIMARY KEY,
            source TEXT,
            format TEXT,
            data TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE judgments (
            id INTEGER PRIMARY KEY,
            run TEXT NOT NULL REFERENCES runs(name),
            cache_key TEXT NOT NULL,
            trace_id TEXT NOT NULL,
            step_index INTEGER NOT NULL,
            step_ref TEXT NOT NULL,
            criterion_id TEXT NOT NULL,
            judge TEXT NOT NULL,
            label TEXT,
            passed INTEGER,
            error TEXT,
            cost_usd REAL NOT NULL DEFAULT 0,
            data TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (run, cache_key)
        );
        CREATE INDEX judgments_key ON judgments (cache_key) WHERE error IS NULL;
        CREATE INDEX judgments_run_criterion ON judgments (run, criterion_id);
        CREATE INDEX judgments_trace ON judgments (trace_id, step_ref);
        """,
    ),
    (
        "002_labels",
        """
        CREATE TABLE labels (
            id INTEGER PRIMARY KEY,
            content_hash TEXT NOT NULL UNIQUE,
            trace_id TEXT NOT NULL,
            step_key TEXT NOT NULL,
            criterion TEXT NOT NULL,
            value TEXT NOT NULL,
            annotator TEXT NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX labels_criterion_annotator ON labels (criterion, annotator);
        CREATE INDEX labels_item ON labels (trace_id, step_key)
        """,
    ),
    (
        "003_redactions",
        """
        CREATE TABLE redactions (
            trace_id TEXT NOT NULL,
            placeholder TEXT NOT NULL,
            original TEXT NOT NULL,
            PRIMARY KEY (trace_id, placeholder)
        )
        """,
    ),
    (
        "004_otlp_spans",
        """
        CREATE TABLE otlp_spans (
            trace_id TEXT NOT NULL,
            span_id TEXT NOT NULL,
            data TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (trace_id, span_id)
        )
        """,
    ),
    (
        "005_embeddings",
        """
        CREATE TABLE embeddings (
            model TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (model, content_hash)
        )
        """,
    ),
    (
        "006_failure_assignments",
        """
        CREATE TABLE failure_assignments (
            run TEXT NOT NULL,
            cache_key TEXT NOT NULL,
            mode_id TEXT NOT NULL,
            PRIMARY KEY (run, cache_key)
        )
        """,
    ),
    (
        "007_review",
        """
        CREATE TABLE review_queue (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            run TEXT NOT NULL,
            trace_id TEXT NOT NULL,
            step_ref TEXT NOT NULL,
            step_index INTEGER NOT NULL,
            criterion_id TEXT NOT NULL,
            detail TEXT NOT NULL,
            severity TEXT NOT NULL,
            priority REAL NOT NULL,
            done INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );
        CREATE INDEX review_queue_open ON review_queue (done, priority DESC, id);
        CREATE INDEX review_queue_kind ON review_queue (done, kind, priority DESC);
        CREATE TABLE review_leases (
            item_id TEXT PRIMARY KEY,
            reviewer TEXT NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE INDEX labels_lookup ON labels (trace_id, step_key, criterion, kind)
        """,
    ),
    (
        "008_review_facets",
        """
        ALTER TABLE review_queue ADD COLUMN rubric_id TEXT;
        ALTER TABLE review_queue ADD COLUMN segment TEXT;
        ALTER TABLE review_queue ADD COLUMN mode_id TEXT
        """,
    ),
    (
        "009_reviewers",
        """
        CREATE TABLE reviewers (
            name TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )
        """,
    ),
    (
        # every (run, trace, step, criterion) keeps its judgment: keyed by the cache key alone, two traces
        # with an identical step (same prompt) shared one row and the second judgment was dropped
        "010_judgments_per_item",
        """
        CREATE TABLE judgments_v2 (
            id INTEGER PRIMARY KEY,
            run TEXT NOT NULL REFERENCES runs(name),
            cache_key TEXT NOT NULL,
            trace_id TEXT NOT NULL,
            step_index INTEGER NOT NULL,
            step_ref TEXT NOT NULL,
            criterion_id TEXT NOT NULL,
            judge TEXT NOT NULL,
            label TEXT,
            passed INTEGER,
            error TEXT,
            cost_usd REAL NOT NULL DEFAULT 0,
            data TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (run, trace_id, step_index, criterion_id)
        );
        INSERT OR IGNORE INTO judgments_v2 SELECT * FROM judgments ORDER BY id;
        CREATE TABLE judgments_superseded AS SELECT * FROM judgments WHERE id NOT IN (SELECT id FROM judgments_v2);
        DROP TABLE judgments;
        ALTER TABLE judgments_v2 RENAME TO judgments;
        CREATE INDEX judgments_key ON judgments (cache_key) WHERE error IS NULL;
        CREATE INDEX judgments_run_criterion ON judgments (run, criterion_id);
        CREATE INDEX judgments_trace ON judgments (trace_id, step_ref)
        """,
    ),
    ("011_trace_versions", lambda db: _trace_versions(db)),
    (
        # label times as UTC instants, so "newest" compares instants, not text with mixed offsets
        "012_labels_utc",
        """
        UPDATE labels SET created_at = COALESCE(strftime('%Y-%m-%dT%H:%M:%f', created_at) || '+00:00', created_at)
        """,
    ),
    (
        # what a run was judged against (expected actions, scenario space), so every view scores it alike
        "013_run_context",
        """
        CREATE TABLE run_context (
            run TEXT NOT NULL REFERENCES runs(name),
            name TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (run, name)
        )
        """,
    ),
    (
        # kinds as fields, not prefixes of a text: judge_kind (model | check) and error_kind, moved out of
        # the stored rows ("timeout: ..." and "check:NAME") once, here
        "014_kinds_as_fields",
        """
        ALTER TABLE judgments ADD COLUMN error_kind TEXT;
        ALTER TABLE judgments ADD COLUMN judge_kind TEXT NOT NULL DEFAULT 'model';
        UPDATE judgments SET error_kind = substr(error, 1, instr(error, ':') - 1) WHERE error IS NOT NULL AND instr(error, ':') > 1;
        UPDATE judgments SET error_kind = 'error' WHERE error IS NOT NULL AND error_kind IS NULL;
        UPDATE judgments SET judge_kind = 'check' WHERE judge LIKE 'check:%';
        UPDATE judgments SET data = json_set(data, '$.error_kind', error_kind, '$.judge_kind', judge_kind)
        """,
    ),
]


def trace_version(data: str) -> str:
    """A trace's version: the hash of its stored JSON (same content, same version)."""
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _trace_versions(db) -> None:
    """Every version of every trace, and which version each run judged (runs made before this point at
    the only version known)."""
    db.execute(
        "CREATE TABLE trace_versions (id TEXT NOT NULL, version TEXT NOT NULL, source TEXT, format TEXT, "
        "data TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (id, version))"
    )
    db.execute("CREATE TABLE run_traces (run TEXT NOT NULL, trace_id TEXT NOT NULL, version TEXT NOT NULL, PRIMARY KEY (run, trace_id))")
    for trace_id, source, fmt, data, updated in db.execute("SELECT id, source, format, data, updated_at FROM traces").fetchall():
        db.execute("INSERT OR IGNORE INTO trace_versions VALUES (?, ?, ?, ?, ?, ?)",
                   (trace_id, trace_version(data), source, fmt, data, updated))
    db.execute("INSERT OR IGNORE INTO run_traces SELECT DISTINCT j.run, j.trace_id, v.version FROM judgments j "
               "JOIN trace_versions v ON v.id = j.trace_id")


def _utc_text(stamp) -> str:
    """An instant as UTC ISO text (naive times taken as UTC), so text order is time order."""
    from datetime import timezone

    stamp = stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp.astimezone(timezone.utc)
    return stamp.isoformat()


def resolve_db_path(db: str | os.PathLike | None) -> Path:
    """--db beats CHAINJUDGE_DB beats .chainjudge/chainjudge.db in the working directory."""
    if db:
        return Path(db)
    env = os.environ.get("CHAINJUDGE_DB")
    return Path(env) if env else DEFAULT_DB


class RunMismatch(ValueError):
    pass


# the judge settings that change answers; a run keeps them for life (the address it reaches may change)
FIXED_SETTINGS = ("mode", "batch", "temperature", "max_tokens", "max_reasks", "ask_evidence", "sample", "redact_pii",
                  "max_context_chars", "max_step_chars")


@dataclass(frozen=True)
class RunSummary:
    name: str
    rubric_id: str
    judge: str
    created_at: str
    judgments: int
    scored: int
    passed: int
    errors: int
    cost_usd: float


@dataclass(frozen=True)
class CriterionSummary:
    criterion_id: str
    judgments: int
    scored: int
    passed: int
    errors: int
    cost_usd: float

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.scored if self.scored else None


class Store:
    """One connection to one store file.  Safe to share between threads: every transaction holds the
    store's lock (one at a time per connection), and `query` reads under it too.  The review app still
    gives each browser session a Store of its own, so sessions never wait on each other's reads."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0
        self._db = _Locked(sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False), self._lock)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._migrate()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- migrations
    def _migrate(self) -> None:
        self._db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        applied = {row[0] for row in self._db.execute("SELECT name FROM migrations")}
        for name, sql in MIGRATIONS:
            if name in applied:
                continue
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if not self._db.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone():
                    if callable(sql):
                        sql(self._db)
                    else:
                        for statement in filter(str.strip, sql.split(";")):
                            self._db.execute(statement)
                    self._db.execute("INSERT INTO migrations VALUES (?, ?)", (name, utc_now().isoformat()))
                self._db.execute("COMMIT")
            except Exception:
                self._db.execute("ROLLBACK")
                raise

    def migrations(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT name FROM migrations ORDER BY name")]

    # -- runs
    def save_run(self, run: Run) -> Run:
        """Create the run, or return the stored one; a run name is bound to one rubric version and judge."""
        row = self._db.execute("SELECT data FROM runs WHERE name = ?", (run.name,)).fetchone()
        if row:
            existing = Run.model_validate_json(row[0])
            if existing.rubric_hash != run.rubric_hash or existing.judge.model != run.judge.model:
                raise RunMismatch(
                    f"run {run.name!r} was judged with rubric {existing.rubric_id}@{existing.rubric_hash} by "
                    f"{existing.judge.model}; this command uses {run.rubric_id}@{run.rubric_hash} by "
                    f"{run.judge.model}. Give a new --run name."
                )
            differing = [name for name in FIXED_SETTINGS if getattr(existing.judge, name) != getattr(run.judge, name)]
            if differing:
                changes = ", ".join(f"{n} {getattr(existing.judge, n)!r} -> {getattr(run.judge, n)!r}" for n in differing)
                raise RunMismatch(
                    f"run {run.name!r} was judged with other judge settings ({changes}); a run's settings are fixed, "
                    "so its judgments stay comparable. Give a new --run name."
                )
            return existing
        self._db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
            (run.name, run.rubric_id, run.rubric_hash, run.judge.model, run.model_dump_json(), run.created_at.isoformat()),
        )
        return run

    def get_run(self, name: str) -> Run | None:
        row = self._db.execute("SELECT data FROM runs WHERE name = ?", (name,)).fetchone()
        return Run.model_validate_json(row[0]) if row else None

    def runs(self) -> list[RunSummary]:
        rows = self._db.execute(
            """
            SELECT r.name, r.rubric_id, r.judge, r.created_at, COUNT(j.id),
                   COALESCE(SUM(j.error IS NULL), 0), COALESCE(SUM(j.passed = 1), 0),
                   COALESCE(SUM(j.error IS NOT NULL), 0), COALESCE(SUM(j.cost_usd), 0)
            FROM runs r LEFT JOIN judgments j ON j.run = r.name
            GROUP BY r.name ORDER BY r.created_at
            """
        )
        return [RunSummary(*row) for row in rows]

    # -- traces
    def save_traces(self, traces: Sequence[Trace], prune_unpinned: bool = False) -> dict[str, str]:
        """Store traces; a trace whose content changed under an old id is a new version (the old one is
        kept for the runs that judged it).  Returns trace id -> version.  prune_unpinned drops older
        versions no run judged (the OTLP receiver rebuilds a trace on every export)."""
        now = utc_now().isoformat()
        rows = [(t.id, t.source, t.format, t.model_dump_json()) for t in traces]
        versions = {trace_id: trace_version(data) for trace_id, _, _, data in rows}
        with self._transaction():
            if prune_unpinned:
                self._db.executemany(
                    "DELETE FROM trace_versions WHERE id = ? AND version != ? AND version NOT IN "
                    "(SELECT version FROM run_traces WHERE trace_id = ?)", [(i, v, i) for i, v in versions.items()])
            self._db.executemany("INSERT OR IGNORE INTO trace_versions VALUES (?, ?, ?, ?, ?, ?)",
                                 [(i, versions[i], src, fmt, data, now) for i, src, fmt, data in rows])
            self._db.executemany(
                "INSERT INTO traces VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "source=excluded.source, format=excluded.format, data=excluded.data, updated_at=excluded.updated_at",
                [(i, src, fmt, data, now) for i, src, fmt, data in rows],
            )
        return versions

    def pin_traces(self, run: str, versions: dict[str, str]) -> None:
        """Record which version of each trace a run judges; a resumed run given a changed trace is refused."""
        with self._transaction():
            pinned = dict(self._db.execute("SELECT trace_id, version FROM run_traces WHERE run = ?", (run,)))
            changed = [i for i, v in versions.items() if pinned.get(i, v) != v]
            if changed:
                raise RunMismatch(
                    f"run {run!r} judged another version of {len(changed)} trace(s) ({', '.join(changed[:3])}"
                    f"{' ...' if len(changed) > 3 else ''}): their content changed since. A run keeps the traces it "
                    "judged; give a new --run name to judge the new versions.")
            self._db.executemany("INSERT OR IGNORE INTO run_traces VALUES (?, ?, ?)", [(run, i, v) for i, v in versions.items()])

    def trace_versions(self) -> list[tuple[str, int, str, str]]:
        """(trace id, versions, newest version's time, runs that judged any version) per trace."""
        return self.query(
            "SELECT v.id, COUNT(DISTINCT v.version), MAX(v.created_at), "
            "(SELECT GROUP_CONCAT(r.run || '@' || r.version, ' ') FROM run_traces r WHERE r.trace_id = v.id) "
            "FROM trace_versions v GROUP BY v.id ORDER BY v.id")

    # -- what a run was judged against (expected actions, the scenario space), as text
    def set_run_context(self, run: str, name: str, text: str) -> None:
        with self._transaction():
            self._db.execute("INSERT INTO run_context VALUES (?, ?, ?) ON CONFLICT (run, name) DO UPDATE SET data = excluded.data",
                             (run, name, text))

    def run_context(self, run: str, name: str) -> str | None:
        rows = self.query("SELECT data FROM run_context WHERE run = ? AND name = ?", (run, name))
        return rows[0][0] if rows else None

    def add_spans(self, rows: Sequence[tuple[str, str, str]]) -> int:
        """Raw OTLP spans (trace id, span id, JSON) as received; a span id seen before is ignored."""
        now = utc_now().isoformat()
        with self._transaction():
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO otlp_spans VALUES (?, ?, ?, ?)", [(t, s, d, now) for t, s, d in rows]
            )
            return self._db.total_changes - before

    def get_embeddings(self, model: str, hashes: Sequence[str]) -> dict:
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

    def put_embeddings(self, model: str, rows: Sequence[tuple]) -> None:
        import numpy as np

        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?)",
                [(model, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in rows],
            )

    def set_assignments(self, run: str, rows: Sequence[tuple[str, str]]) -> None:
        """Which failure mode each failing judgment of a run fell into (cache key, mode id); replaces the run's."""
        with self._transaction():
            self._db.execute("DELETE FROM failure_assignments WHERE run = ?", (run,))
            self._db.executemany("INSERT INTO failure_assignments VALUES (?, ?, ?)", [(run, k, m) for k, m in rows])

    def assignments(self, run: str) -> dict[str, str]:
        return dict(self._db.execute("SELECT cache_key, mode_id FROM failure_assignments WHERE run = ?", (run,)))

    def span_trace_count(self) -> int:
        return self._db.execute("SELECT COUNT(DISTINCT trace_id) FROM otlp_spans").fetchone()[0]

    def spans_of(self, trace_id: str) -> list[str]:
        return [row[0] for row in self._db.execute(
            "SELECT data FROM otlp_spans WHERE trace_id = ? ORDER BY rowid", (trace_id,))]

    def save_redactions(self, trace_id: str, mapping: dict[str, str]) -> None:
        """The placeholder -> original map of one trace; it stays in this local file, never sent anywhere."""
        with self._transaction():
            self._db.executemany(
                "INSERT INTO redactions VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET original = excluded.original",
                [(trace_id, k, v) for k, v in mapping.items()],
            )

    def redactions(self, trace_id: str) -> dict[str, str]:
        return dict(self._db.execute("SELECT placeholder, original FROM redactions WHERE trace_id = ?", (trace_id,)))

    def get_trace(self, trace_id: str, run: str | None = None) -> Trace | None:
        """The newest version of a trace, or with run, the version that run judged."""
        if run is not None:
            row = self._db.execute(
                "SELECT v.data FROM run_traces r JOIN trace_versions v ON v.id = r.trace_id AND v.version = r.version "
                "WHERE r.run = ? AND r.trace_id = ?", (run, trace_id)).fetchone()
            if row:
                return Trace.model_validate_json(row[0])
        row = self._db.execute("SELECT data FROM traces WHERE id = ?", (trace_id,)).fetchone()
        return Trace.model_validate_json(row[0]) if row else None

    def trace_ids(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT id FROM traces ORDER BY id")]

    # -- judgments
    def stored_items(self, run: str) -> dict[tuple[str, int, str], bool]:
        """(trace, step index, criterion) -> scored? for every judgment of the run."""
        return {
            (trace_id, index, criterion): error is None
            for trace_id, index, criterion, error in self._db.execute(
                "SELECT trace_id, step_index, criterion_id, error FROM judgments WHERE run = ?", (run,))
        }

    def find_scored(self, keys: Sequence[str]) -> dict[str, Judgment]:
        found: dict[str, Judgment] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, data in self._db.execute(
                f"SELECT cache_key, data FROM judgments WHERE error IS NULL AND cache_key IN ({marks})", chunk
            ):
                found.setdefault(key, Judgment.model_validate_json(data))
        return found

    def add_judgments(self, judgments: Sequence[Judgment]) -> None:
        """Insert; an existing row is replaced only when it holds an error and the new one does not."""
        if not judgments:
            return
        rows = [
            (
                j.run,
                j.cache_key,
                j.trace_id,
                j.step_index,
                j.step_ref,
                j.criterion_id,
                j.judge,
                j.verdict.label if j.verdict else None,
                None if j.passed is None else int(j.passed),
                j.error,
                j.usage.cost_usd,
                j.model_dump_json(),
                j.created_at.isoformat(),
                j.error_kind if j.error is not None else None,
                j.judge_kind,
            )
            for j in judgments
        ]
        with self._transaction():
            self._db.executemany(
                """
                INSERT INTO judgments (run, cache_key, trace_id, step_index, step_ref, criterion_id, judge,
                                       label, passed, error, cost_usd, data, created_at, error_kind, judge_kind)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (run, trace_id, step_index, criterion_id) DO UPDATE SET
                    cache_key=excluded.cache_key, label=excluded.label, error_kind=excluded.error_kind, passed=excluded.passed, error=excluded.error,
                    cost_usd=excluded.cost_usd, data=excluded.data, created_at=excluded.created_at
                WHERE judgments.error IS NOT NULL AND excluded.error IS NULL
                """,
                rows,
            )

    def judgments(self, run: str, page: int = 2000) -> Iterator[Judgment]:
        """Every judgment of a run in (trace, step, criterion) order, read a page at a time (keyset)."""
        after: tuple = ("", -1, "", -1)
        while True:
            rows = self._db.execute(
                "SELECT trace_id, step_index, criterion_id, id, data FROM judgments WHERE run = ? AND "
                "(trace_id, step_index, criterion_id, id) > (?, ?, ?, ?) "
                "ORDER BY trace_id, step_index, criterion_id, id LIMIT ?", (run, *after, page))
            for *_, data in rows:
                yield Judgment.model_validate_json(data)
            if len(rows) < page:
                return
            after = tuple(rows[-1][:4])

    def criterion_summaries(self, run: str) -> list[CriterionSummary]:
        rows = self._db.execute(
            """
            SELECT criterion_id, COUNT(*), SUM(error IS NULL), SUM(passed = 1), SUM(error IS NOT NULL),
                   SUM(cost_usd)
            FROM judgments WHERE run = ? GROUP BY criterion_id ORDER BY criterion_id
            """,
            (run,),
        )
        return [CriterionSummary(*row) for row in rows]

    def error_counts(self, run: str) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT error_kind, COUNT(*) FROM judgments "
            "WHERE run = ? AND error IS NOT NULL GROUP BY 1 ORDER BY 2 DESC",
            (run,),
        )
        return {kind or "error": count for kind, count in rows}

    # -- labels (append-only: a correction is a new row; the newest per annotator and item counts)
    def add_labels(self, labels: Sequence[Label]) -> int:
        """Insert labels; an identical row already stored is ignored. Returns how many were new."""
        now = utc_now().isoformat()
        rows = []
        for label in labels:
            data = label.model_dump_json(exclude={"source"})
            rows.append(
                (hashlib.sha256(data.encode()).hexdigest(), label.trace_id, label.step_key, label.criterion,
                 label.value, label.annotator, label.kind, label.model_dump_json(),
                 _utc_text(label.created_at) if label.created_at else now)
            )
        with self._transaction():
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO labels (content_hash, trace_id, step_key, criterion, value, annotator, kind, "
                "data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return self._db.total_changes - before

    def labels(self, criterion: str | None = None, annotators: Sequence[str] | None = None) -> list[Label]:
        """The newest label per (annotator, trace, step, criterion)."""
        query = (
            "SELECT data FROM labels l WHERE id = (SELECT id FROM labels m WHERE m.annotator = l.annotator AND "
            "m.trace_id = l.trace_id AND m.step_key = l.step_key AND m.criterion = l.criterion "
            "ORDER BY m.created_at DESC, m.id DESC LIMIT 1)"
        )
        params: list = []
        if criterion is not None:
            query += " AND criterion = ?"
            params.append(criterion)
        if annotators is not None:
            query += f" AND annotator IN ({','.join('?' * len(annotators))})"
            params.extend(annotators)
        return [Label.model_validate_json(row[0]) for row in self._db.execute(query, params)]

    def label_summary(self) -> list[tuple[str, str, str, int]]:
        """(annotator, kind, criterion, rows) for every annotator and criterion."""
        return list(
            self._db.execute(
                "SELECT annotator, kind, criterion, COUNT(*) FROM labels GROUP BY 1, 2, 3 ORDER BY 1, 3"
            )
        )

    def flagged_count(self, run: str) -> int:
        """Judgments whose step looked like an attempt to steer the judge."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM judgments WHERE run = ? AND json_array_length(json_extract(data, '$.flags')) > 0",
            (run,),
        ).fetchone()
        return row[0]

    @property
    def connection(self) -> "_Locked":
        """For modules that own their own tables (the review queue): plain SQL on this store."""
        return self._db

    def transaction(self) -> "_Transaction":
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an exception), holding the store's lock; a transaction
        opened inside another on the same thread joins it, so library calls compose into one."""
        return _Transaction(self)

    def query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        """Read rows under the store's lock (never interleaved with another thread's transaction)."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def integrity_ok(self) -> bool:
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def _transaction(self):
        return _Transaction(self)

    # -- reviewers (people who adjudicate; only a hash of each personal token is kept)
    def add_reviewer(self, name: str, token_hash: str) -> None:
        """Register a reviewer (or re-issue a revoked one a new token)."""
        with self._transaction():
            row = self._db.execute("SELECT revoked_at FROM reviewers WHERE name = ?", (name,)).fetchone()
            if row and row[0] is None:
                raise ValueError(f"a reviewer named {name!r} exists; revoke it first to issue a new token")
            self._db.execute("DELETE FROM reviewers WHERE name = ?", (name,))
            self._db.execute("INSERT INTO reviewers VALUES (?, ?, ?, NULL)", (name, token_hash, utc_now().isoformat()))

    def revoke_reviewer(self, name: str) -> bool:
        """The reviewer's token stops signing in; their adjudications stay, and the row stays as a record
        that this store uses personal tokens (so revoking the last one never opens the app to names)."""
        with self._transaction():
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


class _Rows(list):
    """Rows already fetched, with the cursor methods callers use."""

    def fetchone(self):
        return self[0] if self else None

    def fetchall(self):
        return list(self)


class _Locked:
    """The connection, with every statement run and fully fetched under the store's lock: threads that
    share a Store never interleave a statement with another's transaction (BEGIN inside BEGIN, a COMMIT
    with a half-read cursor)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._raw = db
        self._lock = lock

    def execute(self, sql: str, params: Sequence = ()) -> _Rows:
        with self._lock:
            return _Rows(self._raw.execute(sql, params).fetchall())

    def executemany(self, sql: str, rows) -> None:
        with self._lock:
            self._raw.executemany(sql, rows)

    @property
    def total_changes(self) -> int:
        return self._raw.total_changes

    def close(self) -> None:
        with self._lock:
            self._raw.close()


class _Transaction:
    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> None:
        self.store._lock.acquire()
        if self.store._depth == 0:
            try:
                self.store._db.execute("BEGIN IMMEDIATE")
            except BaseException:
                self.store._lock.release()
                raise
        self.store._depth += 1

    def __exit__(self, exc_type, *rest) -> None:
        try:
            self.store._depth -= 1
            if self.store._depth == 0:
                self.store._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.store._lock.release()
