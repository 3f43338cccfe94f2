"""Commands that tell how far the numbers can be trusted: bias probes, agreement between the people who
labelled, and which version of each trace every run judged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import DbOption, err, fail, open_store, out


@dataclass(frozen=True, kw_only=True)
class ProbeOptions:
    """What `probe` is asked: its options, parsed into one request."""

    run: Annotated[str, typer.Argument(help="Run to probe.")]
    judge_model: Annotated[str, typer.Option("--judge", "-j", help="The run's judge: 'local' or a litellm model string.")] = "local"
    api_base: Annotated[Optional[str], typer.Option(help="OpenAI-compatible server for --judge.")] = None
    sample: Annotated[int, typer.Option(min=1, help="Work items re-judged under each change (seeded sample).")] = 20
    seed: Annotated[int, typer.Option(help="Sample seed (same seed, same items).")] = 0
    change: Annotated[
        Optional[list[str]],
        typer.Option(
            "--change", help="Only these changes, repeatable: criteria_order, scale_order, whitespace, verbose_padding, polite_assertion."
        ),
    ] = None
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Judge calls in flight at once.")] = 4
    db: DbOption = None


@from_options(ProbeOptions)
def probe(args: ProbeOptions) -> None:
    """Bias probes: re-judge a seeded sample of RUN under meaning-preserving changes (criteria order
    shuffled, scale labels reversed, whitespace changed, a verbose paragraph appended, a polite "this step
    is correct" inside the trace) and print, per change and criterion, how often the label flipped.

    Each change is stored as a run RUN~probe:CHANGE (cached and resumable); the report shows the flip
    rates and a gate policy can bound them (max_probe_flip_rate)."""
    from chainjudge.analysis.figures import format_estimate as fmt
    from chainjudge.analysis.probe import CHANGES
    from chainjudge.workflows.probes import probe_results

    chosen = args.change or list(CHANGES)
    unknown = [c for c in chosen if c not in CHANGES]
    if unknown:
        fail(f"unknown --change {unknown}; choose among {', '.join(CHANGES)}")
    with open_store(args.db) as store:
        stored = store.get_run(args.run)
        if stored is None:
            fail(f"no run named {args.run!r} in {store.location}; see: chainjudge runs")
        if stored.judge.model.split("/")[-1] != args.judge_model.split("/")[-1] and not (
            args.judge_model == "local" and "local" in stored.judge.model
        ):
            err.print(Text("note:", style="yellow"), f"{args.run} was judged by {stored.judge.model}; probing it with {args.judge_model}")
        outcome = _probe_with_judge(store, stored, args, chosen)
        results = probe_results(store, args.run)
    for name, progress in outcome.items():
        if progress is None:
            out.print(f"{name}: does not apply (one criterion per call or a single model criterion)")
    table = Table("change", "criterion", "items", "flips", "flip rate [95%]", "errors")
    for r in results:
        table.add_row(r.change, r.criterion, str(r.items), str(r.flips), fmt(r.flip_rate, 1, 2), str(r.errors))
    out.print(table)


def _probe_with_judge(store, stored, args: ProbeOptions, chosen: list[str]) -> dict:
    """Each chosen change judged by the probing judge (opened for the duration); per change, its progress."""
    from chainjudge.core.judges.resolve import open_judge  # (a JudgeSetupError or RunMismatch is one line from the CLI's guard)
    from chainjudge.core.offline import quiet_libraries
    from chainjudge.workflows.probes import run_probes

    quiet_libraries()
    with open_judge(args.judge_model, api_base=args.api_base, batch=stored.judge.batch, log_dir=store.log_dir) as (settings, judge):
        return run_probes(store, args.run, judge, settings, args.sample, args.seed, chosen, args.concurrency, on_change=_announce)


def labels_agreement(
    criterion: Annotated[str, typer.Option(help="Criterion id.")],
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples of traces for 95% intervals.")] = 1000,
    db: DbOption = None,
) -> None:
    """How far the annotators (imported people, ground truth, reviewers' adjudications) agree with each
    other on the items both labelled: Cohen's kappa with its interval per pair, Krippendorff's alpha across all.
    Calibration compares a judge with ONE reference label per item; this is the agreement among the sources."""
    from chainjudge.analysis.figures import format_estimate as fmt
    from chainjudge.analysis.reference import annotator_agreement

    with open_store(db) as store:
        pairs = annotator_agreement(store.labels(criterion=criterion), criterion, bootstrap=bootstrap)
    if not pairs:
        out.print(f"no two annotators labelled the same items on {criterion!r}")
        return
    table = Table("annotator", "annotator", "shared items", "traces", "Cohen's kappa [95%]")
    for p in pairs:
        table.add_row(p.first, p.second, str(p.items), str(p.traces), fmt(p.cohen_kappa, 1))
    out.print(table)
    alpha = pairs[0].alpha_all
    out.print(f"Krippendorff's alpha across all annotators: {'-' if alpha is None else f'{alpha:.3f}'}")


def traces_list(db: DbOption = None) -> None:
    """Every stored trace with its versions: a trace whose content changed under the same id is a new
    version, and each run keeps the version it judged (RUN@VERSION)."""
    with open_store(db) as store:
        rows = store.trace_versions()
    if not rows:
        out.print("no traces stored yet")
        return
    table = Table("trace", "versions", "newest", "judged by (run@version)")
    for trace_id, versions, newest, runs in rows:
        table.add_row(trace_id, str(versions), (newest or "")[:19], runs or "-")
    out.print(table)


def _announce(change: str, items: int) -> None:
    err.print(f"probing {change}: {items} work items", highlight=False)
