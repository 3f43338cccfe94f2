"""`chainjudge reviewers`: personal tokens for the people who adjudicate in the review app."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from chainjudge.cli.support import DbOption, fail, open_store, out
from chainjudge.review import reviewers

reviewers_app = typer.Typer(help="People who may adjudicate in the review app, each with a personal token.", no_args_is_help=True)


@reviewers_app.command("add")
def add(name: Annotated[str, typer.Argument(help="Reviewer name; adjudications are stored as review:NAME.")], db: DbOption = None) -> None:
    """Register a reviewer and print their personal token ONCE (only its hash is stored)."""
    with open_store(db) as store:
        try:
            token = reviewers.add(store, name)
        except ValueError as exc:
            fail(str(exc))
    out.print(f"reviewer {name} added; their token (shown only now, give it to them privately):", highlight=False)
    print(token)


@reviewers_app.command("list")
def list_(db: DbOption = None) -> None:
    """Reviewers who can sign in (names and when they were added; never tokens)."""
    with open_store(db) as store:
        rows = store.reviewers()
    if not rows:
        out.print("no reviewers yet: chainjudge reviewers add NAME")
        return
    table = Table("reviewer", "stored as", "added")
    for name, created in rows:
        table.add_row(name, reviewers.PREFIX + name, created[:19])
    out.print(table)


@reviewers_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="Reviewer name.")], db: DbOption = None) -> None:
    """Stop a reviewer's token from signing in; their adjudications stay."""
    with open_store(db) as store:
        if not store.revoke_reviewer(name):
            fail(f"no reviewer named {name!r}; see: chainjudge reviewers list")
    out.print(f"reviewer {name} revoked")
