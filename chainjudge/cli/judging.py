"""`judge`: parse the options into one `JudgeRequest`, run the judging workflow, print what it did.

Exit codes: 2 when a run stopped, 1 when records were skipped or judgments failed, 0 otherwise."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import typer
from rich.text import Text

import chainjudge.cli.judge_options as opt
from chainjudge.cli.app import app
from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import DbOption, err, open_store, out
from chainjudge.core.store import masked_url

if TYPE_CHECKING:
    from chainjudge.workflows.judging import JudgedRun, JudgeRequest, JudgeResult


@dataclass(frozen=True, kw_only=True)
class JudgeOptions:
    """What `judge` is asked: its options, named after the JudgeRequest fields they become (and --db)."""

    traces: opt.TracesOption
    rubric: opt.RubricOption
    judges: opt.JudgeModelsOption = None
    api_base: opt.ApiBaseOption = None
    concurrency: opt.ConcurrencyOption = 8
    run: opt.RunOption = None
    db: DbOption = None
    fmt: opt.FmtOption = "auto"
    split: opt.SplitOption = opt.SplitChoice.none
    limit: opt.LimitOption = None
    batch: opt.BatchOption = None
    mode: opt.ModeOption = None
    retry_errors: opt.RetryErrorsOption = True
    samples: opt.SamplesOption = 1
    temperature: opt.TemperatureOption = 0.0
    redact: opt.RedactOption = None
    redact_patterns: opt.RedactPatternOption = None
    expected: opt.ExpectedOption = None
    space: opt.SpaceOption = None
    reference: opt.ReferenceOption = None
    aligned: opt.AlignedOption = None
    executor: opt.ExecutorOption = opt.ExecutorChoice.local
    ray_address: opt.RayAddressOption = None
    workers: opt.WorkersOption = 2
    verifiers: opt.VerifierOption = None


@app.command()
@from_options(JudgeOptions)
def judge(args: JudgeOptions) -> None:
    """Judge every applicable step of TRACES against a rubric and store the judgments.

    Interrupt it at any time and run the same command with the same --run to resume: only missing
    judgments are made, and a judgment already stored under the same cache key is never asked again.
    With several --judge (or --samples > 1) each judge / sample is its own run, named RUN.<judge>[.sN].
    """
    from chainjudge.core.progress import live_progress
    from chainjudge.workflows import judging
    from chainjudge.workflows.judging import JudgeRequest

    request = JudgeRequest(**{f.name: getattr(args, f.name) for f in dataclasses.fields(JudgeRequest)})
    with open_store(args.db) as store:
        result = judging.judge(
            request,
            store,
            progress=lambda label: live_progress(out, label),
            note=lambda line: err.print(line, highlight=False),
            on_run=print_run,
            on_skipped=lambda problem: err.print(Text("skipped", style="yellow"), f"{problem}", highlight=False),
        )
    finish(result, request, args.db)


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
