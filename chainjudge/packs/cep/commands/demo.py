"""`demo`: the main job on the CEP pack's bundled data, end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from chainjudge.cli.support import err, out
from chainjudge.packs.cep.commands.demo_run import run_demo


def demo(
    judge_model: Annotated[str, typer.Option("--judge", "-j", help="'local' (default) or any litellm model string.")] = "local",
    api_base: Annotated[Optional[str], typer.Option(help="OpenAI-compatible server for --judge.")] = None,
    sample: Annotated[
        int, typer.Option(min=0, help="Decisions judged live by the model (small: the local judge takes ~10-30 s each).")
    ] = 3,
    db: Annotated[Optional[Path], typer.Option("--db", help="Store for the demo (default: .chainjudge/demo.db).")] = None,
) -> None:
    """The main job on bundled data, end to end, finishing with a readable summary."""
    code = run_demo(out, err, judge_spec=judge_model, api_base=api_base, sample=sample, db=db)
    raise typer.Exit(code)
