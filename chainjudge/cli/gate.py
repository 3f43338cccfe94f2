"""`gate`: exit non-zero, with every reason, when a run is below the go-live policy (fails closed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from chainjudge.cli.golive import (
    CatalogueOption,
    ExpectedOption,
    SpaceOption,
    evidence_for,
    gate_policy,
    print_evidence_tables,
    score_line,
)
from chainjudge.cli.support import DbOption, err, out


def gate_cmd(
    run: Annotated[str, typer.Argument(help="Run name.")],
    policy: Annotated[
        Optional[Path],
        typer.Option(
            "--policy",
            help="Gate policy YAML (min_score, coverage, critical failures, weights, waive_untrusted, max_corrected_failure_rate, "
            "max_probe_flip_rate, trust ...). Default: an installed pack's (the CEP pack's), else the built-in defaults.",
        ),
    ] = None,
    space: SpaceOption = None,
    expected: ExpectedOption = None,
    catalogue: CatalogueOption = Path("failure-modes.yaml"),
    ope_value: Annotated[
        Optional[Path],
        typer.Option("--ope-value", help="Off-policy value figures (chainjudge ope --out) for the policy's min_value_ratio."),
    ] = None,
    ope_unsubscribe: Annotated[
        Optional[Path],
        typer.Option("--ope-unsubscribe", help="Off-policy unsubscribe / complaint figures for the policy's max_unsubscribe_delta."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Exit non-zero, printing each reason, when the run is below the go-live policy. Fails closed: a
    critical criterion with neither a trusted judge nor a deterministic check fails it (unless waived by
    name), an unknown score term counts at its low end, and an off-policy guardrail the policy asks for
    passes only on a bound that clears it."""
    from chainjudge.analysis.golive import gate_reasons
    from chainjudge.analysis.ope_gate import ope_reasons
    from chainjudge.workflows import golive

    if policy is None:
        from chainjudge.core.plugins import default_file

        policy = default_file("gate_policy")
    from chainjudge.core.schema import GatePolicy

    gate = gate_policy(policy) if policy is not None else GatePolicy()
    evidence = evidence_for(run, space, expected, catalogue, db, gate)
    reasons = gate_reasons(evidence, gate) + ope_reasons(
        gate, *(golive.ope_figures(p) if p else None for p in (ope_value, ope_unsubscribe))
    )
    out.print(score_line(evidence), highlight=False)
    print_evidence_tables(evidence)
    if reasons:
        for reason in reasons:
            err.print(Text("gate:", style="bold red"), f"{reason}", highlight=False)
        raise typer.Exit(1)
    out.print(Text("gate passed", style="green"))
