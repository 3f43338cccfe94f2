"""The options of `export`: each parameter's type and help, declared once (the
commands' signatures name them)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer


class ExportFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"
    otel = "otel"
    langfuse = "langfuse"
    phoenix = "phoenix"


EndpointOption = Annotated[
    Optional[str],
    typer.Option(
        "--endpoint",
        help="Send to this URL instead of writing a file (otel: an OTLP/HTTP receiver; langfuse / phoenix: the server's base URL). "
        "Nothing is sent without it.",
    ),
]
FmtOption = Annotated[
    ExportFormat,
    typer.Option(
        "--format",
        help="jsonl or csv (one row per judgment); otel (GenAI evaluation events, OTLP JSON logs), langfuse (score batch), phoenix "
        "(span / trace annotations).",
    ),
]
HeaderOption = Annotated[
    Optional[list[str]],
    typer.Option(
        "--header",
        help="Extra request header 'Name: value' for --endpoint, repeatable. Langfuse keys are read from LANGFUSE_PUBLIC_KEY / "
        "LANGFUSE_SECRET_KEY, Phoenix's from PHOENIX_API_KEY.",
    ),
]
OutputOption = Annotated[Optional[Path], typer.Option("--out", "-o", help="File to write (default: standard output).")]
RunOption = Annotated[str, typer.Argument(help="Run name.")]
