"""The `chainjudge` Typer application and its command groups; every cli module registers onto these."""

from __future__ import annotations

import typer

from chainjudge.cli.guard import GuardedGroup

app = typer.Typer(
    cls=GuardedGroup,
    help="chainjudge: judge recorded LLM-agent traces step by step, offline, before they touch a customer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="Print JSON Schemas so editors and other tools can check chainjudge files.", no_args_is_help=True)
rubric_app = typer.Typer(help="Work with rubric files.", no_args_is_help=True)
labels_app = typer.Typer(help="Labels from people, ground truth or other judges.", no_args_is_help=True)
traces_app = typer.Typer(help="Look at traces as chainjudge reads them.", no_args_is_help=True)
app.add_typer(traces_app, name="traces")
app.add_typer(schema_app, name="schema")
app.add_typer(rubric_app, name="rubric")
app.add_typer(labels_app, name="labels")
