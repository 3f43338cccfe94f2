"""CLI for coverage, the go-live report and the CI gate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from chainjudge.cli.support import DbOption, open_store, out
from chainjudge.workflows import golive

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


def coverage_cmd(
    run: Annotated[str, typer.Argument(help="Run name.")],
    space: SpaceOption = None,
    expected: ExpectedOption = None,
    db: DbOption = None,
) -> None:
    """Which cells of the scenario space have evaluated traces: weighted and unweighted coverage, the
    heaviest empty cells, adversarial kinds without passing evidence, and a heatmap."""
    evidence = evidence_for(run, space, expected, None, db)
    cov, sp = evidence.coverage, evidence.space
    out.print(
        f"coverage: {cov.covered:.0%} of cells, {cov.weighted:.0%} weighted, {cov.high_weight_coverage:.0%} of high-weight cells "
        f"(at least {sp.min_traces_per_cell} trace per cell)"
    )
    if len(sp.grid) >= 2:
        rows, cols = sp.dimensions[sp.grid[0]].values, sp.dimensions[sp.grid[1]].values
        table = Table(f"{sp.grid[0]} \\ {sp.grid[1]}", *cols, title="traces per cell")
        for r in rows:
            table.add_row(r, *[(f"{n}" if n < sp.min_traces_per_cell else str(n)) for n in (cov.cells.get((r, c), 0) for c in cols)])
        out.print(table)
    if cov.empty_heaviest:
        out.print("heaviest uncovered: " + ", ".join(f"{'/'.join(c)} (w {w:g})" for c, w in cov.empty_heaviest[:8]))
    if cov.open_edge_cases:
        out.print("open edge cases: " + ", ".join(cov.open_edge_cases))
    if "imported" in cov.by_origin:
        _origins_table(cov, sp)


def _origins_table(cov, sp) -> None:
    """Which cells a team's own history covers and which only generated states cover."""
    from chainjudge.analysis.coverage import cell_weight, covered_by

    table = Table("cell", "weight", "imported", "generated", "covered by", title="imported history vs generated states")
    imported, generated = cov.by_origin.get("imported", {}), cov.by_origin.get("generated", {})
    for cell in sorted(cov.cells, key=lambda c: (-cell_weight(sp, c), c)):
        i, g = imported.get(cell, 0), generated.get(cell, 0)
        who = covered_by(cov, cell)
        who = "nothing" if who == "nothing" else who
        table.add_row("/".join(cell), f"{cell_weight(sp, cell):g}", str(i), str(g), who)
    out.print(table)


def report_cmd(
    run: Annotated[str, typer.Argument(help="Run name.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for report.html, summary.md and report.json.")] = Path("report"),
    space: SpaceOption = None,
    expected: ExpectedOption = None,
    catalogue: CatalogueOption = Path("failure-modes.yaml"),
    policy: Annotated[
        Optional[Path], typer.Option("--policy", help="Gate policy YAML whose weights, trust rule and reference sources the report uses.")
    ] = None,
    ope_value: Annotated[
        Optional[Path],
        typer.Option(
            "--ope-value", help="Off-policy value figures (chainjudge ope --out): the agent's expected conversions against today's."
        ),
    ] = None,
    ope_unsubscribe: Annotated[
        Optional[Path],
        typer.Option("--ope-unsubscribe", help="Off-policy unsubscribe / complaint figures: the agent's expected rate against today's."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Write the go-live report: a self-contained HTML page (coverage heatmap, pass rates, decision
    accuracy, calibration trust with TPR / TNR, raw and judge-error-corrected failure rates, bias probes,
    failure modes, the score and its breakdown, the off-policy guardrails when given), a Markdown summary
    for a pull-request comment, and JSON."""
    from chainjudge.core.schema import GatePolicy
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
