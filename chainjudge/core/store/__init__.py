"""The store for runs, traces, judgments, labels and the review queue, with append-only named migrations:
a SQLite file (WAL) by default, or a PostgreSQL database named by URL for a team.

Why SQLite by default: one file the user owns, safe for several readers and one writer at a time,
resumable by construction: every judgment is committed as it arrives and keyed by (run, trace, step,
criterion), so re-running a command makes only the judgments that are missing and never duplicates one.
Why PostgreSQL beside it: several reviewers, CI jobs and judge workers on several machines writing one set
of runs and labels at once.  Both run the same statements (`dialect.py` translates the few that differ)
and the same migrations, so every semantic above holds on both.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from chainjudge.core.schema import Judgment, Run, utc_now
from chainjudge.core.store.base import (  # noqa: F401
    DEFAULT_DB,
    FIXED_SETTINGS,
    MIGRATION_LOCK,
    CriterionSummary,
    RunBusy,
    RunMismatch,
    RunSummary,
    StoreUnavailable,
    UnknownRun,
    absolute_db,
    masked_url,
    resolve_db_path,
    store_location,
    utc_text,
)
from chainjudge.core.store.connection import _Locked, _PostgresLocked, _Rows, _Transaction, rollback_quietly  # noqa: F401
from chainjudge.core.store.dialect import POSTGRES, SQLITE, is_postgres_url
from chainjudge.core.store.migrations import MIGRATIONS, POSTGRES_VARIANTS, trace_version  # noqa: F401
from chainjudge.core.store.people import PeopleStore
from chainjudge.core.store.review import ReviewStore
from chainjudge.core.store.splits import SplitStore
from chainjudge.core.store.traces import TraceStore

__all__ = [  # what the store package offers: the Store, and what its callers need from its parts
    "DEFAULT_DB",
    "FIXED_SETTINGS",
    "MIGRATIONS",
    "MIGRATION_LOCK",
    "CriterionSummary",
    "RunBusy",
    "RunMismatch",
    "RunSummary",
    "Store",
    "StoreUnavailable",
    "UnknownRun",
    "absolute_db",
    "masked_url",
    "resolve_db_path",
    "rollback_quietly",
    "store_location",
    "trace_version",
    "utc_text",
]


def _open_sqlite(path: Path, lock: threading.RLock, create: bool) -> _Locked:
    """The SQLite file, created owner-only (0600, in a 0700 folder when it makes one): the store holds
    traces with customer data, the redaction map and the pseudonymisation key."""
    if path.is_dir():
        raise StoreUnavailable(f"{path} is a folder, not a store file")
    if not path.exists():
        if not create:
            raise StoreUnavailable(f"no store at {path} (nothing was created)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the store {path}: {exc.strerror or exc}") from None
    try:
        raw = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open the store {path}: {exc}") from None
    db = _Locked(raw, lock)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("SELECT COUNT(*) FROM sqlite_master")
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StoreUnavailable(f"{path} is not a chainjudge store ({exc})") from None
    return db


_OWNER = re.compile(r"[a-z][a-z0-9_]{0,39}")  # a pack's name as it prefixes its migrations in the ledger


class Store(TraceStore, PeopleStore, ReviewStore, SplitStore):
    """One connection to one store: a SQLite file path, or a `postgresql://` URL.  Safe to share between
    threads: every transaction holds the store's lock (one at a time per connection), and `query` reads
    under it too.  The review app still gives each browser session a Store of its own, so sessions never
    wait on each other's reads."""

    def __init__(self, location: str | os.PathLike[str], create: bool = True) -> None:
        """create=False: a SQLite file that does not exist is an error, not a new empty store (a source
        to read from, say: `db copy typo.db out.db` used to create typo.db and copy nothing)."""
        self._lock = threading.RLock()
        self._depth = 0
        self._owners_current: set[str] = set()  # packs whose migrations this Store has checked
        if isinstance(location, str):
            location = store_location(location)  # POSTGRESQL://, postgresql+psycopg://: one spelling
        self.connect_to = str(location)  # what opens another connection to this store (a URL keeps its password)
        if is_postgres_url(location):
            self.dialect = POSTGRES
            self.path = None
            self.location = masked_url(str(location))
            self.log_dir = Path(".chainjudge")
            self._db = _PostgresLocked(str(location), self._lock, POSTGRES)
        else:
            self.dialect = SQLITE
            self.path = Path(location)
            self.location = str(self.path)
            self.log_dir = self.path.parent
            self._db = _open_sqlite(self.path, self._lock, create)
        try:
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreUnavailable(f"{self.location} cannot be used as a chainjudge store: {exc}") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- migrations
    def _migrate(self) -> None:
        """Apply the core migrations this store lacks (a pack's own come through `apply_migrations`)."""
        self._apply_all([(name, POSTGRES_VARIANTS.get(name, sql) if self.dialect is POSTGRES else sql) for name, sql in MIGRATIONS])

    def apply_migrations(self, owner: str, migrations: Sequence[tuple[str, object]]) -> None:
        """A pack's own tables: its named migrations (SQL the dialect translates, or a function of the
        connection) applied once each and recorded in the ledger as OWNER:NAME, append-only like the core's.
        A pack calls this when it first touches its tables, so a store never holds the tables of a pack
        that never used it; later calls on the same Store cost nothing."""
        if owner in self._owners_current:
            return
        if not _OWNER.fullmatch(owner):
            raise ValueError(f"a migration owner is a pack name of lower-case letters, digits and '_', not {owner!r}")
        self._apply_all([(f"{owner}:{name}", sql) for name, sql in migrations], owner)
        self._owners_current.add(owner)

    def _apply_all(self, migrations: Sequence[tuple[str, object]], owner: str | None = None) -> None:
        """Apply the named migrations the ledger lacks, each in its own transaction.  On PostgreSQL every
        process takes one advisory lock first, so two starting at once never apply the same one twice.  A
        pack's migration that fails is named (its transaction rolled back, nothing recorded)."""
        postgres = self.dialect is POSTGRES
        if postgres:
            self._db.execute("SELECT pg_advisory_lock(?)", (MIGRATION_LOCK,))
        try:
            self._db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            applied = {row[0] for row in self._db.execute("SELECT name FROM migrations")}
            for name, sql in migrations:
                if name not in applied:
                    try:
                        self._apply(name, sql)
                    except Exception as exc:
                        if owner is None:
                            raise
                        raise StoreUnavailable(
                            f"{self.location}: migration {name.split(':', 1)[1]} of the {owner!r} pack failed: {exc}"
                        ) from None
        finally:
            if postgres:
                self._db.execute("SELECT pg_advisory_unlock(?)", (MIGRATION_LOCK,))

    def _apply(self, name: str, sql: Any) -> None:
        self._db.execute(self.dialect.begin)
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
            rollback_quietly(self._db)
            raise

    def migrations(self) -> list[str]:
        """Every applied migration's name, the core's first (by name), then the packs' (OWNER:NAME)."""
        names = [row[0] for row in self._db.execute("SELECT name FROM migrations ORDER BY name")]
        return [n for n in names if ":" not in n] + [n for n in names if ":" in n]

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
                   COUNT(j.id) FILTER (WHERE j.error IS NULL), COUNT(j.id) FILTER (WHERE j.passed = 1),
                   COUNT(j.id) FILTER (WHERE j.error IS NOT NULL), COALESCE(SUM(j.cost_usd), 0)
            FROM runs r LEFT JOIN judgments j ON j.run = r.name
            GROUP BY r.name ORDER BY r.created_at
            """
        )
        return [RunSummary(*row) for row in rows]

    # -- judgments
    def stored_items(self, run: str) -> dict[tuple[str, int, str], bool]:
        """(trace, step index, criterion) -> scored? for every judgment of the run."""
        return {
            (trace_id, index, criterion): error is None
            for trace_id, index, criterion, error in self._db.execute(
                "SELECT trace_id, step_index, criterion_id, error FROM judgments WHERE run = ?", (run,)
            )
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
        with self.transaction():
            self._db.executemany(
                """
                INSERT INTO judgments (run, cache_key, trace_id, step_index, step_ref, criterion_id, judge,
                                       label, passed, error, cost_usd, data, created_at, error_kind, judge_kind)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (run, trace_id, step_index, criterion_id) DO UPDATE SET
                    cache_key=excluded.cache_key, label=excluded.label, error_kind=excluded.error_kind, passed=excluded.passed,
                    error=excluded.error,
                    cost_usd=excluded.cost_usd, data=excluded.data, created_at=excluded.created_at
                WHERE judgments.error IS NOT NULL AND excluded.error IS NULL
                """,
                rows,
            )

    def judgments(self, run: str, page: int = 2000) -> Iterator[Judgment]:
        """Every judgment of a run in (trace, step, criterion) order, read a page at a time (keyset)."""
        after: tuple[Any, ...] = ("", -1, "", -1)
        while True:
            rows = self._db.execute(
                "SELECT trace_id, step_index, criterion_id, id, data FROM judgments WHERE run = ? AND "
                "(trace_id, step_index, criterion_id, id) > (?, ?, ?, ?) "
                "ORDER BY trace_id, step_index, criterion_id, id LIMIT ?",
                (run, *after, page),
            )
            for *_, data in rows:
                yield Judgment.model_validate_json(data)
            if len(rows) < page:
                return
            after = tuple(rows[-1][:4])

    def criterion_summaries(self, run: str) -> list[CriterionSummary]:
        rows = self._db.execute(
            """
            SELECT criterion_id, COUNT(*), COUNT(*) FILTER (WHERE error IS NULL), COUNT(*) FILTER (WHERE passed = 1),
                   COUNT(*) FILTER (WHERE error IS NOT NULL), SUM(cost_usd)
            FROM judgments WHERE run = ? GROUP BY criterion_id ORDER BY criterion_id
            """,
            (run,),
        )
        return [CriterionSummary(*row) for row in rows]

    def error_counts(self, run: str) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT error_kind, COUNT(*) FROM judgments WHERE run = ? AND error IS NOT NULL GROUP BY 1 ORDER BY 2 DESC",
            (run,),
        )
        return {kind or "error": count for kind, count in rows}

    def flagged_count(self, run: str) -> int:
        """Judgments whose step looked like an attempt to steer the judge."""
        row = self._db.execute(
            f"SELECT COUNT(*) FROM judgments WHERE run = ? AND {self.dialect.json_array_length('data', 'flags')} > 0",
            (run,),
        ).fetchone()
        return int(row[0])

    def copy_to(self, path: str | os.PathLike[str]) -> None:
        """A consistent copy of the whole store in a new SQLite file (SQLite's VACUUM INTO; from
        PostgreSQL, a table-by-table copy inside one snapshot), e.g. a snapshot."""
        if self.dialect is POSTGRES:
            from chainjudge.core.store.copy import copy_store

            with Store(path) as target:
                copy_store(self, target, with_secrets=True)  # a snapshot of one's own store keeps its key
            return
        with self._lock:
            self._db.execute("VACUUM INTO ?", (str(path),))
        os.chmod(path, 0o600)  # like every store file: owner-only

    @contextlib.contextmanager
    def run_lock(self, run: str) -> Iterator[None]:
        """Hold RUN for this process while it is judged: a second process judging the same run at the same
        time is refused (RunBusy) instead of making every call again.  The lock dies with the process (an
        advisory lock of the connection on PostgreSQL, a lock on a file named after the SQLite store's path
        in this user's folder under the temporary directory), so a killed run leaves nothing to clean up."""
        key = int.from_bytes(hashlib.sha256(f"chainjudge-run:{run}".encode("utf-8", "surrogatepass")).digest()[:8], "big", signed=True)
        busy = RunBusy(
            f"run {run!r} is being judged by another process right now; wait for it to finish "
            "(a run resumes where it stopped), or give another --run name"
        )
        if self.dialect is POSTGRES:
            if not self._db.execute("SELECT pg_try_advisory_lock(?)", (key,))[0][0]:
                raise busy
            try:
                yield
            finally:
                self._db.execute("SELECT pg_advisory_unlock(?)", (key,))
            return
        import fcntl

        assert self.path is not None  # a SQLite store always has its file

        # in a folder of this user's under the temporary directory, never beside the store (no clutter there)
        folder = Path(tempfile.gettempdir()) / f"chainjudge-run-locks-{os.getuid()}"
        folder.mkdir(mode=0o700, exist_ok=True)
        where = hashlib.sha256(str(self.path.resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:16]
        handle = open(folder / f"{where}-{key & 0xFFFFFFFFFFFF:012x}.lock", "a+")  # noqa: SIM115 - held for the block
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise busy from None
            yield
        finally:
            handle.close()

    def transaction(self) -> "_Transaction":
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an exception), holding the store's lock; a transaction
        opened inside another on the same thread joins it, so library calls compose into one."""
        return _Transaction(self)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read rows under the store's lock (never interleaved with another thread's transaction)."""
        with self._lock:
            return list(self._db.execute(sql, params).fetchall())

    def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """One statement over many rows in one transaction (joining the caller's); returns how many rows it
        changed (an `INSERT OR IGNORE` of rows already there changes none).  For a pack's own tables."""
        with self.transaction():
            before = self._db.total_changes
            self._db.executemany(sql, rows)
            return int(self._db.total_changes - before)

    def integrity_ok(self) -> bool:
        """SQLite's integrity check; on PostgreSQL, that the server answers (it checks its own pages)."""
        if self.dialect is POSTGRES:
            return bool(self._db.execute("SELECT 1").fetchone()[0] == 1)
        return bool(self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
