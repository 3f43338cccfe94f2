"""`scenarios agreement` and `scenarios annotated`: how far strategists agree on imported states' expected
actions, and the states they settled."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chainjudge.cli.support import DbOption, open_store, out
from chainjudge.core.atomic import write_text_atomic
from chainjudge.packs.cep.commands.scenarios import scenarios_app


@scenarios_app.command("agreement")
def scenarios_agreement(
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples of states for 95% intervals.")] = 1000,
    db: DbOption = None,
) -> None:
    """How far strategists agree on the expected action, per field: Krippendorff's alpha with a 95%
    interval over states, the raw agreement of the first two annotations and what chance would give."""
    from chainjudge.analysis.figures import format_estimate
    from chainjudge.packs.cep.annotation import field_agreement

    with open_store(db) as store:
        figures = field_agreement(store, bootstrap=bootstrap)
    table = Table("field", "states", "Krippendorff's alpha (95% interval)", "agreement, first two", "by chance")
    for field, f in figures.items():
        table.add_row(
            field,
            str(f["alpha"].n),
            format_estimate(f["alpha"], 10, 2),
            "-" if f["observed"] is None else f"{f['observed']:.0%}",
            "-" if f["chance"] is None else f"{f['chance']:.0%}",
        )
    out.print(table)


@scenarios_app.command("annotated")
def scenarios_annotated(
    out_file: Annotated[
        Path, typer.Option("--out", help="Scenarios JSONL: the settled states with the strategists' consensus as `annotated`.")
    ] = Path("annotated.jsonl"),
    db: DbOption = None,
) -> None:
    """Write the states strategists settled (two agreeing, and agreeing with the policy or confirmed by a
    third) as scenarios; score decisions on them with decisions --expected-source annotated."""
    from chainjudge.packs.cep.annotation import settled
    from chainjudge.packs.cep.state_tables import StateTables

    with open_store(db) as store:
        done, total = settled(store), len(StateTables(store).states())
    write_text_atomic(out_file, "".join(s.model_dump_json() + "\n" for s in done))
    out.print(f"{len(done)} of {total} states settled, written to {out_file}", highlight=False)
