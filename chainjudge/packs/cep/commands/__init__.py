"""The CEP pack's commands, added to the `chainjudge` app by the pack's `register_commands` hook (the
generic CLI imports no pack): `scenarios`, `record`, `decisions`, `journeys`, `outcomes import` and
`demo`.  These modules are the pack's edge: they may use the CLI's shared helpers (`chainjudge.cli.support`),
the review queue and the workflows, which the rest of the pack may not."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from chainjudge.packs.cep.commands import journey_responses, journey_search, strategists  # noqa: F401  (register on their groups)
    from chainjudge.packs.cep.commands.decisions import decisions
    from chainjudge.packs.cep.commands.demo import demo
    from chainjudge.packs.cep.commands.journeys import journeys_app
    from chainjudge.packs.cep.commands.outcomes import outcomes_app
    from chainjudge.packs.cep.commands.record import record
    from chainjudge.packs.cep.commands.scenarios import scenarios_app

    app.command("decisions")(decisions)
    app.command("record")(record)
    app.command("demo")(demo)
    app.add_typer(scenarios_app, name="scenarios")
    app.add_typer(journeys_app, name="journeys")
    app.add_typer(outcomes_app, name="outcomes")
