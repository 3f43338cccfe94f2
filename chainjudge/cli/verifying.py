"""`verifier`: learn a verifier from people's labels on the tune split, test it on the sealed test split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from chainjudge.cli.support import DbOption, err, open_store, out

verifier_app = typer.Typer(
    help="Verifiers learned from people's labels: train on tune, test on the sealed test split.", no_args_is_help=True
)


@verifier_app.command("train")
def train_cmd(
    criterion: Annotated[str, typer.Option(help="The criterion whose reference labels it learns (e.g. step).")],
    name: Annotated[str, typer.Option(help="Name of the verifier (a new version each time it changes).")],
    reference: Annotated[
        bool,
        typer.Option(
            "--reference-features/--no-reference-features",
            help="Also use what the trace knows of the right answer (AgentProcessBench ground_truth, expected_answer): much stronger "
            "where traces carry it, and only there.",
        ),
    ] = False,
    failing: Annotated[
        Optional[list[str]], typer.Option(help="Labels that fail a step, repeatable (default: error, fail, incorrect, ...).")
    ] = None,
    target: Annotated[
        float, typer.Option(min=0.5, max=0.99, help="Agreement with people it must guarantee on the steps it decides.")
    ] = 0.9,
    risk: Annotated[float, typer.Option(min=0.01, max=0.5, help="... with probability at least 1 - risk.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the fit.")] = 0,
    traces: Annotated[
        Optional[list[Path]],
        typer.Option("--traces", help="Trace files or folders to store first (the labelled traces, if no run has stored them yet)."),
    ] = None,
    from_run: Annotated[
        Optional[str],
        typer.Option(
            "--from-run",
            help="A run whose judgments of the same steps become features (an LLM judge's verdicts and P(fail), a pack's policy "
            "checks), never the answer; kept only if they raise the out-of-fold kappa.",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Learn a calibrated verifier for one criterion from the tune split's reference labels (never the test
    split, never a trace that shares a task with a test trace), cross-validated with whole tasks held out,
    with the confidence above which it decides and below which it abstains (its guarantee)."""
    from chainjudge.analysis.selective import labels_for_a_guarantee
    from chainjudge.analysis.verifier import oof_kappa_text
    from chainjudge.workflows.verifier import train

    with open_store(db) as store:
        _store_traces(store, traces or [])
        verifier, gathered = train(store, name, criterion, reference, failing, target, risk, seed, from_run)
    sel = verifier.selective
    out.print(
        f"verifier {verifier.tag} for {criterion}: {verifier.tune_items} tune steps ({verifier.tune_failing} failing) "
        f"in {verifier.tune_groups} tasks; {len(verifier.features)} features "
        f"({'with' if verifier.reference_features else 'without'} reference features)",
        highlight=False,
    )
    if from_run:
        out.print(
            f"judgments of run {from_run}: "
            + (
                f"kept as features ({', '.join(verifier.run_criteria)})"
                if verifier.run_criteria
                else "left out (they did not raise the out-of-fold kappa)"
            ),
            highlight=False,
        )
    out.print(f"out of fold (whole tasks held out): {oof_kappa_text(verifier)} at P(fail) >= {verifier.cut:.3f}", highlight=False)
    if sel.confidence is None:
        out.print(
            f"selective: no confidence cut guarantees {sel.target:.0%} agreement at risk {sel.risk:g} on these "
            f"labels (even without one disagreement that takes {labels_for_a_guarantee(sel.target, sel.risk)} decided "
            "tune steps): it abstains on everything (every step goes to the judge or to people)",
            highlight=False,
        )
    else:
        out.print(
            f"selective: decides {sel.decided_share:.0%} of tune steps (confidence >= {sel.confidence:.3f}), "
            f"agreement {sel.agreement:.3f}, guaranteed >= {sel.bound:.3f} at risk {sel.risk:g}; "
            "verify on test: chainjudge verifier test " + verifier.name,
            highlight=False,
        )
    if gathered.shares_a_task or gathered.no_trace:
        err.print(
            f"left out: {gathered.shares_a_task} tune labels whose task has a test trace, {gathered.no_trace} "
            "labels without a stored trace or step",
            highlight=False,
        )


