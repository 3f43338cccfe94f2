"""Labels and agreement: `labels import` / `list`, `agreement`, `panel`, `passk`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from chainjudge.cli.app import labels_app
from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import DbOption, err, fail, open_store, out


class LabelKind(str, Enum):
    human = "human"
    judge = "judge"
    ground_truth = "ground-truth"


LABEL_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv")


def _expand(paths: list[Path]) -> list[Path]:
    """Files as given; a folder stands for the label files directly in it (as traces are read from one)."""
    expanded: list[Path] = []
    for path in paths:
        if path.is_dir():
            expanded += sorted(
                (p for p in path.iterdir() if p.is_file() and p.suffix.lower() in LABEL_SUFFIXES), key=lambda p: (len(p.stem), p.stem)
            )
        else:
            expanded.append(path)
    return expanded


@dataclass(frozen=True, kw_only=True)
class LabelsImportOptions:
    """What `labels import` is asked: its options, parsed into one request."""

    files: Annotated[list[Path], typer.Argument(help="Label files: JSONL / JSON / CSV rows, or AgentProcessBench records.")]
    annotator: Annotated[Optional[str], typer.Option(help="Annotator id for rows that carry none (or to override).")] = None
    kind: Annotated[Optional[LabelKind], typer.Option(help="human, judge or ground-truth.")] = None
    criterion: Annotated[
        Optional[str], typer.Option(help="Criterion id for rows that carry none (AgentProcessBench step labels: 'step').")
    ] = None
    value_map: Annotated[
        Optional[list[str]], typer.Option("--map", help="Value mapping, repeatable: --map 1=correct --map 0=neutral --map -1=error.")
    ] = None
    db: DbOption = None


@labels_app.command("import")
@from_options(LabelsImportOptions)
def labels_import(args: LabelsImportOptions) -> None:
    """Import labels. Importing the same file twice changes nothing; a changed label is a new row (newest counts).

    Rows: {trace_id, step_ref | step_index, criterion, label, annotator, kind, note, time}; a row
    without a step is a trace-level label. Labels need no ingested traces: items are matched by trace
    id and step ref.
    """
    from chainjudge.core.schema import Label
    from chainjudge.reading.labels import ImportOptions, check_annotator, parse_value_map, read_labels

    try:
        if args.annotator is not None:
            check_annotator(args.annotator)
        options = ImportOptions(
            annotator=args.annotator,
            kind=args.kind.value if args.kind else None,
            criterion=args.criterion,
            value_map=parse_value_map(args.value_map or []),
        )
    except ValueError as exc:
        fail(str(exc))
    bad = 0
    with open_store(args.db) as store:
        for file in _expand(args.files):
            batch: list[Label] = []
            for item in read_labels(file, options):
                if isinstance(item, Label):
                    batch.append(item)
                else:
                    bad += 1
                    err.print(Text("skipped", style="yellow"), f"{item}", highlight=False)
            added = store.add_labels(batch)
            out.print(f"{file}: {len(batch)} labels read, {added} new, {len(batch) - added} already stored", highlight=False)
    if bad:
        raise typer.Exit(1)


@labels_app.command("list")
def labels_list(db: DbOption = None) -> None:
    """Annotators, their kind, criteria and label counts."""
    from chainjudge.cli.splits import split_lines

    with open_store(db) as store:
        rows = store.label_summary()
        split = split_lines(store)
    table = Table("annotator", "kind", "criterion", "labels")
    for annotator, kind, criterion, count in rows:
        table.add_row(annotator, kind, criterion, str(count))
    out.print(table if rows else "no labels yet: chainjudge labels import FILE")
    for line in split:
        out.print(line, highlight=False)
