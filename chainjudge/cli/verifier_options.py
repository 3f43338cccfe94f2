"""The options of `train_cmd`, `test_cmd`: each parameter's type and help, declared once (the
commands' signatures name them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

BootstrapOption = Annotated[int, typer.Option(min=0, help="Bootstrap resamples for the intervals.")]
CriterionOption = Annotated[str, typer.Option(help="The criterion whose reference labels it learns (e.g. step).")]
FailingOption = Annotated[
    Optional[list[str]], typer.Option(help="Labels that fail a step, repeatable (default: error, fail, incorrect, ...).")
]
FromRunOption = Annotated[
    Optional[str],
    typer.Option(
        "--from-run",
        help="A run whose judgments of the same steps become features (an LLM judge's verdicts and P(fail), a pack's policy "
        "checks), never the answer; kept only if they raise the out-of-fold kappa.",
    ),
]
NameOption = Annotated[str, typer.Option(help="Name of the verifier (a new version each time it changes).")]
ReferenceOption = Annotated[
    bool,
    typer.Option(
        "--reference-features/--no-reference-features",
        help="Also use what the trace knows of the right answer (AgentProcessBench ground_truth, expected_answer): much stronger "
        "where traces carry it, and only there.",
    ),
]
RiskOption = Annotated[float, typer.Option(min=0.01, max=0.5, help="... with probability at least 1 - risk.")]
SeedOption = Annotated[int, typer.Option(help="Seed of the fit.")]
TargetOption = Annotated[float, typer.Option(min=0.5, max=0.99, help="Agreement with people it must guarantee on the steps it decides.")]
TestCmdNameOption = Annotated[str, typer.Argument(help="The verifier.")]
TestCmdTracesOption = Annotated[Optional[list[Path]], typer.Option("--traces", help="Trace files or folders to store first.")]
TracesOption = Annotated[
    Optional[list[Path]],
    typer.Option("--traces", help="Trace files or folders to store first (the labelled traces, if no run has stored them yet)."),
]
