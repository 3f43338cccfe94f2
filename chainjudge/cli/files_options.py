"""The options of `traces_show`, `collect`: each parameter's type and help, declared once (the
commands' signatures name them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chainjudge.cli.judge_options import SplitChoice
from chainjudge.reading import FORMATS

AsJsonOption = Annotated[bool, typer.Option("--json", help="Print the Trace models as JSON lines.")]
FilesOption = Annotated[list[Path], typer.Argument(help="Trace files or directories.", exists=True)]
FmtOption = Annotated[str, typer.Option("--format", help=f"Trace format: {', '.join(FORMATS)}.")]
ListenOption = Annotated[str, typer.Option(help="HOST:PORT to listen on (loopback by default; OTLP/HTTP's usual port is 4318).")]
MaxBodyMbOption = Annotated[float, typer.Option(help="Refuse export bodies larger than this, as sent or once inflated, with 413.")]
MaxConcurrentOption = Annotated[int, typer.Option(min=1, max=256, help="Exports worked on at once; more get 503.")]
MaxConnectionsOption = Annotated[int, typer.Option(min=1, max=4096, help="Connections held open at once; more are closed on arrival.")]
RequestTimeoutOption = Annotated[
    float,
    typer.Option(min=1, max=3600, help="Seconds a client has for a whole request (headers and body); then the connection is closed."),
]
SplitOption = Annotated[SplitChoice, typer.Option(help="Split free-text agent messages into steps.")]
