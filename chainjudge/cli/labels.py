"""Labels and agreement: `labels import` / `list`, `agreement`, `panel`, `passk`."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from chainjudge.cli.app import app, labels_app
from chainjudge.cli.support import DbOption, err, fail, open_store, out
from chainjudge.core.store import Store
from chainjudge.reading import FORMATS


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
            expanded += sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in LABEL_SUFFIXES),
                               key=lambda p: (len(p.stem), p.stem))
        else:
            expanded.append(path)
    return expanded


@labels_app.command("import")
def labels_import(
    files: Annotated[list[Path], typer.Argument(help="Label files: JSONL / JSON / CSV rows, or AgentProcessBench records.")],
    annotator: Annotated[Optional[str], typer.Option(help="Annotator id for rows that carry none (or to override).")] = None,
    kind: Annotated[Optional[LabelKind], typer.Option(help="human, judge or ground-truth.")] = None,
    criterion: Annotated[Optional[str], typer.Option(help="Criterion id for rows that carry none (AgentProcessBench step labels: 'step').")] = None,
    value_map: Annotated[Optional[list[str]], typer.Option("--map", help="Value mapping, repeatable: --map 1=correct --map 0=neutral --map -1=error.")] = None,
    db: DbOption = None,
) -> None:
    """Import labels. Importing the same file twice changes nothing; a changed label is a new row (newest counts).

    Rows: {trace_id, step_ref | step_index, criterion, label, annotator, kind, note, time}; a row
    without a step is a trace-level label. Labels need no ingested traces: items are matched by trace
    id and step ref.
    """
    from chainjudge.core.schema import Label
    from chainjudge.reading.labels import ImportOptions, check_annotator, parse_value_map, read_labels

    try:
        if annotator is not None:
            check_annotator(annotator)
        options = ImportOptions(annotator=annotator, kind=kind.value if kind else None, criterion=criterion,
                                value_map=parse_value_map(value_map or []))
    except ValueError as exc:
        fail(str(exc))
    bad = 0
    with open_store(db) as store:
        for file in _expand(files):
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


def _annotator_labels(store: Store, name: str, criterion: str):
    """Labels of an annotator, or of a stored run's judgments when the name is run:NAME."""
    from chainjudge.analysis.reference import judgment_labels

    if name.startswith("run:"):
        run_name = name[4:]
        if store.get_run(run_name) is None:
            fail(f"no run named {run_name!r} in {store.location}; see: chainjudge runs")
        return judgment_labels(list(store.judgments(run_name)), name, criterion)
    return store.labels(criterion=criterion, annotators=[name])


def _on_split(store: Store, labels: list, split: str, against: list[str], criterion: str) -> list:
    """The reference labels of one side of the split; a look at test is recorded per candidate and version."""
    from chainjudge.analysis.splits import judge_version

    if split not in ("tune", "test"):
        fail(f"--split is tune or test, not {split!r}")
    sides = store.split()
    if not sides:
        fail("no test split yet: chainjudge labels split --test-share 0.3 --seed N")
    if split == "test":
        for name in against:
            run = store.get_run(name[4:]) if name.startswith("run:") else None
            version = judge_version(run) if run else name  # a judge changes with its model, rubric or aligned examples
            looks = store.record_look(name, version, criterion)
            line = f"the test split has been looked at {looks} time(s) by {name} since its judge last changed"
            err.print(*([Text("warning:", style="yellow"), f"{line}: figures on it are no longer an unbiased test"] if looks > 1 else [line]), highlight=False)
    return [label for label in labels if sides.get(label.trace_id) == split]


def _reference_or_annotator(store: Store, name: str, criterion: str, sources: str | None):
    """`reference` is the one reference label per item (adjudication > ground truth > imported human by
    default); any other name is an annotator, or run:NAME for a stored run's judgments."""
    if name != "reference":
        return _annotator_labels(store, name, criterion)
    from chainjudge.analysis.reference import parse_precedence, reference_labels

    try:
        precedence = parse_precedence(sources)
    except ValueError as exc:
        fail(str(exc))
    return reference_labels(store.labels(criterion=criterion), precedence)


