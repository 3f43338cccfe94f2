"""`judge`: parse the options into one `JudgeRequest`, run the judging workflow, print what it did.

Exit codes: 2 when a run stopped, 1 when records were skipped or judgments failed, 0 otherwise."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from chainjudge.cli.app import app
from chainjudge.cli.support import DbOption, err, open_store, out
from chainjudge.core.progress import live_progress
from chainjudge.core.store import masked_url
from chainjudge.reading import FORMATS
from chainjudge.workflows import judging
from chainjudge.workflows.judging import JudgedRun, JudgeRequest, JudgeResult


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


@app.command()
def judge(
    traces: Annotated[list[Path], typer.Argument(help="Trace files or directories (JSON / JSONL).", exists=True)],
    rubric: Annotated[Path, typer.Option("--rubric", "-r", help="Rubric YAML file.")],
    judge_models: Annotated[Optional[list[str]], typer.Option("--judge", "-j", help=JUDGE_HELP)] = None,
    api_base: Annotated[
        Optional[str], typer.Option(help="Base URL of an OpenAI-compatible server (vLLM, llama.cpp, LM Studio ...).")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=512, help="Judge calls in flight at once.")] = 8,
    run: Annotated[Optional[str], typer.Option("--run", help="Run name; re-use it to resume. Default: <rubric>-<time>.")] = None,
    db: DbOption = None,
    fmt: Annotated[str, typer.Option("--format", help=f"Trace format: {', '.join(FORMATS)}.")] = "auto",
    split: Annotated[SplitChoice, typer.Option(help="Split free-text agent messages into steps.")] = SplitChoice.none,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Judge at most N work items (a sample).")] = None,
    batch: Annotated[
        Optional[bool],
        typer.Option(
            "--batch/--one-per-criterion",
            help="All criteria of a step in one call, or one call per criterion. Default: batched, except for the local judge, which "
            "judges one criterion at a time (measured: docs/benchmarks.md).",
        ),
    ] = None,
    mode: Annotated[
        Optional[ModeChoice], typer.Option(help="Structured-output mode (default: json_schema for servers, tools for hosted APIs).")
    ] = None,
    retry_errors: Annotated[
        bool, typer.Option("--retry-errors/--keep-errors", help="On resume, ask again for judgments stored as errors.")
    ] = True,
    samples: Annotated[int, typer.Option(min=1, help="Samples per judge (self-consistency; use with --temperature > 0).")] = 1,
    temperature: Annotated[float, typer.Option(min=0, max=2, help="Judge sampling temperature.")] = 0.0,
    redact: Annotated[
        Optional[bool],
        typer.Option(
            "--redact/--no-redact",
            help="Replace PII (e-mail, phones, national ids, cards) with placeholders before anything is sent. Default: on for judges "
            "not on this machine.",
        ),
    ] = None,
    redact_pattern: Annotated[
        Optional[list[str]],
        typer.Option("--redact-pattern", help="Extra PII pattern KIND=REGEX, repeatable (e.g. CUSTOMER_ID='CUST-\\d{6}')."),
    ] = None,
    expected: Annotated[
        Optional[Path],
        typer.Option(
            "--expected",
            help="Scenarios with expected actions this run is judged against; kept with the run so gate, report and app score it alike.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    space: Annotated[
        Optional[Path], typer.Option("--space", help="Scenario space YAML for coverage; kept with the run.", exists=True, dir_okay=False)
    ] = None,
    reference: Annotated[
        Optional[Path],
        typer.Option(
            "--reference",
            help="Reference trajectories keyed by trace id (JSONL of {trace_id, calls: [{tool, args}]}) for tool_sequence assertions.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    aligned: Annotated[
        Optional[str],
        typer.Option(
            "--aligned", help="An aligned judge (chainjudge align): each prompt carries its nearest worked examples from the tune split."
        ),
    ] = None,
    executor: Annotated[
        ExecutorChoice,
        typer.Option(
            help="Where the judge calls run: this process, or shards on Ray workers (needs chainjudge[ray]), each writing to the store."
        ),
    ] = ExecutorChoice.local,
    ray_address: Annotated[
        Optional[str],
        typer.Option(
            help="A Ray cluster to use (ray://HOST:10001 or auto); its workers must reach the store, so use a postgresql:// --db. "
            "Default: a local Ray runtime for this run."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=1024, help="Ray workers of a local runtime (one CPU each); --concurrency is per worker.")
    ] = 2,
    verifier: Annotated[
        Optional[list[str]],
        typer.Option(
            "--verifier",
            help="A verifier (chainjudge verifier train) decides its criterion first, in milliseconds, where it is confident; with "
            "--judge the model judges what it abstains on (a cascade), without it the abstentions are stored as such and go first to "
            "people. Repeatable: one per criterion.",
        ),
    ] = None,
) -> None:
    """Judge every applicable step of TRACES against a rubric and store the judgments.

    Interrupt it at any time and run the same command with the same --run to resume: only missing
    judgments are made, and a judgment already stored under the same cache key is never asked again.
    With several --judge (or --samples > 1) each judge / sample is its own run, named RUN.<judge>[.sN].
    """
    request = JudgeRequest(
        traces=traces,
        rubric=rubric,
        judges=judge_models or [],
        api_base=api_base,
        concurrency=concurrency,
        run=run,
        fmt=fmt,
        split=split.value,
        limit=limit,
        batch=batch,
        mode=mode.value if mode else None,
        retry_errors=retry_errors,
        samples=samples,
        temperature=temperature,
        redact=redact,
        redact_patterns=redact_pattern or [],
        expected=expected,
        space=space,
        reference=reference,
        aligned=aligned,
        executor=executor.value,
        ray_address=ray_address,
        workers=workers,
        verifiers=verifier or [],
    )
    with open_store(db) as store:
        result = judging.judge(
            request,
            store,
            progress=lambda label: live_progress(out, label),
            note=lambda line: err.print(line, highlight=False),
            on_run=print_run,
            on_skipped=lambda problem: err.print(Text("skipped", style="yellow"), f"{problem}", highlight=False),
        )
    finish(result, request, db)


def print_run(judged: JudgedRun, traces: int) -> None:
    outcome, p = judged.outcome, judged.outcome.progress
    if judged.verifier_note:
        out.print(judged.verifier_note, highlight=False)
    if outcome.capped:
        out.print(
            f"note: --concurrency {outcome.asked_concurrency} capped to {outcome.concurrency}: the judge "
            f"server works on {outcome.concurrency} call(s) at a time; more would only queue there with "
            "their timeouts running",
            highlight=False,
        )
    out.print(
        f"run {judged.name}: {outcome.planned} work items for {traces} traces — {p.calls} judge calls, {p.skipped} already "
        f"stored, {p.reused} reused from the cache, {p.errors} judgment errors, ${p.cost_usd:.4f}",
        highlight=False,
    )
    if p.error_kinds:
        out.print("errors by kind: " + ", ".join(f"{k} {n}" for k, n in p.error_kinds.most_common()))
    if p.rate_limited:
        out.print(f"the judge rate-limited {p.rate_limited} calls (retried); concurrency backed off to {p.lowest_concurrency} at lowest")
    if p.aborted:
        err.print(Text("stopped:", style="bold red"), f"{p.aborted}")


def finish(result: JudgeResult, request: JudgeRequest, db: Optional[str]) -> None:
    """The skipped records, where to look next, and the exit code."""
    if result.loaded.errors:
        err.print(Text(f"{len(result.loaded.errors)} record(s) skipped", style="yellow"), "(listed above); the rest were judged.")
    db_flag = f" --db {masked_url(str(db))}" if db else ""  # a password in a URL is never printed
    names = [r.name for r in result.runs]
    if request.panel:
        out.print(f"compare the panel: chainjudge panel {' '.join(names)} --criterion CRITERION{db_flag}")
    else:
        out.print(f"see: chainjudge show {names[0]}{db_flag}")
    if result.aborted:
        raise typer.Exit(2)
    if result.failed_records_or_judgments:
        raise typer.Exit(1)
