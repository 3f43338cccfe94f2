"""Copy a whole store to an empty one, SQLite to PostgreSQL or back, and prove nothing was lost.

Both stores are opened (and so migrated) by the current code first, so they hold the same tables.  Every
table is read inside one snapshot of the source, a page at a time in insertion order, and written in
batches; afterwards each table's row count and an order-independent checksum (the sum of every row's
SHA-256, modulo 2^256) are computed on both sides and must match.  The target must be empty: a copy never
merges into another team's rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from chainjudge.core.store.dialect import POSTGRES
from chainjudge.errors import ChainjudgeError

PAGE = 5000


class CopyRefused(ChainjudgeError, ValueError):
    pass


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int
    source_checksum: str
    target_checksum: str

    @property
    def ok(self) -> bool:
        return self.source_checksum == self.target_checksum


def tables(store: Any) -> list[str]:
    """The store's own tables (the migrations ledger aside), sorted."""
    if store.dialect is POSTGRES:
        rows = store._db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    else:
        rows = store._db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return sorted(name for (name,) in rows if name != "migrations")


def references(store: Any, table: str) -> set[str]:
    """The tables this one's foreign keys point at."""
    if store.dialect is POSTGRES:
        rows = store._db.execute(
            "SELECT ccu.table_name FROM information_schema.table_constraints tc JOIN "
            "information_schema.constraint_column_usage ccu ON ccu.constraint_name = tc.constraint_name "
            "AND ccu.table_schema = tc.table_schema WHERE tc.constraint_type = 'FOREIGN KEY' "
            "AND tc.table_schema = current_schema() AND tc.table_name = ?",
            (table,),
        )
        return {name for (name,) in rows} - {table}
    return {row[2] for row in store._db.execute(f'PRAGMA foreign_key_list("{table}")')} - {table}


def copy_order(store: Any) -> list[str]:
    """Every table after the tables it references (so foreign keys hold at every insert), else by name."""
    pending = {table: references(store, table) for table in tables(store)}
    ordered: list[str] = []
    while pending:
        ready = sorted(t for t, needs in pending.items() if not needs - set(ordered))
        if not ready:
            raise CopyRefused(f"foreign keys form a cycle among {', '.join(sorted(pending))}")
        ordered.extend(ready)
        for table in ready:
            del pending[table]
    return ordered


def columns(store: Any, table: str) -> list[str]:
    if store.dialect is POSTGRES:
        rows = store._db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        return [name for (name,) in rows]
    return [row[1] for row in store._db.execute(f'PRAGMA table_info("{table}")')]


def _order_column(store: Any, table: str) -> str:
    """Insertion order: SQLite's rowid; on PostgreSQL the explicit rowid or the identity id."""
    if store.dialect is not POSTGRES:
        return "rowid"
    return "rowid" if "rowid" in columns(store, table) else "id"


def _pages(store: Any, table: str, names: list[str]) -> Iterator[list[tuple[Any, ...]]]:
    order = _order_column(store, table)
    selected = ", ".join(f'"{n}"' for n in names)
    after = None
    while True:
        where = "" if after is None else f" WHERE {order} > ?"
        rows = store._db.execute(
            f'SELECT {order}, {selected} FROM "{table}"{where} ORDER BY {order} LIMIT {PAGE}', () if after is None else (after,)
        )
        if rows:
            yield [tuple(row[1:]) for row in rows]
        if len(rows) < PAGE:
            return
        after = rows[-1][0]


def _canonical(value: object) -> bytes:
    if value is None:
        return b"N"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b"B" + bytes(value)
    if isinstance(value, float):
        return b"F" + repr(value).encode()
    if isinstance(value, int):
        return b"I" + str(value).encode()
    return b"T" + str(value).encode("utf-8", "surrogatepass")


def checksum(rows: Iterable[tuple[Any, ...]]) -> tuple[int, str]:
    """(rows, the sum of their SHA-256 digests modulo 2^256): the same for the same rows in any order."""
    total, count = 0, 0
    for row in rows:
        digest = hashlib.sha256(b"\x1f".join(_canonical(v) for v in row)).digest()
        total = (total + int.from_bytes(digest, "big")) % (1 << 256)
        count += 1
    return count, f"{total:064x}"


def _table_checksum(store: Any, table: str, names: list[str]) -> tuple[int, str]:
    return checksum(row for page in _pages(store, table, names) for row in page)


def _snapshot(store: Any) -> str:
    """A consistent read of every table (the source keeps serving other connections)."""
    return "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" if store.dialect is POSTGRES else "BEGIN"


SECRET_TABLES = ("local_secrets",)  # the pseudonymisation key: with it and the store, pseudonyms can be reversed


def copy_store(source: Any, target: Any, progress: Callable[[str, int], None] | None = None, with_secrets: bool = False) -> list[TableCopy]:
    """Every row of every table from source to the empty target, verified by counts and checksums.  The
    local secrets stay behind unless with_secrets: a copy is usually made to be shared."""
    names = {
        table: [c for c in columns(source, table) if c != "rowid"]
        for table in copy_order(source)
        if with_secrets or table not in SECRET_TABLES
    }
    missing = sorted(set(names) - set(tables(target)))
    if missing:
        raise CopyRefused(
            f"the target lacks table(s) {', '.join(missing)}: is it at an older chainjudge, or is the pack that makes them "
            "not installed here?"
        )
    busy = [t for t in names if target._db.execute(f'SELECT 1 FROM "{t}" LIMIT 1')]
    if busy:
        raise CopyRefused(f"the target {target.location} is not empty ({', '.join(busy[:3])} hold rows); copy into a new store")
    with source._lock, target.transaction():
        source._db.execute(_snapshot(source))
        try:
            results = [_copy_table(source, target, table, cols, progress) for table, cols in names.items()]
            bad = [r.table for r in results if not r.ok]
            if bad:  # raised inside the target's transaction: it rolls back, the target stays empty
                raise CopyRefused(f"the copy of {', '.join(bad)} does not match its source; the target was left unchanged")
        finally:
            source._db.execute("COMMIT")
    return results


def _copy_table(source: Any, target: Any, table: str, cols: list[str], progress: Callable[[str, int], None] | None) -> TableCopy:
    """One table's rows, page by page, with its count and checksum on both sides (a PostgreSQL id sequence
    set past the copied ids, so new rows get new ids)."""
    target_cols = [c for c in cols if c in columns(target, table)]
    marks = ", ".join("?" * len(target_cols))
    insert = f'INSERT INTO "{table}" ({", ".join(chr(34) + c + chr(34) for c in target_cols)}) VALUES ({marks})'
    copied = 0
    for page in _pages(source, table, target_cols):
        target._db.executemany(insert, page)
        copied += len(page)
        if progress:
            progress(table, copied)
    if target.dialect is POSTGRES and _order_column(target, table) == "id":
        target._db.execute(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), COALESCE((SELECT MAX(id) FROM \"{table}\"), 0) + 1, false)"
        )
    count, source_sum = _table_checksum(source, table, target_cols)
    target_count, target_sum = _table_checksum(target, table, target_cols)
    return TableCopy(table, count, source_sum, target_sum if target_count == count else "count differs")