@app.command()
def agreement(
    reference: Annotated[str, typer.Option("--reference", help="Reference: 'reference' (one label per item: adjudication > ground truth > imported human) or an annotator name.")],
    against: Annotated[list[str], typer.Option("--against", help="Annotators to compare, repeatable; run:NAME uses a stored run's judgments.")],
    criterion: Annotated[str, typer.Option(help="Criterion id (as stored in the labels / the rubric).")] = "step",
    order: Annotated[Optional[str], typer.Option(help="Label order, low to high, comma-separated (e.g. error,neutral,correct); makes the scale ordinal.")] = None,
    failing: Annotated[Optional[str], typer.Option(help="Failing labels, comma-separated (default: error/fail/-1/...).")] = None,
    sources: Annotated[Optional[str], typer.Option(help="With --reference reference: sources most trusted first (default adjudication,ground-truth,human).")] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples of traces for 95% intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    min_failing_labels: Annotated[int, typer.Option(min=1, help="Trust needs at least this many failing reference labels ...")] = 10,
    min_failing_traces: Annotated[int, typer.Option(min=1, help="... from at least this many traces.")] = 5,
    min_answered: Annotated[float, typer.Option(min=0, max=1, help="Trust needs the judge to answer this share of reference items.")] = 0.9,
    min_tpr_low: Annotated[float, typer.Option(min=0, max=1, help="Trust needs the TPR (failing class) lower bound at or above this.")] = 0.8,
    min_tnr_low: Annotated[float, typer.Option(min=0, max=1, help="Trust needs the TNR lower bound at or above this.")] = 0.8,
    review_kappa: Annotated[float, typer.Option(help="Otherwise 'needs review' when kappa's lower bound reaches this.")] = 0.4,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
    split: Annotated[Optional[str], typer.Option("--split", help="Only the traces of this side of `labels split`: tune, or test (every look at test is recorded and counted).")] = None,
    db: DbOption = None,
) -> None:
    """Agreement of judges (or people) with a reference, per criterion, beside trivial baselines.

    Step accuracy is micro-averaged over reference-labelled steps; first-error accuracy compares the
    earliest failing step of each trace ("no failing step" is a value). TPR is the share of reference
    failures the judge also failed, TNR the share of passes it passed. Intervals resample traces. A
    judge is trusted only with enough evidence: see the trust rule in docs/guides/calibrate-align-verify.md.
    Compare two rubric versions by passing both runs: --against run:v1 --against run:v2.
    """
    from chainjudge.analysis.calibrate import agreement as compute
    from chainjudge.analysis.panel import labels_alpha
    from chainjudge.core.schema import TrustPolicy

    policy = TrustPolicy(min_failing_labels=min_failing_labels, min_failing_traces=min_failing_traces, min_answered=min_answered,
                         min_tpr_low=min_tpr_low, min_tnr_low=min_tnr_low, review_kappa=review_kappa)
    with open_store(db) as store:
        ref_labels = _reference_or_annotator(store, reference, criterion, sources)
        if split is not None:
            ref_labels = _on_split(store, ref_labels, split, against, criterion)
        if not ref_labels:
            fail(f"no labels from {reference!r} on criterion {criterion!r}{f' in the {split} split' if split else ''}; see: chainjudge labels list")
        reports = []
        everyone: list = []
        for name in against:
            cand = _annotator_labels(store, name, criterion)
            if not cand:
                fail(f"no labels from {name!r} on criterion {criterion!r}; see: chainjudge labels list")
            try:
                report = compute(ref_labels, cand, reference, name, criterion,
                        failing=failing.split(",") if failing else None, order=order.split(",") if order else None,
                        ordinal=order is not None, bootstrap=bootstrap, seed=seed, policy=policy)
            except ValueError as exc:
                fail(f"{name}: {exc}")
            reports.append(report)
            everyone.append(cand)
        panel_alpha = labels_alpha([ref_labels, *everyone], reports[0].labels)
    if as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in reports]))
        return
    _print_reports(reports, reference, criterion, policy, panel_alpha)


def _print_reports(reports: list, reference: str, criterion: str, policy, panel_alpha: float | None) -> None:
    """The agreement table: each candidate's figures with their item counts, the baselines, and why trusted or not."""
    from chainjudge.analysis.figures import format_estimate as fmt

    panel_alpha = panel_alpha if panel_alpha is not None else float("nan")
    first = reports[0]
    out.print(
        f"criterion {criterion}, reference {reference}: {first.reference_items} labelled steps in "
        f"{first.traces} traces, {first.failing_reference_labels} failing in {first.failing_reference_traces} traces; "
        f"labels {first.labels} (failing: {first.failing}); 95% intervals resample traces",
        highlight=False,
    )
    small = policy.min_figure_items
    table = Table("against", "step accuracy", "first-error accuracy", "Cohen's kappa", "TPR (failing)", "TNR", "answered", "trust")
    for r in reports:
        table.add_row(
            r.candidate, fmt(r.step_accuracy, small), fmt(r.first_error_accuracy, 1), fmt(r.cohen_kappa, small),
            fmt(r.tpr, 1), fmt(r.tnr, 1), "-" if r.answered_share is None else f"{r.answered_share:.0%}", r.trust,
        )
    for b in first.baselines:
        table.add_row(
            f"baseline: {b.name} ({b.label})", "-" if b.step_accuracy is None else f"{b.step_accuracy:.3f}",
            "-" if b.first_error_accuracy is None else f"{b.first_error_accuracy:.3f}", "0 (by definition)",
            "1" if b.label in first.failing else "0", "0" if b.label in first.failing else "1", "", "",
        )
    out.print(table)
    for r in reports:
        out.print(f"{r.candidate}: {r.trust} ({r.trust_rule}): {r.trust_basis}", highlight=False)
        if r.suggested_pass_threshold is not None:
            out.print(f"{r.candidate}: suggested pass threshold >= {r.suggested_pass_threshold} "
                      f"(balanced accuracy {r.threshold_balanced_accuracy:.3f} against {reference}'s pass / fail)")
    if len(reports) > 1:
        out.print(f"Krippendorff's alpha across all {len(reports) + 1} annotators (nominal, missing labels allowed): {panel_alpha:.3f}")
    out.print(f"trust needs >= {policy.min_failing_labels} failing reference labels from >= {policy.min_failing_traces} traces, "
              f">= {policy.min_answered:.0%} answered, TPR and TNR lower bounds >= {policy.min_tpr_low} / {policy.min_tnr_low}", highlight=False)


