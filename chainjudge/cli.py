"""The `chainjudge` command: parse, resolve names to objects, call the library, print.

Exit codes: 0 all good; 1 the work ran but something was skipped or failed (bad records, judgment
errors); 2 the command could not run as asked (bad rubric, missing key, unreachable judge).
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from chainjudge.adapters import FORMATS
from chainjudge.rubric import RubricError, load_rubric, rubric_hash, rubric_json_schema
from chainjudge.schema import Trace
from chainjudge.store import RunMismatch, Store, resolve_db_path

app = typer.Typer(
    help="chainjudge: judge recorded LLM-agent traces step by step, offline, before they touch a customer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="Print JSON Schemas so editors and other tools can check chainjudge files.", no_args_is_help=True)
rubric_app = typer.Typer(help="Work with rubric files.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(rubric_app, name="rubric")

out = Console()
err = Console(stderr=True)

DbOption = Annotated[
    Optional[Path],
    typer.Option("--db", help="SQLite store. Default: $CHAINJUDGE_DB, else .chainjudge/chainjudge.db here."),
]


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def open_store(db: Path | None) -> Store:
    return Store(resolve_db_path(db))


class SplitChoice(str, Enum):
    none = "none"
    numbered = "numbered"
    paragraphs = "paragraphs"
    sentences = "sentences"


class ModeChoice(str, Enum):
    json_schema = "json_schema"
    json = "json"
    tools = "tools"
    md_json = "md_json"


@app.command()
def judge(
    traces: Annotated[list[Path], typer.Argument(help="Trace files or directories (JSON / JSONL).", exists=True)],
    rubric: Annotated[Path, typer.Option("--rubric", "-r", help="Rubric YAML file.")],
    judge_model: Annotated[
        str,
        typer.Option(
            "--judge",
            "-j",
            help="'local' (offline Qwen2.5-Coder-1.5B, needs chainjudge[local]) or any litellm model string: "
            "openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest, ollama/llama3.1, hosted_vllm/NAME ...",
        ),
    ] = "local",
    api_base: Annotated[Optional[str], typer.Option(help="Base URL of an OpenAI-compatible server (vLLM, llama.cpp, LM Studio ...).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=512, help="Judge calls in flight at once.")] = 8,
    run: Annotated[Optional[str], typer.Option("--run", help="Run name; re-use it to resume. Default: <rubric>-<time>.")] = None,
    db: DbOption = None,
    fmt: Annotated[str, typer.Option("--format", help=f"Trace format: {', '.join(FORMATS)}.")] = "auto",
    split: Annotated[SplitChoice, typer.Option(help="Split free-text agent messages into steps.")] = SplitChoice.none,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Judge at most N work items (a sample).")] = None,
    batch: Annotated[bool, typer.Option("--batch/--one-per-criterion", help="All criteria of a step in one call.")] = False,
    mode: Annotated[Optional[ModeChoice], typer.Option(help="Structured-output mode (default: json_schema for servers, tools for hosted APIs).")] = None,
    retry_errors: Annotated[bool, typer.Option("--retry-errors/--keep-errors", help="On resume, ask again for judgments stored as errors.")] = True,
) -> None:
    """Judge every applicable step of TRACES against a rubric and store the judgments.

    Interrupt it at any time and run the same command with the same --run to resume: only missing
    judgments are made, and a judgment already stored under the same cache key is never asked again.
    """
    from chainjudge.judges.resolve import JudgeSetupError, open_judge
    from chainjudge.progress import live_progress
    from chainjudge.runner import judge_traces, load_traces

    try:
        rubric_model = load_rubric(rubric)
    except RubricError as exc:
        fail(str(exc))
    if fmt not in FORMATS:
        fail(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    loaded = load_traces(traces, fmt, split.value)  # type: ignore[arg-type]
    for problem in loaded.errors:
        err.print(f"[yellow]skipped[/] {problem}", highlight=False)
    if not loaded.traces:
        fail("no readable traces", 1 if loaded.errors else 2)
    run_name = run or f"{rubric_model.id}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    store = open_store(db)
    try:
        with open_judge(judge_model, api_base=api_base, mode=mode.value if mode else None, batch=batch, log_dir=store.path.parent) as (settings, model_judge):
            with live_progress(out, f"judging with {settings.model}") as (on_start, on_progress):
                outcome = judge_traces(
                    loaded.traces, rubric_model, settings, model_judge, store, run_name,
                    sources=[str(p) for p in traces], concurrency=concurrency, limit=limit,
                    retry_errors=retry_errors, on_start=on_start, on_progress=on_progress,
                )
    except JudgeSetupError as exc:
        fail(str(exc))
    except RunMismatch as exc:
        fail(str(exc))
    p = outcome.progress
    out.print(
        f"run [bold]{run_name}[/]: {outcome.planned} work items for {len(loaded.traces)} traces — "
        f"{p.calls} judge calls, {p.skipped} already stored, {p.reused} reused from the cache, "
        f"{p.errors} judgment errors, ${p.cost_usd:.4f}",
        highlight=False,
    )
    if p.error_kinds:
        out.print("errors by kind: " + ", ".join(f"{k} {n}" for k, n in p.error_kinds.most_common()))
    if p.aborted:
        err.print(f"[bold red]stopped:[/] {p.aborted}")
    if loaded.errors:
        err.print(f"[yellow]{len(loaded.errors)} record(s) skipped[/] (listed above); the rest were judged.")
    out.print(f"see: chainjudge show {run_name}" + (f" --db {db}" if db else ""))
    if p.aborted:
        raise typer.Exit(2)
    if loaded.errors or p.errors:
        raise typer.Exit(1)


@app.command()
def runs(db: DbOption = None) -> None:
    """List stored runs with their counts."""
    with open_store(db) as store:
        summaries = store.runs()
    if not summaries:
        out.print("no runs yet: chainjudge judge TRACES --rubric FILE")
        return
    table = Table("run", "rubric", "judge", "created", "judgments", "pass rate", "errors", "cost $")
    for s in summaries:
        rate = f"{s.passed / s.scored:.1%}" if s.scored else "-"
        table.add_row(s.name, s.rubric_id, s.judge, s.created_at[:19], str(s.judgments), rate, str(s.errors), f"{s.cost_usd:.4f}")
    out.print(table)


@app.command()
def show(run: Annotated[str, typer.Argument(help="Run name.")], db: DbOption = None) -> None:
    """Pass rates per criterion, errors and cost of one run."""
    with open_store(db) as store:
        stored = store.get_run(run)
        if stored is None:
            fail(f"no run named {run!r} in {store.path}; see: chainjudge runs")
        rows = store.criterion_summaries(run)
        errors = store.error_counts(run)
    out.print(f"run [bold]{run}[/]: rubric {stored.rubric_id}@{stored.rubric_hash}, judge {stored.judge.model}", highlight=False)
    table = Table("criterion", "judged", "scored", "passed", "pass rate", "errors", "cost $")
    for r in rows:
        rate = f"{r.pass_rate:.1%}" if r.pass_rate is not None else "-"
        table.add_row(r.criterion_id, str(r.judgments), str(r.scored), str(r.passed), rate, str(r.errors), f"{r.cost_usd:.4f}")
    out.print(table)
    if errors:
        out.print("errors by kind: " + ", ".join(f"{k} {n}" for k, n in errors.items()))


EXPORT_FIELDS = [
    "run", "trace_id", "step_index", "step_ref", "criterion_id", "label", "passed", "rationale", "evidence",
    "confidence", "judge", "error", "prompt_tokens", "completion_tokens", "cost_usd", "latency_s",
    "rubric_hash", "prompt_hash", "cache_key", "created_at",
]


class ExportFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


@app.command()
def export(
    run: Annotated[str, typer.Argument(help="Run name.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="jsonl or csv.")] = ExportFormat.jsonl,
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="File to write (default: standard output).")] = None,
    db: DbOption = None,
) -> None:
    """One row per judgment: trace, step index and ref, criterion, label, passed, rationale, judge, error."""
    with open_store(db) as store:
        if store.get_run(run) is None:
            fail(f"no run named {run!r} in {store.path}; see: chainjudge runs")
        rows = [_export_row(j) for j in store.judgments(run)]
    handle = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        if fmt is ExportFormat.jsonl:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(handle, fieldnames=EXPORT_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    finally:
        if output:
            handle.close()
    if output:
        err.print(f"wrote {len(rows)} judgments to {output}")


def _export_row(j) -> dict:
    v = j.verdict
    return {
        "run": j.run, "trace_id": j.trace_id, "step_index": j.step_index, "step_ref": j.step_ref,
        "criterion_id": j.criterion_id, "label": v.label if v else None, "passed": j.passed,
        "rationale": v.rationale if v else None, "evidence": v.evidence if v else None,
        "confidence": v.confidence if v else None, "judge": j.judge, "error": j.error,
        "prompt_tokens": j.usage.prompt_tokens, "completion_tokens": j.usage.completion_tokens,
        "cost_usd": j.usage.cost_usd, "latency_s": round(j.latency_s, 3), "rubric_hash": j.rubric_hash,
        "prompt_hash": j.prompt_hash, "cache_key": j.cache_key, "created_at": j.created_at.isoformat(),
    }


@schema_app.command("trace")
def schema_trace() -> None:
    """JSON Schema of one line of native chainjudge JSONL."""
    schema = Trace.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out.print_json(json.dumps(schema))


@schema_app.command("rubric")
def schema_rubric() -> None:
    """JSON Schema of a rubric YAML file."""
    out.print_json(json.dumps(rubric_json_schema()))


@rubric_app.command("check")
def rubric_check(files: Annotated[list[Path], typer.Argument(help="Rubric YAML files.")]) -> None:
    """Validate rubric files; print each one's id, version hash and criteria, or what is wrong."""
    bad = 0
    for file in files:
        try:
            rubric = load_rubric(file)
        except RubricError as exc:
            bad += 1
            err.print(f"[red]✗[/] {exc}", highlight=False)
            continue
        kinds = lambda c: ",".join(k.value for k in c.applies_to)  # noqa: E731
        out.print(f"[green]✓[/] {file}: rubric {rubric.id}@{rubric_hash(rubric)}", highlight=False)
        for c in rubric.criteria:
            out.print(f"    {c.id} ({c.scale.type}, severity {c.severity}) on {kinds(c)}", highlight=False)
    if bad:
        raise typer.Exit(2)


@app.command()
def demo(
    judge_model: Annotated[str, typer.Option("--judge", "-j", help="'local' (default) or any litellm model string.")] = "local",
    api_base: Annotated[Optional[str], typer.Option(help="OpenAI-compatible server for --judge.")] = None,
    sample: Annotated[int, typer.Option(min=0, help="Steps judged live by the model (small: the local judge takes ~10-30 s per step).")] = 4,
    db: Annotated[Optional[Path], typer.Option("--db", help="Store for the demo (default: .chainjudge/demo.db).")] = None,
) -> None:
    """The main job on bundled data, end to end, finishing with a readable summary."""
    from chainjudge.demo import run_demo

    code = run_demo(out, err, judge_spec=judge_model, api_base=api_base, sample=sample, db=db)
    raise typer.Exit(code)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
