"""The store's schema as append-only named migrations (SQL text, or a function of the connection)."""

from __future__ import annotations

import hashlib
from typing import Any

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
    (
        # keys that never leave this file (the pseudonymisation key of imported customer ids)
        "015_local_secrets",
        """
        CREATE TABLE local_secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL, created_at TEXT NOT NULL)
        """,
    ),
    (
        # retired: the states people annotate and their annotations are the CEP pack's tables now (its
        # migration cep:001_states).  Stores made before this keep the tables 016 created (the pack's
        # migration creates them IF NOT EXISTS, so both paths end at one schema); a new store gets them
        # only when the pack first uses it.  The name stays so numbering and old ledgers still line up.
        "016_state_annotations",
        "SELECT 1",
    ),
    (
        # the sealed test split: whole traces assigned to tune or test once, and every look at test
        "017_label_splits",
        """
        CREATE TABLE label_splits (trace_id TEXT PRIMARY KEY, split TEXT NOT NULL CHECK (split IN ('tune', 'test')),
                                   seed INTEGER NOT NULL, test_share REAL NOT NULL, created_at TEXT NOT NULL);
        CREATE TABLE split_looks (id INTEGER PRIMARY KEY AUTOINCREMENT, candidate TEXT NOT NULL, version TEXT NOT NULL,
                                  criterion TEXT NOT NULL, at TEXT NOT NULL)
        """,
    ),
    (
        # aligned judges: every version kept (a judgment names the version that made it)
        "018_aligned_judges",
        """
        CREATE TABLE aligned_judges (name TEXT NOT NULL, version TEXT NOT NULL, data TEXT NOT NULL, created_at TEXT NOT NULL,
                                     PRIMARY KEY (name, version))
        """,
    ),
    (
        # a failure mode per judged item, as judgments are keyed since 010: keyed by cache key, two failing
        # steps with one prompt (answered once, copied) collided and `cluster` crashed on real runs
        "019_failure_assignments_per_item",
        """
        CREATE TABLE failure_assignments_v2 (
            run TEXT NOT NULL,
            trace_id TEXT NOT NULL,
            step_index INTEGER NOT NULL,
            criterion_id TEXT NOT NULL,
            mode_id TEXT NOT NULL,
            PRIMARY KEY (run, trace_id, step_index, criterion_id)
        );
        INSERT OR IGNORE INTO failure_assignments_v2 SELECT DISTINCT j.run, j.trace_id, j.step_index, j.criterion_id, fa.mode_id
            FROM failure_assignments fa JOIN judgments j ON j.run = fa.run AND j.cache_key = fa.cache_key;
        DROP TABLE failure_assignments;
        ALTER TABLE failure_assignments_v2 RENAME TO failure_assignments
        """,
    ),
    (
        # verifiers learned from the tune split's labels: every version kept (a judgment names the one that made it)
        "020_verifiers",
        """
        CREATE TABLE verifiers (name TEXT NOT NULL, version TEXT NOT NULL, criterion TEXT NOT NULL, data TEXT NOT NULL,
                                created_at TEXT NOT NULL, PRIMARY KEY (name, version))
        """,
    ),
]


def trace_version(data: str) -> str:
    """A trace's version: the hash of its stored JSON (same content, same version)."""
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _trace_versions(db: Any) -> None:
    """Every version of every trace, and which version each run judged (runs made before this point at
    the only version known)."""
    db.execute(
        "CREATE TABLE trace_versions (id TEXT NOT NULL, version TEXT NOT NULL, source TEXT, format TEXT, "
        "data TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (id, version))"
    )
    db.execute("CREATE TABLE run_traces (run TEXT NOT NULL, trace_id TEXT NOT NULL, version TEXT NOT NULL, PRIMARY KEY (run, trace_id))")
    for trace_id, source, fmt, data, updated in db.execute("SELECT id, source, format, data, updated_at FROM traces").fetchall():
        db.execute(
            "INSERT OR IGNORE INTO trace_versions VALUES (?, ?, ?, ?, ?, ?)", (trace_id, trace_version(data), source, fmt, data, updated)
        )
    db.execute(
        "INSERT OR IGNORE INTO run_traces SELECT DISTINCT j.run, j.trace_id, v.version FROM judgments j "
        "JOIN trace_versions v ON v.id = j.trace_id"
    )


# Migrations whose SQLite text has no PostgreSQL spelling (SQLite's date and JSON functions), written
# again for PostgreSQL with the same effect.  Every other migration runs as written, through the dialect.
POSTGRES_VARIANTS: dict[str, object] = {
    # a repair of label times that SQLite stores wrote before 012; a PostgreSQL store is created at the
    # current code, which writes UTC, so there is nothing to repair (the statement keeps the step numbered)
    "012_labels_utc": "UPDATE labels SET created_at = created_at WHERE created_at IS NULL",
    "014_kinds_as_fields": """
        ALTER TABLE judgments ADD COLUMN error_kind TEXT;
        ALTER TABLE judgments ADD COLUMN judge_kind TEXT NOT NULL DEFAULT 'model';
        UPDATE judgments SET error_kind = substr(error, 1, strpos(error, ':') - 1) WHERE error IS NOT NULL AND strpos(error, ':') > 1;
        UPDATE judgments SET error_kind = 'error' WHERE error IS NOT NULL AND error_kind IS NULL;
        UPDATE judgments SET judge_kind = 'check' WHERE judge LIKE 'check:%';
        UPDATE judgments SET data = (data::jsonb || jsonb_build_object('error_kind', error_kind, 'judge_kind', judge_kind))::text
        """,
}
