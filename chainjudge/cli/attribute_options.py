"""The options of `attribute`: each parameter's type and help, declared once (the
commands' signatures name them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ApiBaseOption = Annotated[Optional[str], typer.Option("--api-base", help="OpenAI-compatible server for --judge.")]
ConcurrencyOption = Annotated[int, typer.Option(min=1, max=64, help="Judge calls in flight.")]
CriterionOption = Annotated[str, typer.Option(help="The criterion of the attribution labels (labels import writes 'attribution').")]
GroundTruthOption = Annotated[
    bool, typer.Option("--ground-truth/--no-ground-truth", help="Show the judge the task's right answer (the benchmark measures both).")
]
JudgeOption = Annotated[
    Optional[str], typer.Option("--judge", help="Ask this judge (litellm model string, or local) with each --strategy.")
]
OutFileOption = Annotated[Optional[Path], typer.Option("--out", help="Also write the figures and every prediction as JSON here.")]
RunOption = Annotated[
    Optional[str], typer.Option("--run", help="first-failing strategy: the earliest step this run's judges failed, and its agent.")
]
StrategyOption = Annotated[
    Optional[list[str]],
    typer.Option("--strategy", help="With --judge: all-at-once (default), step-by-step, binary-search; repeatable."),
]
TracesOption = Annotated[Optional[list[Path]], typer.Option("--traces", help="Trace files or folders to store first (the annotated logs).")]
