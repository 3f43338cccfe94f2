"""`chainjudge db`: bring a store to the current schema, and copy a whole store between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from chainjudge.cli.support import DbOption, err, fail, open_store, out
from chainjudge.core.store import Store
from chainjudge.core.store.copy import CopyRefused, copy_store

db_app = typer.Typer(help="The store itself: migrations, and copies between SQLite and PostgreSQL.", no_args_is_help=True)


@db_app.command("migrate")
def migrate(db: DbOption = None) -> None:
    """Apply the migrations the store lacks, the core's and every installed pack's own tables (every command
    applies the core's on opening, a pack its own when it first uses the store; run this once before a team
    points many processes at a new PostgreSQL database) and say how many it holds."""
    with open_store(db) as store:
        add_pack_tables(store)
        names = store.migrations()
        location = store.location
    core = [n for n in names if ":" not in n]
    packs = sorted({n.split(":", 1)[0] for n in names if ":" in n})
    mine = f"; packs' tables: {', '.join(packs)}" if packs else ""
    out.print(f"{location}: {len(core)} core migrations applied, the newest {core[-1]}{mine}", highlight=False)


def add_pack_tables(store: Store) -> None:
    """Every installed pack's own tables, created now rather than on the pack's first use."""
    from chainjudge.core.plugins import pack_migrations

    for owner, migrations in pack_migrations().items():
        store.apply_migrations(owner, migrations)


@db_app.command("copy")
def copy(
    source: Annotated[str, typer.Argument(help="The store to copy from: a SQLite file or a postgresql:// URL.")],
    target: Annotated[str, typer.Argument(help="An empty store to copy into (created and migrated if new).")],
    with_secrets: Annotated[
        bool,
        typer.Option(
            "--with-secrets",
            help="Also copy the local secrets (the key that pseudonymises customer ids). Off by default: whoever holds the key and the "
            "store can reverse the pseudonyms.",
        ),
    ] = False,
) -> None:
    """Copy every row of every table from SOURCE to the empty TARGET (SQLite to PostgreSQL, or back), in one
    snapshot of the source, then verify each table by row count and checksum; on any difference the target
    is left as it was.

    Example: chainjudge db copy .chainjudge/chainjudge.db postgresql://me@127.0.0.1/chainjudge"""
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    with open_store(source, create=False) as src, open_store(target) as dst:
        add_pack_tables(dst)
        with Progress(
            TextColumn("copying {task.description}: {task.completed:,} rows"), TimeElapsedColumn(), console=err, transient=True
        ) as bar:
            task = bar.add_task("", total=None)
            try:
                results = copy_store(
                    src, dst, progress=lambda table, rows: bar.update(task, description=table, completed=rows), with_secrets=with_secrets
                )
            except CopyRefused as exc:
                fail(str(exc))
        where = (src.location, dst.location)
    _print_copied(results, *where, with_secrets)


def _print_copied(results: list, source: str, target: str, with_secrets: bool) -> None:
    table = Table("table", "rows", "checksum (both sides)", title=f"{source} -> {target}")
    for r in results:
        table.add_row(r.table, f"{r.rows:,}", r.source_checksum[:16])
    out.print(table)
    err.print(
        f"copied {sum(r.rows for r in results):,} rows in {len(results)} tables; counts and checksums match"
        + ("" if with_secrets else "; local secrets not copied (--with-secrets copies them)"),
        highlight=False,
    )
