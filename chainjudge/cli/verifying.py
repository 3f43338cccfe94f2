"""`verifier`: learn a verifier from people's labels on the tune split, test it on the sealed test split."""

from __future__ import annotations

from dataclasses import dataclass

import typer
from rich.table import Table

import chainjudge.cli.verifier_options as opt
from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import DbOption, err, open_store, out, store_traces
from chainjudge.core.schema import Verifier

verifier_app = typer.Typer(
    help="Verifiers learned from people's labels: train on tune, test on the sealed test split.", no_args_is_help=True
)


@dataclass(frozen=True, kw_only=True)
class VerifierTrainOptions:
    """What `verifier train` is asked: its options, parsed into one request."""

    criterion: opt.CriterionOption
    name: opt.NameOption
    reference: opt.ReferenceOption = False
    failing: opt.FailingOption = None
    target: opt.TargetOption = 0.9
    risk: opt.RiskOption = 0.1
    seed: opt.SeedOption = 0
    traces: opt.TracesOption = None
    from_run: opt.FromRunOption = None
    db: DbOption = None


@verifier_app.command("train")
@from_options(VerifierTrainOptions)
def train_cmd(args: VerifierTrainOptions) -> None:
    """Learn a calibrated verifier for one criterion from the tune split's reference labels (never the test
    split, never a trace that shares a task with a test trace), cross-validated with whole tasks held out,
    with the confidence above which it decides and below which it abstains (its guarantee)."""
    from chainjudge.analysis.verifier import oof_kappa_text
    from chainjudge.workflows.verifier import train

    with open_store(args.db) as store:
        store_traces(store, args.traces or [])
        fit = (args.reference, args.failing, args.target, args.risk, args.seed, args.from_run)
        verifier, gathered = train(store, args.name, args.criterion, *fit)
    out.print(
        f"verifier {verifier.tag} for {args.criterion}: {verifier.tune_items} tune steps ({verifier.tune_failing} failing) "
        f"in {verifier.tune_groups} tasks; {len(verifier.features)} features "
        f"({'with' if verifier.reference_features else 'without'} reference features)",
        highlight=False,
    )
    if args.from_run:
        kept = f"kept as features ({', '.join(verifier.run_criteria)})" if verifier.run_criteria else ""
        out.print(f"judgments of run {args.from_run}: " + (kept or "left out (they did not raise the out-of-fold kappa)"), highlight=False)
    out.print(f"out of fold (whole tasks held out): {oof_kappa_text(verifier)} at P(fail) >= {verifier.cut:.3f}", highlight=False)
    out.print(_selective_line(verifier), highlight=False)
    if gathered.shares_a_task or gathered.no_trace:
        err.print(
            f"left out: {gathered.shares_a_task} tune labels whose task has a test trace, {gathered.no_trace} "
            "labels without a stored trace or step",
            highlight=False,
        )


def _selective_line(verifier: Verifier) -> str:
    """What the verifier decides and at what guarantee, or that no cut guarantees the target on these labels."""
    from chainjudge.analysis.selective import labels_for_a_guarantee

    sel = verifier.selective
    if sel.confidence is None:
        return (
            f"selective: no confidence cut guarantees {sel.target:.0%} agreement at risk {sel.risk:g} on these "
            f"labels (even without one disagreement that takes {labels_for_a_guarantee(sel.target, sel.risk)} decided "
            "tune steps): it abstains on everything (every step goes to the judge or to people)"
        )
    return (
        f"selective: decides {sel.decided_share:.0%} of tune steps (confidence >= {sel.confidence:.3f}), "
        f"agreement {sel.agreement:.3f}, guaranteed >= {sel.bound:.3f} at risk {sel.risk:g}; "
        "verify on test: chainjudge verifier test " + verifier.name
    )


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
