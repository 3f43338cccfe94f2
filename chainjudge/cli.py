"""The `chainjudge` command: parse, resolve names to objects, call the library, print.

Exit codes: 0 all good; 1 the work ran but something was skipped or failed (bad records, judgment
errors); 2 the command could not run as asked (bad rubric, missing key, unreachable judge).
"""

from __future__ import annotations

import csv
import inspect
import json
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
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
labels_app = typer.Typer(help="Labels from people, ground truth or other judges.", no_args_is_help=True)
traces_app = typer.Typer(help="Look at traces as chainjudge reads them.", no_args_is_help=True)
app.add_typer(traces_app, name="traces")
app.add_typer(schema_app, name="schema")
app.add_typer(rubric_app, name="rubric")
app.add_typer(labels_app, name="labels")

from chainjudge.cli_support import DbOption, err, fail, open_store, out  # noqa: E402


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
    judge_models: Annotated[
        Optional[list[str]],
        typer.Option(
            "--judge",
            "-j",
            help="'local' (offline Qwen2.5-Coder-1.5B, needs chainjudge[local]) or any litellm model string: "
            "openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest, ollama/llama3.1, hosted_vllm/NAME ... "
            "Repeat for a judge panel (one run per judge; compare with chainjudge panel). Default: local.",
        ),
    ] = None,
    api_base: Annotated[Optional[str], typer.Option(help="Base URL of an OpenAI-compatible server (vLLM, llama.cpp, LM Studio ...).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=512, help="Judge calls in flight at once.")] = 8,
    run: Annotated[Optional[str], typer.Option("--run", help="Run name; re-use it to resume. Default: <rubric>-<time>.")] = None,
    db: DbOption = None,
    fmt: Annotated[str, typer.Option("--format", help=f"Trace format: {', '.join(FORMATS)}.")] = "auto",
    split: Annotated[SplitChoice, typer.Option(help="Split free-text agent messages into steps.")] = SplitChoice.none,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Judge at most N work items (a sample).")] = None,
    batch: Annotated[Optional[bool], typer.Option("--batch/--one-per-criterion", help="All criteria of a step in one call, or one call per criterion. Default: batched, except for the local judge, which judges one criterion at a time (measured: README, Performance).")] = None,
    mode: Annotated[Optional[ModeChoice], typer.Option(help="Structured-output mode (default: json_schema for servers, tools for hosted APIs).")] = None,
    retry_errors: Annotated[bool, typer.Option("--retry-errors/--keep-errors", help="On resume, ask again for judgments stored as errors.")] = True,
    samples: Annotated[int, typer.Option(min=1, help="Samples per judge (self-consistency; use with --temperature > 0).")] = 1,
    temperature: Annotated[float, typer.Option(min=0, max=2, help="Judge sampling temperature.")] = 0.0,
    redact: Annotated[Optional[bool], typer.Option("--redact/--no-redact", help="Replace PII (e-mail, phones, national ids, cards) with placeholders before anything is sent. Default: on for judges not on this machine.")] = None,
    redact_pattern: Annotated[Optional[list[str]], typer.Option("--redact-pattern", help="Extra PII pattern KIND=REGEX, repeatable (e.g. CUSTOMER_ID='CUST-\\d{6}').")] = None,
    expected: Annotated[Optional[Path], typer.Option("--expected", help="Scenarios with expected actions this run is judged against; kept with the run so gate, report and app score it alike.", exists=True, dir_okay=False)] = None,
    space: Annotated[Optional[Path], typer.Option("--space", help="Scenario space YAML for coverage; kept with the run.", exists=True, dir_okay=False)] = None,
) -> None:
    """Judge every applicable step of TRACES against a rubric and store the judgments.

    Interrupt it at any time and run the same command with the same --run to resume: only missing
    judgments are made, and a judgment already stored under the same cache key is never asked again.
    With several --judge (or --samples > 1) each judge / sample is its own run, named RUN.<judge>[.sN].
    """
    from chainjudge.judges.resolve import JudgeSetupError, open_judge
    from chainjudge.progress import live_progress
    from chainjudge.runner import judge_traces, load_traces

    try:
        rubric_model = load_rubric(rubric)
    except RubricError as exc:
        fail(str(exc))
    from chainjudge.adapters import formats

    if fmt not in formats():
        fail(f"unknown --format {fmt!r}; choose one of {', '.join(formats())}")
    if samples > 1 and temperature == 0:
        fail("--samples > 1 needs --temperature > 0: at temperature 0 every sample is the same answer")
    specs = judge_models or ["local"]
    redactor = _redactor(redact_pattern or [])
    loaded = load_traces(traces, fmt, split.value)  # type: ignore[arg-type]
    for problem in loaded.errors:
        err.print(f"[yellow]skipped[/] {problem}", highlight=False)
    if not loaded.traces:
        fail("no readable traces", 1 if loaded.errors else 2)
    base = run or f"{rubric_model.id}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    panel = len(specs) > 1 or samples > 1
    store = open_store(db)
    failed = aborted = False
    run_names = []
    for spec in specs:
        for sample in range(samples):
            name = base
            if panel:
                name += "." + spec.split("/")[-1] + (f".s{sample}" if samples > 1 else "")
            run_names.append(name)
            try:
                opened = open_judge(spec, api_base=api_base, mode=mode.value if mode else None, batch=batch,
                                    temperature=temperature, sample=sample, redact=redact, log_dir=store.path.parent) \
                    if any(not c.check for c in rubric_model.criteria) else checks_only()
                with opened as (settings, model_judge):
                    with live_progress(out, f"judging with {settings.model}") as (on_start, on_progress):
                        outcome = judge_traces(
                            loaded.traces, rubric_model, settings, model_judge, store, name,
                            sources=[str(p) for p in traces], concurrency=concurrency, limit=limit,
                            retry_errors=retry_errors, on_start=on_start, on_progress=on_progress, redactor=redactor,
                        )
            except (JudgeSetupError, RunMismatch) as exc:
                fail(str(exc))
            if expected or space:
                from chainjudge.golive import attach_context

                attach_context(store, name, space, expected)
            p = outcome.progress
            if outcome.capped:
                out.print(f"note: --concurrency {outcome.asked_concurrency} capped to {outcome.concurrency}: the judge "
                          f"server works on {outcome.concurrency} call(s) at a time; more would only queue there with "
                          "their timeouts running", highlight=False)
            out.print(
                f"run [bold]{name}[/]: {outcome.planned} work items for {len(loaded.traces)} traces — "
                f"{p.calls} judge calls, {p.skipped} already stored, {p.reused} reused from the cache, "
                f"{p.errors} judgment errors, ${p.cost_usd:.4f}",
                highlight=False,
            )
            if p.error_kinds:
                out.print("errors by kind: " + ", ".join(f"{k} {n}" for k, n in p.error_kinds.most_common()))
            if p.rate_limited:
                out.print(f"the judge rate-limited {p.rate_limited} calls (retried); concurrency backed off to {p.lowest_concurrency} at lowest")
            if p.aborted:
                err.print(f"[bold red]stopped:[/] {p.aborted}")
            failed |= bool(p.errors)
            aborted |= bool(p.aborted)
    if loaded.errors:
        err.print(f"[yellow]{len(loaded.errors)} record(s) skipped[/] (listed above); the rest were judged.")
    db_flag = f" --db {db}" if db else ""
    if panel:
        out.print(f"compare the panel: chainjudge panel {' '.join(run_names)} --criterion CRITERION{db_flag}")
    else:
        out.print(f"see: chainjudge show {run_names[0]}{db_flag}")
    if aborted:
        raise typer.Exit(2)
    if loaded.errors or failed:
        raise typer.Exit(1)


@contextmanager
def checks_only():
    """A rubric of deterministic checks only needs no model: no server is started or reached."""
    from chainjudge.schema import JudgeSettings

    class NoModel:
        name = "checks-only"
        max_in_flight = None

        async def judge(self, item, limiter=None):
            raise AssertionError("a checks-only rubric plans no model work")

    yield JudgeSettings(model="checks-only"), NoModel()


def _redactor(patterns: list[str]):
    import re

    from chainjudge.redact import DEFAULT_PATTERNS, Redactor, custom_pattern

    extra = []
    for spec in patterns:
        kind, sep, regex = spec.partition("=")
        if not sep or not kind or not regex:
            fail(f"--redact-pattern takes KIND=REGEX; got {spec!r}")
        try:
            extra.append(custom_pattern(kind, regex))
        except re.error as exc:
            fail(f"--redact-pattern {kind}: invalid regular expression: {exc}")
    return Redactor((*DEFAULT_PATTERNS, *extra))


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
    from chainjudge.figures import format_estimate as fmt
    from chainjudge.golive import calibrate_run

    with open_store(db) as store:
        stored = store.get_run(run)
        if stored is None:
            fail(f"no run named {run!r} in {store.path}; see: chainjudge runs")
        rows = store.criterion_summaries(run)
        errors = store.error_counts(run)
        flagged = store.flagged_count(run)
        calibrated = calibrate_run(store, run)
    out.print(f"run [bold]{run}[/]: rubric {stored.rubric_id}@{stored.rubric_hash}, judge {stored.judge.model}", highlight=False)
    trust = {r["criterion"]: r["trust"] for r in calibrated.rows}
    rates = {r.criterion: r for r in calibrated.corrected}
    table = Table("criterion", "judged", "scored", "passed", "pass rate", "errors", "cost $", "trust")
    for r in rows:
        rate = f"{r.pass_rate:.1%}" if r.pass_rate is not None else "-"
        table.add_row(r.criterion_id, str(r.judgments), str(r.scored), str(r.passed), rate, str(r.errors), f"{r.cost_usd:.4f}",
                      trust.get(r.criterion_id, "-"))
    out.print(table)
    if calibrated.reports:
        checked = Table("criterion", "TPR (failing)", "TNR", "raw failure rate", "corrected failure rate",
                        title="against the reference labels (one per item); corrected = Rogan-Gladen for the judge's TPR / TNR")
        for criterion, report in calibrated.reports.items():
            corrected = rates.get(criterion)
            checked.add_row(criterion, fmt(report.tpr, 1, 2), fmt(report.tnr, 1, 2),
                            fmt(corrected.raw_failure_rate, 1, 2) if corrected else "-",
                            fmt(corrected.corrected_failure_rate, 1, 2) if corrected else "-")
        out.print(checked)
    for criterion, report in calibrated.reports.items():
        if report.trust != "trusted":
            out.print(f"{criterion}: {report.trust} ({report.trust_rule}): {report.trust_basis}", highlight=False)
    if errors:
        out.print("errors by kind: " + ", ".join(f"{k} {n}" for k, n in errors.items()))
    if flagged:
        out.print(f"[yellow]{flagged} judgments are on steps flagged as possible prompt injection[/]: a person should "
                  "check them (export: the 'flags' column)")


EXPORT_FIELDS = [
    "run", "trace_id", "step_index", "step_ref", "criterion_id", "label", "passed", "rationale", "evidence",
    "confidence", "judge", "error", "prompt_tokens", "completion_tokens", "cost_usd", "latency_s",
    "rubric_hash", "prompt_hash", "cache_key", "flags", "created_at",
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
            writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
    finally:
        if output:
            handle.close()
    if output:
        err.print(f"wrote {len(rows)} judgments to {output}")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_NUMBER = __import__("re").compile(r"[+-]?\d{1,30}(?:\.\d{1,30})?")


def spreadsheet_safe(value):
    """A CSV cell a spreadsheet will not run: text starting with = + - @ (or tab / CR) gets a leading
    apostrophe, so trace text like `=HYPERLINK(...)` stays text. Plain numbers such as -1 are left alone."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _export_row(j) -> dict:
    v = j.verdict
    return {
        "run": j.run, "trace_id": j.trace_id, "step_index": j.step_index, "step_ref": j.step_ref,
        "criterion_id": j.criterion_id, "label": v.label if v else None, "passed": j.passed,
        "rationale": v.rationale if v else None, "evidence": v.evidence if v else None,
        "confidence": v.confidence if v else None, "judge": j.judge, "error": j.error,
        "prompt_tokens": j.usage.prompt_tokens, "completion_tokens": j.usage.completion_tokens,
        "cost_usd": j.usage.cost_usd, "latency_s": round(j.latency_s, 3), "rubric_hash": j.rubric_hash,
        "prompt_hash": j.prompt_hash, "cache_key": j.cache_key, "flags": "; ".join(j.flags),
        "created_at": j.created_at.isoformat(),
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
    sample: Annotated[int, typer.Option(min=0, help="Decisions judged live by the model (small: the local judge takes ~10-30 s each).")] = 3,
    db: Annotated[Optional[Path], typer.Option("--db", help="Store for the demo (default: .chainjudge/demo.db).")] = None,
) -> None:
    """The main job on bundled data, end to end, finishing with a readable summary."""
    from chainjudge.demo import run_demo

    code = run_demo(out, err, judge_spec=judge_model, api_base=api_base, sample=sample, db=db)
    raise typer.Exit(code)


@traces_app.command("show")
def traces_show(
    files: Annotated[list[Path], typer.Argument(help="Trace files or directories.", exists=True)],
    fmt: Annotated[str, typer.Option("--format", help=f"Trace format: {', '.join(FORMATS)}.")] = "auto",
    split: Annotated[SplitChoice, typer.Option(help="Split free-text agent messages into steps.")] = SplitChoice.none,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Trace models as JSON lines.")] = False,
) -> None:
    """How each trace was decomposed: the step tree with kind, ref, parent, an excerpt and tool pairing,
    so you see what the judge will see before paying for a run."""
    from rich.markup import escape
    from rich.tree import Tree

    from chainjudge.adapters import read_traces
    from chainjudge.schema import RecordError

    problems = 0
    for item in read_traces(files, fmt, split.value):  # type: ignore[arg-type]
        if isinstance(item, RecordError):
            if item.repaired:  # nothing lost: listed, not a failure
                err.print(f"[cyan]repaired[/] {escape(str(item))}", highlight=False)
                continue
            problems += 1
            err.print(f"[yellow]problem[/] {escape(str(item))}", highlight=False)
            continue
        if as_json:
            print(item.model_dump_json())
            continue
        root = Tree(f"[bold]{escape(item.id)}[/]  ({item.format}, {len(item.steps)} steps, from {escape(item.source or '?')})")
        nodes: dict[str, Tree] = {}
        for step in item.steps:
            excerpt = " ".join(step.render().split())
            excerpt = excerpt[:100] + ("…" if len(excerpt) > 100 else "")
            pairing = ""
            if step.kind.value == "tool_call":
                names = ", ".join(c.name for c in step.tool_calls)
                pairing = f" calls {names}"
            elif step.kind.value == "tool_result":
                pairing = f" ← result of {step.parent_ref}" if step.parent_ref and step.parent_ref in {s.ref for s in item.steps} else " (unpaired)"
            label = f"[cyan]{step.index}[/] [bold]{step.kind.value}[/] ref={escape(step.ref)}{escape(pairing)}: {escape(excerpt)}"
            parent = nodes.get(step.parent_ref) if step.kind.value != "tool_result" else None
            nodes[step.ref] = (parent or root).add(label)
        out.print(root)
    if problems:
        raise typer.Exit(1)


@app.command()
def collect(
    listen: Annotated[str, typer.Option(help="HOST:PORT to listen on (loopback by default; OTLP/HTTP's usual port is 4318).")] = "127.0.0.1:4318",
    max_body_mb: Annotated[float, typer.Option(help="Refuse export bodies larger than this, as sent or once inflated, with 413.")] = 16.0,
    max_concurrent: Annotated[int, typer.Option(min=1, max=256, help="Exports worked on at once; more get 503.")] = 8,
    db: DbOption = None,
) -> None:
    """Receive OTLP/HTTP trace exports (protobuf or JSON, gzip) from instrumented agents and store the
    traces for judging. Point an exporter at http://HOST:PORT/v1/traces; Ctrl-C stops."""
    from chainjudge.collect import Collector, make_server
    from chainjudge.judges.resolve import is_loopback

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        fail(f"--listen takes HOST:PORT; got {listen!r}")
    if not is_loopback(f"http://{host}:{port}"):
        err.print(f"[yellow]warning:[/] listening on {host}, reachable from other machines; traces may hold customer data")
    store = open_store(db)
    collector = Collector(store)
    try:
        server = make_server(collector, host, int(port), int(max_body_mb * 1024 * 1024), max_concurrent=max_concurrent)
    except OSError as exc:
        fail(f"cannot listen on {listen}: {exc.strerror or exc}")
    out.print(f"collecting OTLP traces at http://{host}:{server.server_address[1]}/v1/traces into {store.path} (Ctrl-C stops)", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        out.print(f"received {collector.spans} spans in {collector.trace_count()} traces")
        store.close()


class LabelKind(str, Enum):
    human = "human"
    judge = "judge"
    ground_truth = "ground-truth"


@labels_app.command("import")
def labels_import(
    files: Annotated[list[Path], typer.Argument(help="Label files: JSONL / JSON / CSV rows, or AgentProcessBench records.")],
    annotator: Annotated[Optional[str], typer.Option(help="Annotator id for rows that carry none (or to override).")] = None,
    kind: Annotated[Optional[LabelKind], typer.Option(help="human, judge or ground-truth.")] = None,
    criterion: Annotated[Optional[str], typer.Option(help="Criterion id for rows that carry none (AgentProcessBench step labels: 'step').")] = None,
    value_map: Annotated[Optional[list[str]], typer.Option("--map", help="Value mapping, repeatable: --map 1=correct --map 0=neutral --map -1=error.")] = None,
    db: DbOption = None,
) -> None:
    """Import labels. Importing the same file twice changes nothing; a changed label is a new row (newest counts).

    Rows: {trace_id, step_ref | step_index, criterion, label, annotator, kind, note, time}; a row
    without a step is a trace-level label. Labels need no ingested traces: items are matched by trace
    id and step ref.
    """
    from chainjudge.labels import ImportOptions, parse_value_map, read_labels
    from chainjudge.schema import Label

    try:
        options = ImportOptions(annotator=annotator, kind=kind.value if kind else None, criterion=criterion,
                                value_map=parse_value_map(value_map or []))
    except ValueError as exc:
        fail(str(exc))
    bad = 0
    with open_store(db) as store:
        for file in files:
            batch: list[Label] = []
            for item in read_labels(file, options):
                if isinstance(item, Label):
                    batch.append(item)
                else:
                    bad += 1
                    err.print(f"[yellow]skipped[/] {item}", highlight=False)
            added = store.add_labels(batch)
            out.print(f"{file}: {len(batch)} labels read, {added} new, {len(batch) - added} already stored", highlight=False)
    if bad:
        raise typer.Exit(1)


@labels_app.command("list")
def labels_list(db: DbOption = None) -> None:
    """Annotators, their kind, criteria and label counts."""
    with open_store(db) as store:
        rows = store.label_summary()
    table = Table("annotator", "kind", "criterion", "labels")
    for annotator, kind, criterion, count in rows:
        table.add_row(annotator, kind, criterion, str(count))
    out.print(table if rows else "no labels yet: chainjudge labels import FILE")


def _annotator_labels(store: Store, name: str, criterion: str):
    """Labels of an annotator, or of a stored run's judgments when the name is run:NAME."""
    from chainjudge.schema import Label

    if name.startswith("run:"):
        run_name = name[4:]
        if store.get_run(run_name) is None:
            fail(f"no run named {run_name!r} in {store.path}; see: chainjudge runs")
        return [
            Label(trace_id=j.trace_id, step_ref=j.step_ref, step_index=j.step_index, criterion=j.criterion_id,
                  value=j.verdict.label, annotator=name, kind="judge")
            for j in store.judgments(run_name) if j.criterion_id == criterion and j.verdict is not None
        ]
    return store.labels(criterion=criterion, annotators=[name])


def _panel_alpha(annotators: list[list], order: list[str]) -> float | None:
    """Krippendorff's alpha over several annotators' step labels (units = steps, missing allowed)."""
    import numpy as np

    from chainjudge.calibrate import krippendorff_alpha

    units: dict[tuple[str, str], int] = {}
    for labels in annotators:
        for label in labels:
            if label.step_key:
                units.setdefault((label.trace_id, label.step_key), len(units))
    data = np.full((len(annotators), len(units)), np.nan)
    code = {v: i for i, v in enumerate(order)}
    for row, labels in enumerate(annotators):
        for label in labels:
            if label.step_key and label.value in code:
                data[row, units[(label.trace_id, label.step_key)]] = code[label.value]
    return krippendorff_alpha(data, "nominal")


def _reference_or_annotator(store: Store, name: str, criterion: str, sources: str | None):
    """`reference` is the one reference label per item (adjudication > ground truth > imported human by
    default); any other name is an annotator, or run:NAME for a stored run's judgments."""
    if name != "reference":
        return _annotator_labels(store, name, criterion)
    from chainjudge.reference import parse_precedence, reference_labels

    try:
        precedence = parse_precedence(sources)
    except ValueError as exc:
        fail(str(exc))
    return reference_labels(store.labels(criterion=criterion), precedence)


@app.command()
def agreement(
    reference: Annotated[str, typer.Option("--reference", help="Reference: 'reference' (one label per item: adjudication > ground truth > imported human) or an annotator name.")],
    against: Annotated[list[str], typer.Option("--against", help="Annotators to compare, repeatable; run:NAME uses a stored run's judgments.")],
    criterion: Annotated[str, typer.Option(help="Criterion id (as stored in the labels / the rubric).")] = "step",
    order: Annotated[Optional[str], typer.Option(help="Label order, low to high, comma-separated (e.g. error,neutral,correct); makes the scale ordinal.")] = None,
    failing: Annotated[Optional[str], typer.Option(help="Failing labels, comma-separated (default: error/fail/-1/...).")] = None,
    sources: Annotated[Optional[str], typer.Option(help="With --reference reference: sources most trusted first (default adjudication,ground-truth,human).")] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples of traces for 95% intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    min_failing_labels: Annotated[int, typer.Option(min=1, help="Trust needs at least this many failing reference labels ...")] = 10,
    min_failing_traces: Annotated[int, typer.Option(min=1, help="... from at least this many traces.")] = 5,
    min_answered: Annotated[float, typer.Option(min=0, max=1, help="Trust needs the judge to answer this share of reference items.")] = 0.9,
    min_tpr_low: Annotated[float, typer.Option(min=0, max=1, help="Trust needs the TPR (failing class) lower bound at or above this.")] = 0.8,
    min_tnr_low: Annotated[float, typer.Option(min=0, max=1, help="Trust needs the TNR lower bound at or above this.")] = 0.8,
    review_kappa: Annotated[float, typer.Option(help="Otherwise 'needs review' when kappa's lower bound reaches this.")] = 0.4,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Agreement of judges (or people) with a reference, per criterion, beside trivial baselines.

    Step accuracy is micro-averaged over reference-labelled steps; first-error accuracy compares the
    earliest failing step of each trace ("no failing step" is a value). TPR is the share of reference
    failures the judge also failed, TNR the share of passes it passed. Intervals resample traces. A
    judge is trusted only with enough evidence: see the README's trust rule.
    Compare two rubric versions by passing both runs: --against run:v1 --against run:v2.
    """
    from chainjudge.calibrate import agreement as compute
    from chainjudge.figures import format_estimate as fmt
    from chainjudge.schema import TrustPolicy

    policy = TrustPolicy(min_failing_labels=min_failing_labels, min_failing_traces=min_failing_traces, min_answered=min_answered,
                         min_tpr_low=min_tpr_low, min_tnr_low=min_tnr_low, review_kappa=review_kappa)
    with open_store(db) as store:
        ref_labels = _reference_or_annotator(store, reference, criterion, sources)
        if not ref_labels:
            fail(f"no labels from {reference!r} on criterion {criterion!r}; see: chainjudge labels list")
        reports = []
        everyone: list = []
        for name in against:
            cand = _annotator_labels(store, name, criterion)
            if not cand:
                fail(f"no labels from {name!r} on criterion {criterion!r}; see: chainjudge labels list")
            try:
                report = compute(ref_labels, cand, reference, name, criterion,
                        failing=failing.split(",") if failing else None, order=order.split(",") if order else None,
                        ordinal=order is not None, bootstrap=bootstrap, seed=seed, policy=policy)
            except ValueError as exc:
                fail(f"{name}: {exc}")
            reports.append(report)
            everyone.append(cand)
        panel_alpha = _panel_alpha([ref_labels, *everyone], reports[0].labels)
    if as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in reports]))
        return
    panel_alpha = panel_alpha if panel_alpha is not None else float("nan")
    first = reports[0]
    out.print(
        f"criterion [bold]{criterion}[/], reference {reference}: {first.reference_items} labelled steps in "
        f"{first.traces} traces, {first.failing_reference_labels} failing in {first.failing_reference_traces} traces; "
        f"labels {first.labels} (failing: {first.failing}); 95% intervals resample traces",
        highlight=False,
    )
    small = policy.min_figure_items
    table = Table("against", "step accuracy", "first-error accuracy", "Cohen's kappa", "TPR (failing)", "TNR", "answered", "trust")
    for r in reports:
        table.add_row(
            r.candidate, fmt(r.step_accuracy, small), fmt(r.first_error_accuracy, 1), fmt(r.cohen_kappa, small),
            fmt(r.tpr, 1), fmt(r.tnr, 1), "-" if r.answered_share is None else f"{r.answered_share:.0%}", r.trust,
        )
    for b in first.baselines:
        table.add_row(
            f"[dim]baseline: {b.name} ({b.label})[/]", "-" if b.step_accuracy is None else f"{b.step_accuracy:.3f}",
            "-" if b.first_error_accuracy is None else f"{b.first_error_accuracy:.3f}", "0 (by definition)",
            "1" if b.label in first.failing else "0", "0" if b.label in first.failing else "1", "", "",
        )
    out.print(table)
    for r in reports:
        out.print(f"{r.candidate}: {r.trust} ({r.trust_rule}): {r.trust_basis}", highlight=False)
        if r.suggested_pass_threshold is not None:
            out.print(f"{r.candidate}: suggested pass threshold >= {r.suggested_pass_threshold} "
                      f"(balanced accuracy {r.threshold_balanced_accuracy:.3f} against {reference}'s pass / fail)")
    if len(reports) > 1:
        out.print(f"Krippendorff's alpha across all {len(reports) + 1} annotators (nominal, missing labels allowed): {panel_alpha:.3f}")
    out.print(f"trust needs >= {policy.min_failing_labels} failing reference labels from >= {policy.min_failing_traces} traces, "
              f">= {policy.min_answered:.0%} answered, TPR and TNR lower bounds >= {policy.min_tpr_low} / {policy.min_tnr_low}", highlight=False)


class Aggregation(str, Enum):
    majority = "majority"
    mean = "mean"
    strictest = "strictest"


@app.command()
def panel(
    runs_or_annotators: Annotated[list[str], typer.Argument(help="Runs (or label annotators) forming the panel.")],
    criterion: Annotated[str, typer.Option(help="Criterion id.")],
    aggregate: Annotated[Aggregation, typer.Option(help="How the panel's labels become one.")] = Aggregation.majority,
    reference: Annotated[Optional[str], typer.Option(help="Reference annotator (e.g. human labels) to score the judges and the panel against.")] = None,
    order: Annotated[Optional[str], typer.Option(help="Label order, low to high, comma-separated.")] = None,
    failing: Annotated[Optional[str], typer.Option(help="Failing labels, comma-separated.")] = None,
    db: DbOption = None,
) -> None:
    """A judge panel: inter-judge alpha, unanimity (self-consistency for samples of one judge), the
    aggregated verdict, and, against a reference, each judge's and the panel's agreement, pairwise
    error correlation and the effective number of independent judges."""
    from chainjudge.calibrate import DEFAULT_FAILING, aggregate_panel, error_correlation, order_labels, unanimity
    from chainjudge.calibrate import agreement as compute
    from chainjudge.figures import format_estimate as fmt

    with open_store(db) as store:
        members = []
        for name in runs_or_annotators:
            labels = _annotator_labels(store, name if name.startswith("run:") or store.get_run(name) is None else f"run:{name}", criterion)
            if not labels:
                fail(f"no labels from {name!r} on criterion {criterion!r}")
            members.append(labels)
        ref_labels = _annotator_labels(store, reference, criterion) if reference else []
    values = {l.value for m in members for l in m} | {l.value for l in ref_labels}
    try:
        ordered = order_labels(values, order.split(",") if order else None)
    except ValueError as exc:
        fail(str(exc))
    fail_set = set(failing.split(",")) if failing else {v for v in ordered if v.lower() in DEFAULT_FAILING}
    combined = aggregate_panel(members, ordered, fail_set, aggregate.value, f"panel:{aggregate.value}")
    alpha = _panel_alpha(members, ordered)
    agree = unanimity(members)
    out.print(f"panel of {len(members)} on [bold]{criterion}[/]: Krippendorff's alpha {alpha if alpha is None else round(alpha, 3)}, "
              f"unanimous on {'-' if agree is None else f'{agree:.1%}'} of the steps all labelled", highlight=False)
    if not ref_labels:
        out.print("(pass --reference to score each judge and the aggregated panel against people or ground truth)")
        return
    table = Table("annotator", "step accuracy", "first-error accuracy", "Cohen's kappa", "trust")
    for name, labels in [*zip(runs_or_annotators, members), (f"panel ({aggregate.value})", combined)]:
        r = compute(ref_labels, labels, reference, name, criterion, failing=sorted(fail_set), order=ordered, bootstrap=500)
        table.add_row(name, fmt(r.step_accuracy), fmt(r.first_error_accuracy, 1), fmt(r.cohen_kappa), r.trust)
    out.print(table)
    corr, n_eff = error_correlation(members, ref_labels)
    out.print("pairwise correlation of errors: " + "; ".join(
        f"{runs_or_annotators[i]} ~ {runs_or_annotators[j]}: {corr[i, j]:.2f}"
        for i in range(len(members)) for j in range(i + 1, len(members))))
    out.print(f"effective number of independent judges: {'-' if n_eff is None else f'{n_eff:.2f}'} of {len(members)}")


@app.command()
def passk(
    traces: Annotated[list[Path], typer.Argument(help="Trace files whose records carry a task id and a success reward.")],
    task_field: Annotated[str, typer.Option(help="Metadata field naming the task.")] = "task_id",
    success_field: Annotated[str, typer.Option(help="Metadata field holding success (1/true or reward 1.0).")] = "reward",
    fmt: Annotated[str, typer.Option("--format", help=f"Trace format: {', '.join(FORMATS)}.")] = "auto",
) -> None:
    """pass^k over repeated trials of each task (tau-bench's definition: mean over tasks of C(c,k)/C(n,k))."""
    from collections import defaultdict

    from chainjudge.calibrate import pass_hat_k
    from chainjudge.runner import load_traces

    loaded = load_traces(traces, fmt)
    for problem in loaded.errors:
        err.print(f"[yellow]skipped[/] {problem}", highlight=False)
    outcomes: dict[str, list[bool]] = defaultdict(list)
    for trace in loaded.traces:
        if task_field not in trace.metadata or success_field not in trace.metadata:
            err.print(f"[yellow]skipped[/] {trace.id}: no {task_field!r} or {success_field!r} in its metadata")
            continue
        value = trace.metadata[success_field]
        outcomes[str(trace.metadata[task_field])].append(value is True or (isinstance(value, (int, float)) and value >= 1))
    if not outcomes:
        fail("no trace carries both fields")
    n = min(len(v) for v in outcomes.values())
    table = Table("k", "pass^k")
    for k in range(1, n + 1):
        table.add_row(str(k), f"{pass_hat_k([sum(v) for v in outcomes.values()], [len(v) for v in outcomes.values()], k):.3f}")
    out.print(f"{len(outcomes)} tasks, {sum(len(v) for v in outcomes.values())} trials")
    out.print(table)


@app.command("review")
def review_app(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: a free one).")] = 8501,
    catalogue: Annotated[Path, typer.Option(help="Failure-mode catalogue shown in the app.")] = Path("failure-modes.yaml"),
    space: Annotated[Optional[list[Path]], typer.Option(help="Scenario-space file(s) the Go-live tab may use, repeatable (default: the bundled CEP space).")] = None,
    scenarios: Annotated[Optional[list[Path]], typer.Option(help="Scenario files with expected actions the Go-live tab may use, repeatable.")] = None,
    db: DbOption = None,
) -> None:
    """Start the review app (Streamlit, headless, on 127.0.0.1, usage stats off) and print its address.

    Reviewers sign in with a personal token (chainjudge reviewers add NAME); CHAINJUDGE_REVIEW_TOKEN sets
    one shared token for a one-person set-up. The app reads only the files named here, never a path typed
    in the browser. Its output and error details go to review-app.log next to the store. Ctrl-C stops."""
    from chainjudge.review_server import ReviewServerError, serve

    try:
        serve(db, port, catalogue, space or [], scenarios or [], on_ready=lambda url, log: out.print(
            f"review app: {url}  (store {resolve_db_path(db).resolve()}; log {log}; Ctrl-C stops)", highlight=False))
    except ReviewServerError as exc:
        fail(str(exc))


from chainjudge.cli_modes import cluster as _cluster, modes_app, regress_app  # noqa: E402

app.command("cluster")(_cluster)
from chainjudge.cli_cep import decisions as _decisions, record as _record, scenarios as _scenarios  # noqa: E402

app.command("decisions")(_decisions)
app.command("scenarios")(_scenarios)
app.command("record")(_record)
from chainjudge.cli_golive import coverage_cmd, gate_cmd, report_cmd  # noqa: E402

app.command("coverage")(coverage_cmd)
app.command("report")(report_cmd)
app.command("gate")(gate_cmd)
app.add_typer(modes_app, name="modes")
from chainjudge.cli_reviewers import reviewers_app  # noqa: E402
from chainjudge.cli_trust import labels_agreement, probe, traces_list  # noqa: E402

app.command("probe")(probe)
labels_app.command("agreement")(labels_agreement)
traces_app.command("list")(traces_list)

app.add_typer(reviewers_app, name="reviewers")
app.add_typer(regress_app, name="regress")


def unwrap(text: str | None) -> str | None:
    """A docstring as paragraphs: lines joined within a paragraph (rich wraps them to the terminal),
    blank lines and list items kept.  Hard-wrapped docstrings otherwise read as 'a row\n without a step'."""
    if not text:
        return text
    paragraphs, current = [], []
    for line in inspect.cleandoc(text).splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("- ", "* ")):
            if current:
                paragraphs.append(" ".join(current))
                current = []
            if stripped:
                paragraphs.append(stripped)
            continue
        current.append(stripped)
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)


def _unwrap_help(typer_app: typer.Typer) -> None:
    for command in typer_app.registered_commands:
        if command.help is None and command.callback is not None:
            command.help = unwrap(command.callback.__doc__)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _unwrap_help(group.typer_instance)


_unwrap_help(app)


def main() -> None:
    from chainjudge import offline

    offline.apply()  # before anything imports litellm or sentence-transformers: never a network stall
    app()


if __name__ == "__main__":
    main()
