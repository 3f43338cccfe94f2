"""The connection behind a Store (SQLite, or PostgreSQL through psycopg 3): every statement and transaction
under the store's lock, every statement translated to the engine's dialect."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from typing import Any, Protocol


class _Lockable(Protocol):
    """What a transaction needs of its store: the lock, the nesting depth, the connection, the dialect."""

    _lock: threading.RLock
    _depth: int
    _db: Any
    dialect: Any


class _Rows(list[Any]):
    """Rows already fetched, with the cursor methods callers use."""

    def fetchone(self) -> Any:
        return self[0] if self else None

    def fetchall(self) -> list[Any]:
        return list(self)


class _Locked:
    """The connection, with every statement run and fully fetched under the store's lock: threads that
    share a Store never interleave a statement with another's transaction (BEGIN inside BEGIN, a COMMIT
    with a half-read cursor)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._raw = db
        self._lock = lock

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Rows:
        with self._lock:
            return _Rows(self._raw.execute(sql, params).fetchall())

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock:
            self._raw.executemany(sql, rows)

    @property
    def total_changes(self) -> int:
        return self._raw.total_changes

    def close(self) -> None:
        with self._lock:
            self._raw.close()


class _PostgresLocked:
    """A psycopg 3 connection with the same three methods as `_Locked`.  Autocommit, so a statement outside
    `store.transaction()` commits alone (as in SQLite), and BEGIN / COMMIT are statements like any other."""

    def __init__(self, url: str, lock: threading.RLock, dialect: Any) -> None:
        from chainjudge.core.store.base import StoreUnavailable, masked_url, url_secrets

        try:
            import psycopg
        except ImportError as exc:
            raise StoreUnavailable("a PostgreSQL store needs psycopg: pip install 'chainjudge[postgres]'") from exc
        try:
            self._raw = psycopg.connect(url, autocommit=True, connect_timeout=30)
        except (psycopg.Error, ValueError) as exc:
            message = " ".join(str(exc).split())
            for secret in url_secrets(url):
                message = message.replace(secret, "***")
            raise StoreUnavailable(f"cannot open the PostgreSQL store {masked_url(url)}: {message}") from None
        self._lock = lock
        self._dialect = dialect
        self._changes = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Rows:
        with self._lock, self._raw.cursor() as cursor:
            # always with a parameter tuple (even empty): psycopg then reads the `%%` the dialect wrote as `%`
            cursor.execute(self._dialect.translate(sql), tuple(params))
            self._changes += max(cursor.rowcount, 0) if cursor.description is None else 0
            return _Rows(tuple(row) for row in cursor.fetchall()) if cursor.description else _Rows()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(row) for row in rows]
        if not rows:
            return
        with self._lock, self._raw.cursor() as cursor:
            cursor.executemany(self._dialect.translate(sql), rows)
            self._changes += max(cursor.rowcount, 0)

    @property
    def total_changes(self) -> int:
        return self._changes

    def close(self) -> None:
        with self._lock:
            self._raw.close()


class _Transaction:
    def __init__(self, store: _Lockable) -> None:
        self.store = store

    def __enter__(self) -> None:
        self.store._lock.acquire()
        if self.store._depth == 0:
            try:
                self.store._db.execute(self.store.dialect.begin)
            except BaseException:
                self.store._lock.release()
                raise
        self.store._depth += 1

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            self.store._depth -= 1
            if self.store._depth == 0:
                if exc_type is None:
                    self.store._db.execute("COMMIT")
                else:
                    rollback_quietly(self.store._db)
        finally:
            self.store._lock.release()


def rollback_quietly(db: Any) -> None:
    """Roll back after an error without hiding it: SQLite has already rolled back on some errors ("database
    or disk is full"), and the ROLLBACK's own "no transaction is active" used to replace the real cause."""
    try:
        db.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 - the error being handled is the one to report
        pass
