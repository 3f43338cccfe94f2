"""What every CLI module shares: the consoles, the --db option, the store opener and the error exit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from rich.console import Console

from chainjudge.core.store import Store, resolve_db_path

out = Console()
err = Console(stderr=True)

DbOption = Annotated[
    Optional[Path],
    typer.Option("--db", help="SQLite store. Default: $CHAINJUDGE_DB, else .chainjudge/chainjudge.db here."),
]


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def open_store(db: Path | None) -> Store:
    return Store(resolve_db_path(db))
