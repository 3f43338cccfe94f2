"""`agreement`: how far judges (or people) agree with a reference, per criterion, beside the trivial baselines."""

from __future__ import annotations

import json

from rich.table import Table
from rich.text import Text

import chainjudge.cli.agreement_options as opt
from chainjudge.cli.app import app
from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import err, open_store, out
from chainjudge.core.schema import TrustPolicy


@app.command()
@from_options(opt.AgreementOptions)
def agreement(args: opt.AgreementOptions) -> None:
    """Agreement of judges (or people) with a reference, per criterion, beside trivial baselines.

    Step accuracy is micro-averaged over reference-labelled steps; first-error accuracy compares the
    earliest failing step of each trace ("no failing step" is a value). TPR is the share of reference
    failures the judge also failed, TNR the share of passes it passed. Intervals resample traces. A
    judge is trusted only with enough evidence: see the trust rule in docs/guides/calibrate-align-verify.md.
    Compare two rubric versions by passing both runs: --against run:v1 --against run:v2.
    """
    from chainjudge.workflows.agreement import measure

    policy, request = _request(args)
    with open_store(args.db) as store:
        result = measure(store, request, warn=_warn)
    if args.as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in result.reports]))
        return
    _print_reports(result.reports, args.reference, args.criterion, policy, result.panel_alpha)


def _request(args: opt.AgreementOptions):
    """The trust policy the options set, and the agreement request (comma lists split)."""
    from chainjudge.workflows.agreement import AgreementRequest

    policy = TrustPolicy(
        min_failing_labels=args.min_failing_labels,
        min_failing_traces=args.min_failing_traces,
        min_answered=args.min_answered,
        min_tpr_low=args.min_tpr_low,
        min_tnr_low=args.min_tnr_low,
        review_kappa=args.review_kappa,
    )
    request = AgreementRequest(
        reference=args.reference,
        against=args.against,
        criterion=args.criterion,
        order=args.order.split(",") if args.order else None,
        failing=args.failing.split(",") if args.failing else None,
        sources=args.sources,
        bootstrap=args.bootstrap,
        seed=args.seed,
        policy=policy,
        split=args.split,
    )
    return policy, request


def _warn(line: str, biased: bool) -> None:
    """A note from the measurement; a look at the sealed test split says its figures are no longer unbiased."""
    parts = [Text("warning:", style="yellow"), f"{line}: figures on it are no longer an unbiased test"] if biased else [line]
    err.print(*parts, highlight=False)


def _print_reports(reports: list, reference: str, criterion: str, policy, panel_alpha: float | None) -> None:
    """The agreement table: each candidate's figures with their item counts, the baselines, and why trusted or not."""
    first = reports[0]
    out.print(
        f"criterion {criterion}, reference {reference}: {first.reference_items} labelled steps in "
        f"{first.traces} traces, {first.failing_reference_labels} failing in {first.failing_reference_traces} traces; "
        f"labels {first.labels} (failing: {first.failing}); 95% intervals resample traces",
        highlight=False,
    )
    out.print(_agreement_table(reports, policy.min_figure_items))
    for r in reports:
        out.print(f"{r.candidate}: {r.trust} ({r.trust_rule}): {r.trust_basis}", highlight=False)
        if r.suggested_pass_threshold is not None:
            out.print(
                f"{r.candidate}: suggested pass threshold >= {r.suggested_pass_threshold} "
                f"(balanced accuracy {r.threshold_balanced_accuracy:.3f} against {reference}'s pass / fail)"
            )
    if len(reports) > 1:
        alpha = panel_alpha if panel_alpha is not None else float("nan")
        out.print(f"Krippendorff's alpha across all {len(reports) + 1} annotators (nominal, missing labels allowed): {alpha:.3f}")
    out.print(
        f"trust needs >= {policy.min_failing_labels} failing reference labels from >= {policy.min_failing_traces} traces, "
        f">= {policy.min_answered:.0%} answered, TPR and TNR lower bounds >= {policy.min_tpr_low} / {policy.min_tnr_low}",
        highlight=False,
    )


def _agreement_table(reports: list, small: int) -> Table:
    """Each candidate's figures (under SMALL items a figure says 'too few'), then the trivial baselines."""
    from chainjudge.analysis.figures import format_estimate as fmt

    table = Table("against", "step accuracy", "first-error accuracy", "Cohen's kappa", "TPR (failing)", "TNR", "answered", "trust")
    for r in reports:
        answered = "-" if r.answered_share is None else f"{r.answered_share:.0%}"
        table.add_row(
            r.candidate,
            fmt(r.step_accuracy, small),
            fmt(r.first_error_accuracy, 1),
            fmt(r.cohen_kappa, small),
            fmt(r.tpr, 1),
            fmt(r.tnr, 1),
            answered,
            r.trust,
        )
    first = reports[0]
    for b in first.baselines:
        fails = b.label in first.failing
        table.add_row(
            f"baseline: {b.name} ({b.label})",
            "-" if b.step_accuracy is None else f"{b.step_accuracy:.3f}",
            "-" if b.first_error_accuracy is None else f"{b.first_error_accuracy:.3f}",
            "0 (by definition)",
            "1" if fails else "0",
            "0" if fails else "1",
            "",
            "",
        )
    return table
