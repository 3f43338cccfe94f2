"""CLI for coverage, the go-live report and the CI gate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from chainjudge.cli_support import DbOption, err, fail, open_store, out

ROOT = Path(__file__).resolve().parents[1]
SpaceOption = Annotated[Path, typer.Option("--space", help="Scenario space YAML.")]
ExpectedOption = Annotated[Optional[Path], typer.Option("--expected", help="Scenarios with expected actions (for decision accuracy).")]
CatalogueOption = Annotated[Path, typer.Option("--catalogue", help="Failure-mode catalogue.")]


def _evidence(run: str, space: Path, expected: Path | None, catalogue: Path, db, high_weight: float = 2.0):
    from chainjudge.golive import collect, load_space

    try:
        loaded_space = load_space(space)
    except (OSError, ValueError) as exc:
        fail(f"{space}: {exc}")
    with open_store(db) as store:
        try:
            return collect(store, run, loaded_space, expected, catalogue, high_weight)
        except KeyError:
            fail(f"no run named {run!r} in {store.path}; see: chainjudge runs")


def coverage_cmd(
    run: Annotated[str, typer.Argument(help="Run name.")],
    space: SpaceOption = ROOT / "rubrics" / "cep" / "space.yaml",
    expected: ExpectedOption = None,
    db: DbOption = None,
) -> None:
    """Which cells of the scenario space have evaluated traces: weighted and unweighted coverage, the
    heaviest empty cells, adversarial kinds without passing evidence, and a heatmap."""
    evidence = _evidence(run, space, expected, Path("/nonexistent"), db)
    cov, sp = evidence.coverage, evidence.space
    out.print(f"coverage: {cov.covered:.0%} of cells, {cov.weighted:.0%} weighted, {cov.high_weight_coverage:.0%} of high-weight cells "
              f"(at least {sp.min_traces_per_cell} trace per cell)")
    if len(sp.grid) >= 2:
        rows, cols = sp.dimensions[sp.grid[0]].values, sp.dimensions[sp.grid[1]].values
        table = Table(f"{sp.grid[0]} \\ {sp.grid[1]}", *cols, title="traces per cell")
        for r in rows:
            table.add_row(r, *[(f"[red]{n}[/]" if n < sp.min_traces_per_cell else str(n)) for n in (cov.cells.get((r, c), 0) for c in cols)])
        out.print(table)
    if cov.empty_heaviest:
        out.print("heaviest uncovered: " + ", ".join(f"{'/'.join(c)} (w {w:g})" for c, w in cov.empty_heaviest[:8]))
    if cov.open_edge_cases:
        out.print("open edge cases: " + ", ".join(cov.open_edge_cases))


def report_cmd(
    run: Annotated[str, typer.Argument(help="Run name.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for report.html, summary.md and report.json.")] = Path("report"),
    space: SpaceOption = ROOT / "rubrics" / "cep" / "space.yaml",
    expected: ExpectedOption = None,
    catalogue: CatalogueOption = Path("failure-modes.yaml"),
    db: DbOption = None,
) -> None:
    """Write the go-live report: a self-contained HTML page (coverage heatmap, pass rates, decision
    accuracy, calibration trust, failure modes, the score and its breakdown), a Markdown summary for a
    pull-request comment, and JSON."""
    from chainjudge.report import write_report

    evidence = _evidence(run, space, expected, catalogue, db)
    paths = write_report(evidence, out_dir)
    s = evidence.score
    out.print(f"go-live confidence {s.score:.2f} (range {s.low:.2f}-{s.high:.2f}); written: {', '.join(str(p) for p in paths)}")


def gate_cmd(
    run: Annotated[str, typer.Argument(help="Run name.")],
    policy: Annotated[Path, typer.Option("--policy", help="Gate policy YAML (min_score, coverage, critical failures ...).")] = ROOT / "rubrics" / "cep" / "gate.yaml",
    space: SpaceOption = ROOT / "rubrics" / "cep" / "space.yaml",
    expected: ExpectedOption = None,
    catalogue: CatalogueOption = Path("failure-modes.yaml"),
    db: DbOption = None,
) -> None:
    """Exit non-zero, printing each reason, when the run is below the go-live policy."""
    import yaml

    from chainjudge.golive import gate_reasons
    from chainjudge.schema import GatePolicy

    try:
        gate = GatePolicy.model_validate(yaml.safe_load(policy.read_text(encoding="utf-8")) or {})
    except (OSError, ValueError) as exc:
        fail(f"{policy}: {exc}")
    evidence = _evidence(run, space, expected, catalogue, db, gate.high_weight)
    reasons = gate_reasons(evidence, gate)
    out.print(f"go-live confidence {evidence.score.score:.2f} (range {evidence.score.low:.2f}-{evidence.score.high:.2f})")
    if reasons:
        for reason in reasons:
            err.print(f"[bold red]gate:[/] {reason}", highlight=False)
        raise typer.Exit(1)
    out.print("[green]gate passed[/]")
