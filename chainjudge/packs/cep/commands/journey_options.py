"""The options of `generate`, `import_cmd`, `check`, `fit_responses`: each parameter's type and help, declared once (the
commands' signatures name them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

AsJsonOption = Annotated[bool, typer.Option("--json", help="Print the summary and each journey's findings as JSON.")]
CombinationsOption = Annotated[bool, typer.Option(help="Add the risky combinations of perturbations, once per kind.")]
EventsOption = Annotated[
    Path,
    typer.Argument(
        help="The event log: CSV, JSONL or Parquet, one event per row (customer id, time, event, and optional channel, consent, language)."
    ),
]
FitResponsesOutFileOption = Annotated[Path, typer.Option("--out", help="Where to write the response model (YAML).")]
ImportCmdOutFileOption = Annotated[Path, typer.Option("--out", help="Journeys JSONL to write.")]
MappingFileOption = Annotated[
    Path,
    typer.Option(
        "--mapping",
        help="Events mapping YAML: which columns hold what, and which event values are decisions or script events (see "
        "examples/cdp-events-mapping.yaml).",
    ),
]
OutFileOption = Annotated[Path, typer.Option("--out", help="Where to write the journeys (JSONL).")]
OutcomesOption = Annotated[
    Path,
    typer.Argument(
        help="Logged messages: CSV or JSONL with channel and 0/1 opened, clicked, converted, unsubscribed (any subset), optionally segment."
    ),
]
PerCellOption = Annotated[int, typer.Option(min=1, help="Journeys per kind x perturbation cell.")]
PriorOption = Annotated[float, typer.Option(min=0.0, help="Pseudo-messages each fitted rate is shrunk with towards the default.")]
SeedOption = Annotated[int, typer.Option(help="Generator seed.")]
ShowOption = Annotated[int, typer.Option(min=0, help="Rejected rows to list here; all of them go to the rejects file.")]
StatesOption = Annotated[
    Path, typer.Option("--states", help="The customers' starting states: the JSONL `scenarios import` wrote from the same customers.")
]
TracesOption = Annotated[list[Path], typer.Argument(help="Journey trace files (JSONL from `record --journeys` or `journeys search`).")]
