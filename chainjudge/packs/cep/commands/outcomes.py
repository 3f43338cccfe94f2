"""`outcomes import`: what the team sent, how likely, and what happened, as logged decisions for `ope`
and the users' states for `record`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import DbOption, fail, open_store, out, report_rejected_rows
from chainjudge.core.atomic import check_output_path, write_text_atomic

outcomes_app = typer.Typer(
    no_args_is_help=True, help="Logged outcomes: what was sent, how likely, and what happened, for off-policy evaluation."
)


@dataclass(frozen=True, kw_only=True)
class OutcomesImportOptions:
    """What `outcomes import` is asked: its options, parsed into one request."""

    source: Annotated[Path, typer.Argument(help="The send log: CSV, JSONL or Parquet, one row per logged decision with the user's state.")]
    mapping_file: Annotated[
        Path,
        typer.Option(
            "--mapping",
            help="The scenarios-import mapping plus logged, propensity (or exploration: uniform) and outcomes sections (see "
            "examples/cdp-sends-mapping.yaml).",
        ),
    ]
    out_file: Annotated[
        Path, typer.Option("--out", help="Logged decisions (JSONL) for chainjudge ope: user, action, propensity, outcomes.")
    ] = Path("outcomes.jsonl")
    states_file: Annotated[
        Path, typer.Option("--states", help="The users' states as scenarios (JSONL), to record the agent on (record --scenarios).")
    ] = Path("outcome-states.jsonl")
    show: Annotated[int, typer.Option(min=0, help="Rejected rows to list here; all of them go to the rejects file.")] = 20
    db: DbOption = None


@outcomes_app.command("import")
@from_options(OutcomesImportOptions)
def import_cmd(args: OutcomesImportOptions) -> None:
    """Import logged outcomes: per row the user state (pseudonymised with the key `scenarios import`
    uses), the logged action, the logging policy's propensity and the outcomes; each row imported whole or
    rejected with its line, column and reason. Writes the logged decisions for `ope` and the users' states
    for `record`. Exit 1 when rows were rejected."""
    from chainjudge.packs.cep.mapping import MappingError, load_mapping
    from chainjudge.packs.cep.outcomes import OutcomeMappingError, import_outcomes
    from chainjudge.packs.cep.policy import load_policy
    from chainjudge.packs.cep.state_import import PSEUDONYM_SECRET, HistoryFileError

    for path in (args.out_file, args.states_file):
        check_output_path(path)
    if not args.source.is_file():
        fail(f"{args.source}: no such file")
    try:
        mapping = load_mapping(args.mapping_file)
    except MappingError as exc:
        fail(str(exc))
    with open_store(args.db) as store:
        key = store.local_secret(PSEUDONYM_SECRET)
    try:
        rows, scenarios, report = import_outcomes(args.source, mapping, key, load_policy())
    except (OutcomeMappingError, HistoryFileError) as exc:
        fail(f"{args.mapping_file if isinstance(exc, OutcomeMappingError) else args.source}: {exc}")
    write_text_atomic(args.out_file, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    write_text_atomic(args.states_file, "".join(s.model_dump_json() + "\n" for s in scenarios))
    _print_imported(report, mapping, args)
    if report.errors:
        report_rejected_rows(args.source, report.errors, args.out_file.with_name(args.out_file.stem + ".rejects.jsonl"), args.show)
        raise typer.Exit(1)


def _print_imported(report, mapping, args: OutcomesImportOptions) -> None:
    """What was imported, the logged actions, and the commands that use the two files next."""
    out.print(
        f"{report.imported} of {report.rows} rows imported to {args.out_file} ({report.users} users, their states in {args.states_file}); "
        f"{len(report.errors)} rejected; ids pseudonymised ({report.hashed})",
        highlight=False,
    )
    actions = Table("logged action", "rows", title="logged actions")
    for action, n in sorted(report.actions.items(), key=lambda kv: -kv[1]):
        actions.add_row(action, str(n))
    out.print(actions)
    fields = ["--decision-field", *" --decision-field ".join(mapping.granularity).split(" ")]
    reward = next(iter(mapping.outcomes))
    out.print(
        f"next: chainjudge record --agent MODULE:FUNC --scenarios {args.states_file} --out agent.jsonl; then "
        f"chainjudge ope {args.out_file} --decisions agent.jsonl {' '.join(fields)} --group user --reward {reward} --out value.json",
        highlight=False,
    )
