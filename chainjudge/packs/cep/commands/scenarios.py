"""`scenarios`: generated CEP user states (no sub-command), or imported from a team's history through a
mapping (`scenarios import`), how far strategists agree on them (`scenarios agreement`) and the states
they settled, as scenarios (`scenarios annotated`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import DbOption, fail, open_store, out, report_rejected_rows
from chainjudge.core.atomic import check_output_path, write_text_atomic

scenarios_app = typer.Typer(
    no_args_is_help=False,
    invoke_without_command=True,
    help="CEP user-state scenarios: generated (no sub-command) or imported from history (`import`).",
)


@scenarios_app.callback()
def scenarios(
    ctx: typer.Context,
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the scenarios (JSONL).")] = Path("scenarios.jsonl"),
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 7,
) -> None:
    """Generate CEP user-state scenarios (pairwise coverage plus a third adversarial variants) with the
    expected action the contact policy derives for each; `scenarios import` reads real ones instead."""
    from chainjudge.packs.cep.generator import generate

    if ctx.invoked_subcommand is not None:
        return
    generated = generate(seed=seed)
    write_text_atomic(out_file, "\n".join(s.model_dump_json() for s in generated) + "\n")
    adversarial = sum(1 for s in generated if s.user.perturbations)
    out.print(f"{len(generated)} scenarios ({adversarial} adversarial) written to {out_file}")


@dataclass(frozen=True, kw_only=True)
class ScenariosImportOptions:
    """What `scenarios import` is asked: its options, parsed into one request."""

    source: Annotated[Path, typer.Argument(help="A CDP / warehouse export: CSV, JSONL or Parquet.", exists=True, dir_okay=False)]
    mapping_file: Annotated[
        Path,
        typer.Option(
            "--mapping",
            help="Mapping YAML: column -> user-state attribute, value maps, time formats (see chainjudge.packs.cep.mapping).",
            exists=True,
            dir_okay=False,
        ),
    ]
    out_file: Annotated[
        Path,
        typer.Option("--out", help="Scenarios JSONL to write (the policy's expected action, and the file's annotated one, side by side)."),
    ] = Path("imported.jsonl")
    show: Annotated[int, typer.Option(min=0, help="Rejected rows to list here; all of them go to the rejects file.")] = 20
    rejects_file: Annotated[
        Optional[Path],
        typer.Option(
            "--rejects", help="JSONL of every rejected row (line, column, kind, reason). Default: beside --out, NAME.rejects.jsonl."
        ),
    ] = None
    annotate: Annotated[
        bool, typer.Option("--annotate", help="Also put the imported states up for strategists in the review app's Ground truth tab.")
    ] = False
    db: DbOption = None


@scenarios_app.command("import")
@from_options(ScenariosImportOptions)
def scenarios_import(args: ScenariosImportOptions) -> None:
    """Import real user states (last month's, say) as scenarios: every row validated whole and either
    imported or reported with its line, column and reason; customer ids pseudonymised with a key kept in
    the local store. Exit 1 when rows were rejected."""
    from chainjudge.packs.cep.annotation import register
    from chainjudge.packs.cep.mapping import MappingError, load_mapping
    from chainjudge.packs.cep.policy import load_policy
    from chainjudge.packs.cep.state_import import PSEUDONYM_SECRET, import_history

    check_output_path(args.out_file)  # before any work: a folder given as --out is refused at once
    try:
        mapping = load_mapping(args.mapping_file)
    except MappingError as exc:
        fail(str(exc))
    with open_store(args.db) as store:
        key = store.local_secret(PSEUDONYM_SECRET)
        imported, report = import_history(args.source, mapping, key, load_policy())
        if args.annotate:
            new = register(store, imported)
            out.print(f"{new} states put up for annotation (chainjudge review --db {store.location}: Ground truth tab)", highlight=False)
    write_text_atomic(args.out_file, "".join(s.model_dump_json() + "\n" for s in imported))
    _print_import(
        report,
        args.source,
        args.out_file,
        args.rejects_file or args.out_file.with_name(args.out_file.stem + ".rejects.jsonl"),
        args.show,
    )
    if report.errors:
        raise typer.Exit(1)


def _print_import(report, source: Path, out_file: Path, rejects_file: Path, show: int) -> None:
    """What was imported and rejected (by kind; every rejected row in the rejects file), hashed, dropped and annotated."""
    rate = report.rows / report.seconds if report.seconds else float("nan")
    out.print(
        f"{report.imported} of {report.rows} rows imported to {out_file} in {report.seconds:.1f} s ({rate:,.0f} rows/s); "
        f"{report.rows - report.imported} rejected",
        highlight=False,
    )
    if report.errors:
        kinds = Table("rejected because", "rows", "share of rows")
        for kind, n in report.by_kind().most_common():
            kinds.add_row(kind, str(n), f"{n / report.rows:.1%}")
        out.print(kinds)
        report_rejected_rows(source, report.errors, rejects_file, show)
    out.print(
        f"pseudonymised: {report.hashed} (keyed hash; the key stays in the local store); dropped unread: "
        f"{', '.join(report.dropped) or 'none'}; not in the mapping (ignored): {', '.join(report.unmapped) or 'none'}",
        highlight=False,
    )
    if report.annotated:
        out.print(
            f"{report.annotated} rows carry an annotated expected action; the contact policy derives another "
            f"action or channel for {report.disagreements} of them (both are kept: decisions --expected-source)",
            highlight=False,
        )
