"""What every CLI module shares: the consoles, the --db option, the store opener and the error exit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from rich.console import Console

from chainjudge.core.store import Store, StoreUnavailable, resolve_db_path

out = Console()
err = Console(stderr=True)

DbOption = Annotated[
    Optional[str],
    typer.Option("--db", help="The store: a SQLite file, or a postgresql://user@host/db URL for a team store. "
                 "Default: $CHAINJUDGE_DB, else .chainjudge/chainjudge.db here."),
]


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def open_store(db: str | Path | None) -> Store:
    try:
        return Store(resolve_db_path(db))
    except StoreUnavailable as exc:
        fail(str(exc))
