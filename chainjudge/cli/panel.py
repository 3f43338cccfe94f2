"""Panels and repeats: `panel` (inter-judge agreement, the aggregated verdict, error correlation) and `passk`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from chainjudge.cli.app import app
from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import DbOption, err, fail, open_store, out
from chainjudge.core.store import Store
from chainjudge.reading import FORMATS


class Aggregation(str, Enum):
    majority = "majority"
    mean = "mean"
    strictest = "strictest"


@dataclass(frozen=True, kw_only=True)
class PanelOptions:
    """What `panel` is asked: its options, parsed into one request."""

    runs_or_annotators: Annotated[list[str], typer.Argument(help="Runs (or label annotators) forming the panel.")]
    criterion: Annotated[str, typer.Option(help="Criterion id.")]
    aggregate: Annotated[Aggregation, typer.Option(help="How the panel's labels become one.")] = Aggregation.majority
    reference: Annotated[
        Optional[str], typer.Option(help="Reference annotator (e.g. human labels) to score the judges and the panel against.")
    ] = None
    order: Annotated[Optional[str], typer.Option(help="Label order, low to high, comma-separated.")] = None
    failing: Annotated[Optional[str], typer.Option(help="Failing labels, comma-separated.")] = None
    db: DbOption = None


@app.command()
@from_options(PanelOptions)
def panel(args: PanelOptions) -> None:
    """A judge panel: inter-judge alpha, unanimity (self-consistency for samples of one judge), the
    aggregated verdict, and, against a reference, each judge's and the panel's agreement, pairwise
    error correlation and the effective number of independent judges."""
    from chainjudge.analysis.calibrate import DEFAULT_FAILING, aggregate_panel, error_correlation, order_labels, unanimity
    from chainjudge.analysis.panel import labels_alpha
    from chainjudge.workflows.agreement import annotator_labels

    with open_store(args.db) as store:
        members = [_members_labels(store, name, args.criterion) for name in args.runs_or_annotators]
        ref_labels = annotator_labels(store, args.reference, args.criterion) if args.reference else []
    values = {label.value for m in members for label in m} | {label.value for label in ref_labels}
    try:
        ordered = order_labels(values, args.order.split(",") if args.order else None)
    except ValueError as exc:
        fail(str(exc))
    fail_set = set(args.failing.split(",")) if args.failing else {v for v in ordered if v.lower() in DEFAULT_FAILING}
    combined = aggregate_panel(members, ordered, fail_set, args.aggregate.value, f"panel:{args.aggregate.value}")
    alpha = labels_alpha(members, ordered)
    agree = unanimity(members)
    out.print(
        f"panel of {len(members)} on {args.criterion}: Krippendorff's alpha {alpha if alpha is None else round(alpha, 3)}, "
        f"unanimous on {'-' if agree is None else f'{agree:.1%}'} of the steps all labelled",
        highlight=False,
    )
    if not ref_labels or args.reference is None:
        out.print("(pass --reference to score each judge and the aggregated panel against people or ground truth)")
        return
    panel = [*zip(args.runs_or_annotators, members, strict=True), (f"panel ({args.aggregate.value})", combined)]
    out.print(_panel_table(panel, ref_labels, args.reference, args.criterion, sorted(fail_set), ordered))
    corr, n_eff = error_correlation(members, ref_labels)
    pairs = [(i, j) for i in range(len(members)) for j in range(i + 1, len(members))]
    out.print(
        "pairwise correlation of errors: "
        + "; ".join(f"{args.runs_or_annotators[i]} ~ {args.runs_or_annotators[j]}: {corr[i, j]:.2f}" for i, j in pairs)
    )
    out.print(f"effective number of independent judges: {'-' if n_eff is None else f'{n_eff:.2f}'} of {len(members)}")


def _members_labels(store: Store, name: str, criterion: str) -> list:
    """A panel member's labels: a stored run's judgments (by its name or run:NAME) or an annotator's."""
    from chainjudge.workflows.agreement import annotator_labels

    labels = annotator_labels(store, name if name.startswith("run:") or store.get_run(name) is None else f"run:{name}", criterion)
    if not labels:
        fail(f"no labels from {name!r} on criterion {criterion!r}")
    return labels


def _panel_table(panel: list, ref_labels: list, reference: str, criterion: str, failing: list[str], ordered: list[str]) -> Table:
    """Each member's and the aggregated panel's agreement with the reference."""
    from chainjudge.analysis.calibrate import agreement as compute
    from chainjudge.analysis.figures import format_estimate as fmt

    table = Table("annotator", "step accuracy", "first-error accuracy", "Cohen's kappa", "trust")
    for name, labels in panel:
        r = compute(ref_labels, labels, reference, name, criterion, failing=failing, order=ordered, bootstrap=500)
        table.add_row(name, fmt(r.step_accuracy), fmt(r.first_error_accuracy, 1), fmt(r.cohen_kappa), r.trust)
    return table


@app.command()
def passk(
    traces: Annotated[list[Path], typer.Argument(help="Trace files whose records carry a task id and a success reward.")],
    task_field: Annotated[str, typer.Option(help="Metadata field naming the task.")] = "task_id",
    success_field: Annotated[str, typer.Option(help="Metadata field holding success (1/true or reward 1.0).")] = "reward",
    fmt: Annotated[str, typer.Option("--format", help=f"Trace format: {', '.join(FORMATS)}.")] = "auto",
) -> None:
    """pass^k over repeated trials of each task (tau-bench's definition: mean over tasks of C(c,k)/C(n,k))."""
    from collections import defaultdict

    from chainjudge.analysis.stats import pass_hat_k_curve
    from chainjudge.pipeline import load_traces

    loaded = load_traces(traces, fmt)
    for problem in loaded.errors:
        err.print(Text("skipped", style="yellow"), f"{problem}", highlight=False)
    outcomes: dict[str, list[bool]] = defaultdict(list)
    for trace in loaded.traces:
        if task_field not in trace.metadata or success_field not in trace.metadata:
            err.print(Text("skipped", style="yellow"), f"{trace.id}: no {task_field!r} or {success_field!r} in its metadata")
            continue
        value = trace.metadata[success_field]
        outcomes[str(trace.metadata[task_field])].append(value is True or (isinstance(value, (int, float)) and value >= 1))
    if not outcomes:
        fail("no trace carries both fields")
    table = Table("k", "pass^k")
    for k, value in pass_hat_k_curve(outcomes):
        table.add_row(str(k), f"{value:.3f}")
    out.print(f"{len(outcomes)} tasks, {sum(len(v) for v in outcomes.values())} trials")
    out.print(table)
