"""`outcomes import`: what the team sent, how likely, and what happened, as logged decisions for `ope`
and the users' states for `record`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chainjudge.cli.support import DbOption, fail, open_store, out, report_rejected_rows
from chainjudge.core.atomic import check_output_path, write_text_atomic

outcomes_app = typer.Typer(
    no_args_is_help=True, help="Logged outcomes: what was sent, how likely, and what happened, for off-policy evaluation."
)


@outcomes_app.command("import")
def import_cmd(
    source: Annotated[Path, typer.Argument(help="The send log: CSV, JSONL or Parquet, one row per logged decision with the user's state.")],
    mapping_file: Annotated[
        Path,
        typer.Option(
            "--mapping",
            help="The scenarios-import mapping plus logged, propensity (or exploration: uniform) and outcomes sections (see "
            "examples/cdp-sends-mapping.yaml).",
        ),
    ],
    out_file: Annotated[
        Path, typer.Option("--out", help="Logged decisions (JSONL) for chainjudge ope: user, action, propensity, outcomes.")
    ] = Path("outcomes.jsonl"),
    states_file: Annotated[
        Path, typer.Option("--states", help="The users' states as scenarios (JSONL), to record the agent on (record --scenarios).")
    ] = Path("outcome-states.jsonl"),
    show: Annotated[int, typer.Option(min=0, help="Rejected rows to list here; all of them go to the rejects file.")] = 20,
    db: DbOption = None,
) -> None:
    """Import logged outcomes: per row the user state (pseudonymised with the key `scenarios import`
    uses), the logged action, the logging policy's propensity and the outcomes; each row imported whole or
    rejected with its line, column and reason. Writes the logged decisions for `ope` and the users' states
    for `record`. Exit 1 when rows were rejected."""
    from chainjudge.packs.cep.mapping import MappingError, load_mapping
    from chainjudge.packs.cep.outcomes import OutcomeMappingError, import_outcomes
    from chainjudge.packs.cep.policy import load_policy
    from chainjudge.packs.cep.state_import import PSEUDONYM_SECRET, HistoryFileError

    for path in (out_file, states_file):
        check_output_path(path)
    if not source.is_file():
        fail(f"{source}: no such file")
    try:
        mapping = load_mapping(mapping_file)
    except MappingError as exc:
        fail(str(exc))
    with open_store(db) as store:
        key = store.local_secret(PSEUDONYM_SECRET)
    try:
        rows, scenarios, report = import_outcomes(source, mapping, key, load_policy())
    except (OutcomeMappingError, HistoryFileError) as exc:
        fail(f"{mapping_file if isinstance(exc, OutcomeMappingError) else source}: {exc}")
    write_text_atomic(out_file, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    write_text_atomic(states_file, "".join(s.model_dump_json() + "\n" for s in scenarios))
    out.print(
        f"{report.imported} of {report.rows} rows imported to {out_file} ({report.users} users, their states in {states_file}); "
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
        f"next: chainjudge record --agent MODULE:FUNC --scenarios {states_file} --out agent.jsonl; then "
        f"chainjudge ope {out_file} --decisions agent.jsonl {' '.join(fields)} --group user --reward {reward} --out value.json",
        highlight=False,
    )
    if report.errors:
        report_rejected_rows(source, report.errors, out_file.with_name(out_file.stem + ".rejects.jsonl"), show)
        raise typer.Exit(1)
