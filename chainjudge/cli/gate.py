"""`gate`: exit non-zero, with every reason, when a run is below the go-live policy (fails closed)."""

from __future__ import annotations

from dataclasses import dataclass
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
from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import DbOption, err, out


@dataclass(frozen=True, kw_only=True)
class GateOptions:
    """What `gate` is asked: its options, parsed into one request."""

    run: Annotated[str, typer.Argument(help="Run name.")]
    policy: Annotated[
        Optional[Path],
        typer.Option(
            "--policy",
            help="Gate policy YAML (min_score, coverage, critical failures, weights, waive_untrusted, max_corrected_failure_rate, "
            "max_probe_flip_rate, trust ...). Default: an installed pack's (the CEP pack's), else the built-in defaults.",
        ),
    ] = None
    space: SpaceOption = None
    expected: ExpectedOption = None
    catalogue: CatalogueOption = Path("failure-modes.yaml")
    ope_value: Annotated[
        Optional[Path],
        typer.Option("--ope-value", help="Off-policy value figures (chainjudge ope --out) for the policy's min_value_ratio."),
    ] = None
    ope_unsubscribe: Annotated[
        Optional[Path],
        typer.Option("--ope-unsubscribe", help="Off-policy unsubscribe / complaint figures for the policy's max_unsubscribe_delta."),
    ] = None
    db: DbOption = None


@from_options(GateOptions)
def gate_cmd(args: GateOptions) -> None:
    """Exit non-zero, printing each reason, when the run is below the go-live policy. Fails closed: a
    critical criterion with neither a trusted judge nor a deterministic check fails it (unless waived by
    name), an unknown score term counts at its low end, and an off-policy guardrail the policy asks for
    passes only on a bound that clears it."""
    from chainjudge.analysis.golive import gate_reasons
    from chainjudge.analysis.ope_gate import ope_reasons
    from chainjudge.core.plugins import default_file
    from chainjudge.core.schema import GatePolicy
    from chainjudge.workflows import golive

    policy_file = args.policy if args.policy is not None else default_file("gate_policy")
    gate = gate_policy(policy_file) if policy_file is not None else GatePolicy()
    evidence = evidence_for(args.run, args.space, args.expected, args.catalogue, args.db, gate)
    reasons = gate_reasons(evidence, gate) + ope_reasons(
        gate, *(golive.ope_figures(p) if p else None for p in (args.ope_value, args.ope_unsubscribe))
    )
    out.print(score_line(evidence), highlight=False)
    print_evidence_tables(evidence)
    if reasons:
        for reason in reasons:
            err.print(Text("gate:", style="bold red"), f"{reason}", highlight=False)
        raise typer.Exit(1)
    out.print(Text("gate passed", style="green"))
