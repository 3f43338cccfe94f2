"""CLI for coverage, the go-live report and the CI gate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

import chainjudge.cli.golive_options as opt
from chainjudge.cli.support import DbOption, open_store, out

SpaceOption = Annotated[
    Optional[Path],
    typer.Option(
        "--space",
        help="Scenario space YAML (default: the one the run was judged against, else an installed pack's, such as the CEP pack's).",
    ),
]
ExpectedOption = Annotated[
    Optional[Path], typer.Option("--expected", help="Scenarios with expected actions (default: the ones the run was judged against).")
]
CatalogueOption = Annotated[Path, typer.Option("--catalogue", help="Failure-mode catalogue.")]


def evidence_for(run: str, space: Path | None, expected: Path | None, catalogue: Path | None, db, policy=None):
    from chainjudge.workflows import golive

    with open_store(db) as store:
        return golive.evidence_for(store, run, space, expected, catalogue, policy)


def score_line(evidence) -> str:
    s = evidence.score
    unknown = s.unknown
    return f"go-live confidence {s.score:.2f} (range {s.low:.2f}-{s.high:.2f})" + (
        f"; unknown (counted at their low end): {', '.join(unknown)}" if unknown else ""
    )


def print_evidence_tables(evidence) -> None:
    """Trust per criterion (with TPR / TNR) and raw vs judge-error-corrected failure rates."""
    from chainjudge.analysis.figures import format_estimate as fmt

    table = Table(
        "criterion",
        "severity",
        "scored",
        "pass rate",
        "trust",
        "TPR (failing)",
        "TNR",
        "raw failure rate",
        "corrected failure rate",
        "prediction-powered",
    )
    rates = {r.criterion: r for r in evidence.corrected}
    for row in evidence.criteria:
        report = evidence.calibration.get(row.criterion)
        rate = rates.get(row.criterion)
        table.add_row(
            row.criterion,
            row.severity,
            str(row.scored),
            f"{row.passed / row.scored:.0%}" if row.scored else "-",
            row.trust,
            fmt(report.tpr, 1, 2) if report else "-",
            fmt(report.tnr, 1, 2) if report else "-",
            fmt(rate.raw_failure_rate, 1, 2) if rate else "-",
            fmt(rate.corrected_failure_rate, 1, 2) if rate else "-",
            fmt(rate.ppi_failure_rate, 1, 2) if rate and rate.ppi_failure_rate else "-",
        )
    out.print(table)
    if evidence.probes:
        probes = Table("bias probe", "criterion", "flips", "flip rate [95%]")
        for p in evidence.probes:
            probes.add_row(p.change, p.criterion, f"{p.flips}/{p.items}", fmt(p.flip_rate, 1, 2))
        out.print(probes)


def report_cmd(
    run: opt.RunOption,
    out_dir: opt.OutDirOption = Path("report"),
    space: SpaceOption = None,
    expected: ExpectedOption = None,
    catalogue: CatalogueOption = Path("failure-modes.yaml"),
    policy: opt.PolicyOption = None,
    ope_value: opt.OpeValueOption = None,
    ope_unsubscribe: opt.OpeUnsubscribeOption = None,
    db: DbOption = None,
) -> None:
    """Write the go-live report: a self-contained HTML page (coverage heatmap, pass rates, decision
    accuracy, calibration trust with TPR / TNR, raw and judge-error-corrected failure rates, bias probes,
    failure modes, the score and its breakdown, the off-policy guardrails when given), a Markdown summary
    for a pull-request comment, and JSON."""
    from chainjudge.core.schema import GatePolicy
    from chainjudge.workflows import golive
    from chainjudge.workflows.report import write_report

    gate = gate_policy(policy) if policy else None
    evidence = evidence_for(run, space, expected, catalogue, db, gate)
    estimator = (gate or GatePolicy()).ope_estimator
    rails = golive.guardrails_from(ope_value, ope_unsubscribe, estimator)
    if rails:
        evidence = evidence.model_copy(update={"guardrails": rails})
    paths = write_report(evidence, out_dir)
    out.print(f"{score_line(evidence)}; written: {', '.join(str(p) for p in paths)}", highlight=False)


def gate_policy(path: Path):
    from chainjudge.core.schema import GatePolicy
    from chainjudge.core.yamlfile import load_model

    return load_model(path, GatePolicy)
