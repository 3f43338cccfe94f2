"""`coverage`: which cells of the scenario space have evaluated traces, weighted and not, with a heat map."""

from __future__ import annotations

from rich.table import Table

import chainjudge.cli.golive_options as opt
from chainjudge.cli.golive import ExpectedOption, SpaceOption, evidence_for
from chainjudge.cli.support import DbOption, out


def coverage_cmd(
    run: opt.RunOption,
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
