"""The options of `coverage_cmd`, `report_cmd`: each parameter's type and help, declared once (the
commands' signatures name them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

OpeUnsubscribeOption = Annotated[
    Optional[Path],
    typer.Option("--ope-unsubscribe", help="Off-policy unsubscribe / complaint figures: the agent's expected rate against today's."),
]
OpeValueOption = Annotated[
    Optional[Path],
    typer.Option("--ope-value", help="Off-policy value figures (chainjudge ope --out): the agent's expected conversions against today's."),
]
OutDirOption = Annotated[Path, typer.Option("--out", help="Folder for report.html, summary.md and report.json.")]
PolicyOption = Annotated[
    Optional[Path], typer.Option("--policy", help="Gate policy YAML whose weights, trust rule and reference sources the report uses.")
]
RunOption = Annotated[str, typer.Argument(help="Run name.")]
