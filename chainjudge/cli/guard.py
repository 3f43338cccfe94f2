"""The one place where errors become what a user sees: a line on standard error and an exit code.

Every command runs inside `GuardedGroup.invoke`: a `ChainjudgeError` prints its message (exit code its
own), an `OSError` prints what the system said about which file, and anything unexpected prints its type,
message and the line of chainjudge it came from, as one line with exit code 3 — never a traceback.
Set CHAINJUDGE_TRACEBACK=1 to see the Python stack when reporting a bug.
"""

from __future__ import annotations

import os
import sqlite3
import traceback
from pathlib import Path

import typer
from typer.core import TyperGroup

from chainjudge.errors import ChainjudgeError

INTERNAL_EXIT = 3


def _pass_through() -> tuple[type[BaseException], ...]:
    """What the command line machinery handles itself: exits, aborts and usage errors (typer's own classes,
    and click's where they differ)."""
    import click
    import typer.exceptions
    from typer._click import exceptions as typer_click

    return (
        typer.exceptions.Exit,
        typer.exceptions.Abort,
        typer_click.ClickException,
        click.exceptions.Exit,
        click.exceptions.Abort,
        click.ClickException,
    )


_PASS_THROUGH = _pass_through()


def _where(exc: BaseException) -> str:
    """The innermost frame inside chainjudge: where a bug report should look."""
    package = str(Path(__file__).resolve().parents[1])
    place = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(package):
            place = f"{Path(frame.filename).relative_to(Path(package).parent)}:{frame.lineno}"
    return place


def one_line(exc: BaseException) -> tuple[str, int]:
    """(message, exit code) for an exception that escaped a command."""
    if isinstance(exc, ChainjudgeError):
        return exc.message, exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 130
    if isinstance(exc, sqlite3.DatabaseError):
        return f"the store cannot be used: {exc}", 2
    if isinstance(exc, OSError):
        name = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{name}", 2
    if isinstance(exc, RecursionError):
        return "input nested too deeply to read", 2
    if isinstance(exc, MemoryError):
        return "out of memory", 2
    text = " ".join(str(exc).split())[:300]
    place = _where(exc)
    return (
        f"unexpected {type(exc).__name__}: {text}"
        + (f" (at {place}; please report it, CHAINJUDGE_TRACEBACK=1 shows the stack)" if place else "")
    ), INTERNAL_EXIT


class GuardedGroup(TyperGroup):
    """The top-level command group: runs the command and turns whatever escapes into one line."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - the one place errors are mapped
            if os.environ.get("CHAINJUDGE_TRACEBACK"):
                raise
            if isinstance(exc, BrokenPipeError):  # the reader left (`| head`): nothing more to say
                os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
                raise typer.Exit(0) from None
            from rich.text import Text

            from chainjudge.cli.support import err

            message, code = one_line(exc)
            err.print(Text("error:", style="bold red"), message, highlight=False)
            raise typer.Exit(code) from None
