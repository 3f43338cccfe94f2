"""`verifier test`: a verifier on the sealed test split, with intervals, baselines and the selective view; every look counted."""

from __future__ import annotations

from rich.table import Table

import chainjudge.cli.verifier_options as opt
from chainjudge.cli.support import DbOption, err, open_store, out, store_traces
from chainjudge.cli.verifying import verifier_app


@verifier_app.command("test")
def test_cmd(
    name: opt.TestCmdNameOption,
    bootstrap: opt.BootstrapOption = 1000,
    traces: opt.TestCmdTracesOption = None,
    db: DbOption = None,
) -> None:
    """The verifier on the sealed test split: kappa, TPR and TNR with 95% intervals over traces, the trivial
    baselines on the same items, and what it decides above its confidence cut. Every look is counted."""
    from chainjudge.analysis.figures import format_estimate
    from chainjudge.workflows.verifier import evaluate

    with open_store(db) as store:
        store_traces(store, traces or [])
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