@verifier_app.command("test")
def test_cmd(
    name: Annotated[str, typer.Argument(help="The verifier.")],
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for the intervals.")] = 1000,
    traces: Annotated[Optional[list[Path]], typer.Option("--traces", help="Trace files or folders to store first.")] = None,
    db: DbOption = None,
) -> None:
    """The verifier on the sealed test split: kappa, TPR and TNR with 95% intervals over traces, the trivial
    baselines on the same items, and what it decides above its confidence cut. Every look is counted."""
    from chainjudge.analysis.figures import format_estimate
    from chainjudge.workflows.verifier import evaluate

    with open_store(db) as store:
        _store_traces(store, traces or [])
        result = evaluate(store, name, bootstrap=bootstrap)
    r = result.report
    table = Table("on the test split", "value [95%]", "items")
    table.add_row("Cohen's kappa (fail vs pass)", format_estimate(r.cohen_kappa, 1, 3), str(r.paired_items))
    table.add_row("TPR (failing steps caught)", format_estimate(r.tpr, 1, 3), str(r.failing_reference_labels))
    table.add_row("TNR", format_estimate(r.tnr, 1, 3), str(r.paired_items - r.failing_reference_labels))
    table.add_row("step accuracy", format_estimate(r.step_accuracy, 1, 3), str(r.paired_items))
    for b in r.baselines:
        table.add_row(f"baseline: {b.name} ({b.label})", "-" if b.step_accuracy is None else f"{b.step_accuracy:.3f}", "kappa 0")
    out.print(table)
    share = result.decided / result.items if result.items else 0
    if result.decided:
        out.print(
            f"selective: decided {result.decided} of {result.items} test steps ({share:.0%}); agreement on them "
            f"{result.decided_agreement:.3f} (>= {result.decided_agreement_low:.3f} at risk "
            f"{result.verifier.selective.risk:g}; guarantee: {result.verifier.selective.target:.0%}); the rest go to people",
            highlight=False,
        )
    else:
        out.print(f"selective: decided none of {result.items} test steps; all go to people", highlight=False)
    out.print(
        f"{r.traces} test traces; {result.ms_per_1000:.1f} ms per 1,000 steps to score; test split looked at "
        f"{result.looks} time(s) by this version",
        highlight=False,
    )
    if result.looks > 1:
        err.print("warning: figures on a test split looked at more than once are no longer an unbiased test", highlight=False)


def _store_traces(store, paths: list[Path]) -> None:
    """Read and store the traces given (each bad record named and skipped, as `judge` does)."""
    if not paths:
        return
    from chainjudge.pipeline import load_traces

    loaded = load_traces(paths)
    for problem in loaded.errors:
        err.print(Text("skipped", style="yellow"), str(problem), highlight=False)
    store.save_traces(loaded.traces)
    err.print(f"{len(loaded.traces)} traces stored from {', '.join(map(str, paths))}", highlight=False)


@verifier_app.command("list")
def list_cmd(db: DbOption = None) -> None:
    """Every verifier (newest version), with what it learned from."""
    with open_store(db) as store:
        verifiers = store.verifiers()
    if not verifiers:
        out.print("no verifiers yet: chainjudge verifier train --criterion C --name N")
        return
    table = Table("verifier", "criterion", "tune steps", "tasks", "reference features", "out-of-fold kappa", "decides")
    for v in verifiers:
        table.add_row(
            v.tag,
            v.criterion,
            str(v.tune_items),
            str(v.tune_groups),
            "yes" if v.reference_features else "no",
            "-" if v.oof_kappa is None else f"{v.oof_kappa:.3f}",
            f"{v.selective.decided_share:.0%}",
        )
    out.print(table)
