"""The SQLite connection behind a Store: every statement and transaction under the store's lock."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chainjudge.core.store import Store


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
