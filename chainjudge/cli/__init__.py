"""The `chainjudge` command: one module per command group, each of which parses, calls the library and
prints.  This package assembles them into one Typer app (`chainjudge.cli:main` is the console script).

Exit codes: 0 all good; 1 the work ran but something was skipped or failed (bad records, judgment
errors); 2 the command could not run as asked (bad rubric, missing key, unreachable judge).
"""

from __future__ import annotations

import inspect

import typer

from chainjudge.cli import agreement, aligning, collect, export, files, judging, labels, panel, review, runs, splits, verifier_test  # noqa: F401  (register their commands)
from chainjudge.cli.app import app, labels_app, traces_app
from chainjudge.cli.attribute import attribute as _attribute
from chainjudge.cli.cluster import cluster as _cluster
from chainjudge.cli.coverage import coverage_cmd
from chainjudge.cli.db import db_app
from chainjudge.cli.gate import gate_cmd
from chainjudge.cli.golive import report_cmd
from chainjudge.cli.modes import modes_app
from chainjudge.cli.ope import ope as _ope
from chainjudge.cli.regress import regress_app
from chainjudge.cli.reviewers import reviewers_app
from chainjudge.cli.trust import labels_agreement, probe, traces_list
from chainjudge.cli.verifying import verifier_app

app.command("cluster")(_cluster)
app.command("coverage")(coverage_cmd)
app.command("report")(report_cmd)
app.command("gate")(gate_cmd)
app.command("ope")(_ope)
app.command("attribute")(_attribute)
app.add_typer(modes_app, name="modes")
app.command("probe")(probe)
labels_app.command("agreement")(labels_agreement)
traces_app.command("list")(traces_list)
app.add_typer(reviewers_app, name="reviewers")
app.add_typer(db_app, name="db")
app.add_typer(verifier_app, name="verifier")
app.add_typer(regress_app, name="regress")


def _add_pack_commands() -> None:
    """Commands the installed packs register (the CEP pack: scenarios, record, decisions, journeys, outcomes,
    demo).  A pack that fails to load is named on standard error and the generic commands still work."""
    from chainjudge.cli.support import err
    from chainjudge.core.plugins import PluginError, register_commands

    try:
        register_commands(app)
    except PluginError as exc:
        err.print(f"warning: {exc}", highlight=False)


_add_pack_commands()


def unwrap(text: str | None) -> str | None:
    """A docstring as paragraphs: lines joined within a paragraph (rich wraps them to the terminal),
    blank lines and list items kept.  Hard-wrapped docstrings otherwise read as 'a row\n without a step'."""
    if not text:
        return text
    paragraphs: list[str] = []
    current: list[str] = []
    for line in inspect.cleandoc(text).splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("- ", "* ")):
            if current:
                paragraphs.append(" ".join(current))
                current = []
            if stripped:
                paragraphs.append(stripped)
            continue
        current.append(stripped)
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)


def _unwrap_help(typer_app: typer.Typer) -> None:
    for command in typer_app.registered_commands:
        if command.help is None and command.callback is not None:
            command.help = unwrap(command.callback.__doc__)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _unwrap_help(group.typer_instance)


_unwrap_help(app)


def main() -> None:
    from chainjudge.core import offline

    offline.apply()  # before anything imports litellm or sentence-transformers: never a network stall
    app()
