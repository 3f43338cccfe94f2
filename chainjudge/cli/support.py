"""What every CLI module shares: the consoles, the --db option, the store opener and the error exit."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from rich.console import Console
from rich.text import Text

from chainjudge.core.store import Store, StoreUnavailable, resolve_db_path


def _console(stderr: bool) -> Console:
    """A console that wraps to the terminal, but not at 80 columns when writing to a pipe or a file: error
    lines and table rows stay one line each, so they can be grepped."""
    stream = sys.stderr if stderr else sys.stdout
    piped = not (hasattr(stream, "isatty") and stream.isatty())
    return Console(stderr=stderr, width=1000 if piped and "COLUMNS" not in os.environ else None, soft_wrap=piped, markup=False)


# markup is off: everything printed is data (trace text, names, cells) and is shown as written; styles
# come from rich Text objects, never from brackets inside a string ("[/]" or "[link=...]" in a value is text)
out = _console(stderr=False)
err = _console(stderr=True)

DbOption = Annotated[
    Optional[str],
    typer.Option(
        "--db",
        help="The store: a SQLite file, or a postgresql://user@host/db URL for a team store. "
        "Default: $CHAINJUDGE_DB, else .chainjudge/chainjudge.db here.",
    ),
]


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on standard error and a non-zero exit.  The message is data (it quotes file names, cells and
    run names): the console has markup off, so `[/]` in a value is shown, not parsed."""
    err.print(Text("error:", style="bold red"), message, highlight=False)
    raise typer.Exit(code)


def open_store(db: str | Path | None, create: bool = True) -> Store:
    """The store --db names (a new SQLite file is created unless create=False)."""
    try:
        return Store(resolve_db_path(db), create=create)
    except StoreUnavailable as exc:
        fail(str(exc))


def report_rejected_rows(source: Path, errors: list, rejects_file: Path, show: int) -> None:
    """Write every rejected row (line, column, kind, reason) to REJECTS_FILE, atomically, and list the
    first SHOW on standard error: what the importers (`scenarios`, `journeys`, `outcomes import`) share."""
    import dataclasses
    import json

    from chainjudge.core.atomic import write_text_atomic

    write_text_atomic(rejects_file, "".join(json.dumps(dataclasses.asdict(e), ensure_ascii=False) + "\n" for e in errors))
    for error in errors[:show]:
        err.print(Text("rejected", style="yellow"), f"{source}: {error}", highlight=False)
    more = len(errors) - min(show, len(errors))
    err.print(
        f"{'and ' + str(more) + ' more rejected rows; ' if more else ''}all {len(errors)} rejected rows "
        f"(line, column, kind, reason) are in {rejects_file}",
        highlight=False,
    )


def store_traces(store, paths: list[Path]) -> None:
    """Read and store the traces given (each bad record named and skipped, as `judge` does)."""
    if not paths:
        return
    from chainjudge.pipeline import load_traces  # (numpy and the adapters: only for the commands that read traces)

    loaded = load_traces(paths)
    for problem in loaded.errors:
        err.print(Text("skipped", style="yellow"), str(problem), highlight=False)
    store.save_traces(loaded.traces)
    err.print(f"{len(loaded.traces)} traces stored from {', '.join(map(str, paths))}", highlight=False)