class Aggregation(str, Enum):
    majority = "majority"
    mean = "mean"
    strictest = "strictest"


@app.command()
def panel(
    runs_or_annotators: Annotated[list[str], typer.Argument(help="Runs (or label annotators) forming the panel.")],
    criterion: Annotated[str, typer.Option(help="Criterion id.")],
    aggregate: Annotated[Aggregation, typer.Option(help="How the panel's labels become one.")] = Aggregation.majority,
    reference: Annotated[Optional[str], typer.Option(help="Reference annotator (e.g. human labels) to score the judges and the panel against.")] = None,
    order: Annotated[Optional[str], typer.Option(help="Label order, low to high, comma-separated.")] = None,
    failing: Annotated[Optional[str], typer.Option(help="Failing labels, comma-separated.")] = None,
    db: DbOption = None,
) -> None:
    """A judge panel: inter-judge alpha, unanimity (self-consistency for samples of one judge), the
    aggregated verdict, and, against a reference, each judge's and the panel's agreement, pairwise
    error correlation and the effective number of independent judges."""
    from chainjudge.analysis.calibrate import DEFAULT_FAILING, aggregate_panel, error_correlation, order_labels, unanimity
    from chainjudge.analysis.calibrate import agreement as compute
    from chainjudge.analysis.figures import format_estimate as fmt
    from chainjudge.analysis.panel import labels_alpha

    with open_store(db) as store:
        members = []
        for name in runs_or_annotators:
            labels = _annotator_labels(store, name if name.startswith("run:") or store.get_run(name) is None else f"run:{name}", criterion)
            if not labels:
                fail(f"no labels from {name!r} on criterion {criterion!r}")
            members.append(labels)
        ref_labels = _annotator_labels(store, reference, criterion) if reference else []
    values = {l.value for m in members for l in m} | {l.value for l in ref_labels}
    try:
        ordered = order_labels(values, order.split(",") if order else None)
    except ValueError as exc:
        fail(str(exc))
    fail_set = set(failing.split(",")) if failing else {v for v in ordered if v.lower() in DEFAULT_FAILING}
    combined = aggregate_panel(members, ordered, fail_set, aggregate.value, f"panel:{aggregate.value}")
    alpha = labels_alpha(members, ordered)
    agree = unanimity(members)
    out.print(f"panel of {len(members)} on {criterion}: Krippendorff's alpha {alpha if alpha is None else round(alpha, 3)}, "
              f"unanimous on {'-' if agree is None else f'{agree:.1%}'} of the steps all labelled", highlight=False)
    if not ref_labels:
        out.print("(pass --reference to score each judge and the aggregated panel against people or ground truth)")
        return
    table = Table("annotator", "step accuracy", "first-error accuracy", "Cohen's kappa", "trust")
    for name, labels in [*zip(runs_or_annotators, members, strict=True), (f"panel ({aggregate.value})", combined)]:
        r = compute(ref_labels, labels, reference, name, criterion, failing=sorted(fail_set), order=ordered, bootstrap=500)
        table.add_row(name, fmt(r.step_accuracy), fmt(r.first_error_accuracy, 1), fmt(r.cohen_kappa), r.trust)
    out.print(table)
    corr, n_eff = error_correlation(members, ref_labels)
    out.print("pairwise correlation of errors: " + "; ".join(
        f"{runs_or_annotators[i]} ~ {runs_or_annotators[j]}: {corr[i, j]:.2f}"
        for i in range(len(members)) for j in range(i + 1, len(members))))
    out.print(f"effective number of independent judges: {'-' if n_eff is None else f'{n_eff:.2f}'} of {len(members)}")


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
