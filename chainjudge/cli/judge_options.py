"""The options of `judge`: each parameter's type and help, declared once (the
commands' signatures name them)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from chainjudge.reading import FORMATS


class SplitChoice(str, Enum):
    none = "none"
    numbered = "numbered"
    paragraphs = "paragraphs"
    sentences = "sentences"


class ExecutorChoice(str, Enum):
    local = "local"
    ray = "ray"


class ModeChoice(str, Enum):
    json_schema = "json_schema"
    json = "json"
    tools = "tools"
    md_json = "md_json"


JUDGE_HELP = (
    "'local' (offline Qwen2.5-Coder-1.5B, needs chainjudge[local]) or any litellm model string: "
    "openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest, ollama/llama3.1, hosted_vllm/NAME ... "
    "Repeat for a judge panel (one run per judge; compare with chainjudge panel). Default: local."
)


AlignedOption = Annotated[
    Optional[str],
    typer.Option(
        "--aligned", help="An aligned judge (chainjudge align): each prompt carries its nearest worked examples from the tune split."
    ),
]
ApiBaseOption = Annotated[Optional[str], typer.Option(help="Base URL of an OpenAI-compatible server (vLLM, llama.cpp, LM Studio ...).")]
BatchOption = Annotated[
    Optional[bool],
    typer.Option(
        "--batch/--one-per-criterion",
        help="All criteria of a step in one call, or one call per criterion. Default: batched, except for the local judge, which "
        "judges one criterion at a time (measured: docs/benchmarks.md).",
    ),
]
ConcurrencyOption = Annotated[int, typer.Option(min=1, max=512, help="Judge calls in flight at once.")]
ExecutorOption = Annotated[
    ExecutorChoice,
    typer.Option(
        help="Where the judge calls run: this process, or shards on Ray workers (needs chainjudge[ray]), each writing to the store."
    ),
]
ExpectedOption = Annotated[
    Optional[Path],
    typer.Option(
        "--expected",
        help="Scenarios with expected actions this run is judged against; kept with the run so gate, report and app score it alike.",
        exists=True,
        dir_okay=False,
    ),
]
FmtOption = Annotated[str, typer.Option("--format", help=f"Trace format: {', '.join(FORMATS)}.")]
JudgeModelsOption = Annotated[Optional[list[str]], typer.Option("--judge", "-j", help=JUDGE_HELP)]
LimitOption = Annotated[Optional[int], typer.Option(min=1, help="Judge at most N work items (a sample).")]
ModeOption = Annotated[
    Optional[ModeChoice], typer.Option(help="Structured-output mode (default: json_schema for servers, tools for hosted APIs).")
]
RayAddressOption = Annotated[
    Optional[str],
    typer.Option(
        help="A Ray cluster to use (ray://HOST:10001 or auto); its workers must reach the store, so use a postgresql:// --db. "
        "Default: a local Ray runtime for this run."
    ),
]
RedactOption = Annotated[
    Optional[bool],
    typer.Option(
        "--redact/--no-redact",
        help="Replace PII (e-mail, phones, national ids, cards) with placeholders before anything is sent. Default: on for judges "
        "not on this machine.",
    ),
]
RedactPatternOption = Annotated[
    Optional[list[str]],
    typer.Option("--redact-pattern", help="Extra PII pattern KIND=REGEX, repeatable (e.g. CUSTOMER_ID='CUST-\\d{6}')."),
]
ReferenceOption = Annotated[
    Optional[Path],
    typer.Option(
        "--reference",
        help="Reference trajectories keyed by trace id (JSONL of {trace_id, calls: [{tool, args}]}) for tool_sequence assertions.",
        exists=True,
        dir_okay=False,
    ),
]
RetryErrorsOption = Annotated[
    bool, typer.Option("--retry-errors/--keep-errors", help="On resume, ask again for judgments stored as errors.")
]
RubricOption = Annotated[Path, typer.Option("--rubric", "-r", help="Rubric YAML file.")]
RunOption = Annotated[Optional[str], typer.Option("--run", help="Run name; re-use it to resume. Default: <rubric>-<time>.")]
SamplesOption = Annotated[int, typer.Option(min=1, help="Samples per judge (self-consistency; use with --temperature > 0).")]
SpaceOption = Annotated[
    Optional[Path], typer.Option("--space", help="Scenario space YAML for coverage; kept with the run.", exists=True, dir_okay=False)
]
SplitOption = Annotated[SplitChoice, typer.Option(help="Split free-text agent messages into steps.")]
TemperatureOption = Annotated[float, typer.Option(min=0, max=2, help="Judge sampling temperature.")]
TracesOption = Annotated[list[Path], typer.Argument(help="Trace files or directories (JSON / JSONL).", exists=True)]
VerifierOption = Annotated[
    Optional[list[str]],
    typer.Option(
        "--verifier",
        help="A verifier (chainjudge verifier train) decides its criterion first, in milliseconds, where it is confident; with "
        "--judge the model judges what it abstains on (a cascade), without it the abstentions are stored as such and go first to "
        "people. Repeatable: one per criterion.",
    ),
]
WorkersOption = Annotated[
    int, typer.Option(min=1, max=1024, help="Ray workers of a local runtime (one CPU each); --concurrency is per worker.")
]
