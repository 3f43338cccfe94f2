"""Judging and reading results: `judge`, `runs`, `show`."""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from chainjudge.cli.app import app
from chainjudge.cli.support import DbOption, err, fail, open_store, out
from chainjudge.core.rubric import RubricError, load_rubric
from chainjudge.core.store import RunMismatch
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


JUDGE_HELP = ("'local' (offline Qwen2.5-Coder-1.5B, needs chainjudge[local]) or any litellm model string: "
              "openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest, ollama/llama3.1, hosted_vllm/NAME ... "
              "Repeat for a judge panel (one run per judge; compare with chainjudge panel). Default: local.")


@app.command()
def judge(
    traces: Annotated[list[Path], typer.Argument(help="Trace files or directories (JSON / JSONL).", exists=True)],
    rubric: Annotated[Path, typer.Option("--rubric", "-r", help="Rubric YAML file.")],
    judge_models: Annotated[Optional[list[str]], typer.Option("--judge", "-j", help=JUDGE_HELP)] = None,
    api_base: Annotated[Optional[str], typer.Option(help="Base URL of an OpenAI-compatible server (vLLM, llama.cpp, LM Studio ...).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=512, help="Judge calls in flight at once.")] = 8,
    run: Annotated[Optional[str], typer.Option("--run", help="Run name; re-use it to resume. Default: <rubric>-<time>.")] = None,
    db: DbOption = None,
    fmt: Annotated[str, typer.Option("--format", help=f"Trace format: {', '.join(FORMATS)}.")] = "auto",
    split: Annotated[SplitChoice, typer.Option(help="Split free-text agent messages into steps.")] = SplitChoice.none,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Judge at most N work items (a sample).")] = None,
    batch: Annotated[Optional[bool], typer.Option("--batch/--one-per-criterion", help="All criteria of a step in one call, or one call per criterion. Default: batched, except for the local judge, which judges one criterion at a time (measured: docs/benchmarks.md).")] = None,
    mode: Annotated[Optional[ModeChoice], typer.Option(help="Structured-output mode (default: json_schema for servers, tools for hosted APIs).")] = None,
    retry_errors: Annotated[bool, typer.Option("--retry-errors/--keep-errors", help="On resume, ask again for judgments stored as errors.")] = True,
    samples: Annotated[int, typer.Option(min=1, help="Samples per judge (self-consistency; use with --temperature > 0).")] = 1,
    temperature: Annotated[float, typer.Option(min=0, max=2, help="Judge sampling temperature.")] = 0.0,
    redact: Annotated[Optional[bool], typer.Option("--redact/--no-redact", help="Replace PII (e-mail, phones, national ids, cards) with placeholders before anything is sent. Default: on for judges not on this machine.")] = None,
    redact_pattern: Annotated[Optional[list[str]], typer.Option("--redact-pattern", help="Extra PII pattern KIND=REGEX, repeatable (e.g. CUSTOMER_ID='CUST-\\d{6}').")] = None,
    expected: Annotated[Optional[Path], typer.Option("--expected", help="Scenarios with expected actions this run is judged against; kept with the run so gate, report and app score it alike.", exists=True, dir_okay=False)] = None,
    space: Annotated[Optional[Path], typer.Option("--space", help="Scenario space YAML for coverage; kept with the run.", exists=True, dir_okay=False)] = None,
    reference: Annotated[Optional[Path], typer.Option("--reference", help="Reference trajectories keyed by trace id (JSONL of {trace_id, calls: [{tool, args}]}) for tool_sequence assertions.", exists=True, dir_okay=False)] = None,
    aligned: Annotated[Optional[str], typer.Option("--aligned", help="An aligned judge (chainjudge align): each prompt carries its nearest worked examples from the tune split.")] = None,
    executor: Annotated[ExecutorChoice, typer.Option(help="Where the judge calls run: this process, or shards on Ray workers (needs chainjudge[ray]), each writing to the store.")] = ExecutorChoice.local,
    ray_address: Annotated[Optional[str], typer.Option(help="A Ray cluster to use (ray://HOST:10001 or auto); its workers must reach the store, so use a postgresql:// --db. Default: a local Ray runtime for this run.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=1024, help="Ray workers of a local runtime (one CPU each); --concurrency is per worker.")] = 2,
    verifier: Annotated[Optional[list[str]], typer.Option("--verifier", help="A verifier (chainjudge verifier train) decides its criterion first, in milliseconds, where it is confident; with --judge the model judges what it abstains on (a cascade), without it the abstentions are stored as such and go first to people. Repeatable: one per criterion.")] = None,
) -> None:
    """Judge every applicable step of TRACES against a rubric and store the judgments.

    Interrupt it at any time and run the same command with the same --run to resume: only missing
    judgments are made, and a judgment already stored under the same cache key is never asked again.
    With several --judge (or --samples > 1) each judge / sample is its own run, named RUN.<judge>[.sN].
    """
    rubric_model = _checked_inputs(rubric, fmt, samples, temperature)
    specs = judge_models or (["verifier-only"] if verifier else ["local"])
    redactor = _redactor(redact_pattern or [])
    loaded = _load(traces, fmt, split.value, reference)
    base = run or f"{rubric_model.id}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    panel = len(specs) > 1 or samples > 1
    store = open_store(db)
    run_options = dict(sources=[str(p) for p in traces], concurrency=concurrency, limit=limit, retry_errors=retry_errors,
                       redactor=redactor, executor=_executor(executor, store, ray_address, workers))
    tag, thresholds = _aligned(store, aligned, rubric_model, run_options) if aligned else (None, None)
    chosen = _verifiers(store, verifier, rubric_model, executor) if verifier else None
    if chosen and not judge_models:  # the verifiers alone: their criteria (and the checks), no model
        mine = {v.criterion for v in chosen}
        rubric_model = rubric_model.model_copy(update={"criteria": [c for c in rubric_model.criteria
                                                                    if c.id in mine or c.deterministic]})
    run_options["verifier"] = chosen
    outcomes, run_names = [], []
    for spec in specs:
        for sample in range(samples):
            name = base + ("." + spec.split("/")[-1] + (f".s{sample}" if samples > 1 else "") if panel else "")
            run_names.append(name)
            options = dict(api_base=api_base, mode=mode.value if mode else None, batch=batch, temperature=temperature,
                           sample=sample, redact=redact, log_dir=store.log_dir, aligned=tag, thresholds=thresholds)
            outcome = _judge_one(store, loaded, rubric_model, spec, options, name, run_options)
            if expected or space:
                from chainjudge.workflows.golive import attach_context

                attach_context(store, name, space, expected)
            _print_outcome(outcome, name, len(loaded.traces))
            outcomes.append(outcome)
    _finish(loaded, outcomes, run_names, panel, db)


def _executor(choice: ExecutorChoice, store, address: str | None, workers: int):
    """None (this process) or a RayExecutor; a cluster elsewhere cannot write to a SQLite file here."""
    if choice is ExecutorChoice.local:
        if address:
            fail("--ray-address needs --executor ray")
        return None
    try:
        import ray  # noqa: F401

        from chainjudge.scale import RayExecutor
    except ImportError:
        fail("--executor ray needs Ray: pip install 'chainjudge[ray]'")
    from chainjudge.core.judges.resolve import is_loopback

    if address and store.path is not None and address != "auto" and not is_loopback(address if "://" in address else f"ray://{address}"):
        fail(f"the Ray cluster at {address} cannot write to the SQLite file {store.location} on this machine: "
             "give a shared store, --db postgresql://...")
    return RayExecutor(store.connect_to, address=address, workers=workers)


def _load(traces: list[Path], fmt: str, split: str, reference: Path | None):
    """The traces (bad records reported, none readable: exit), with their reference trajectories if given."""
    from chainjudge.pipeline import load_traces

    loaded = load_traces(traces, fmt, split)  # type: ignore[arg-type]
    for problem in loaded.errors:
        err.print(Text("skipped", style="yellow"), f"{problem}", highlight=False)
    if not loaded.traces:
        fail("no readable traces", 1 if loaded.errors else 2)
    if reference:
        _attach_references(loaded, reference)
    return loaded


def _aligned(store, name: str, rubric_model, run_options: dict) -> tuple[str, dict[str, float]]:
    """The aligned judge NAME for this rubric: its retriever joins the run options; returns NAME@VERSION
    and its decision thresholds (criterion -> P(fail))."""
    from chainjudge.analysis.alignment import Retriever
    from chainjudge.core.rubric import rubric_hash
    from chainjudge.workflows.embed import EmbeddingModelMissing, SentenceTransformerEmbedder, embed_cached

    aligned = store.aligned(name)
    if aligned is None:
        fail(f"no aligned judge named {name!r} in {store.location}: chainjudge align --rubric RUBRIC --name {name}")
    if aligned.rubric_hash != rubric_hash(rubric_model):
        fail(f"{name} was aligned on rubric {aligned.rubric_id}@{aligned.rubric_hash}; this rubric is "
             f"{rubric_model.id}@{rubric_hash(rubric_model)}: align again")
    try:
        embedder = SentenceTransformerEmbedder()
    except EmbeddingModelMissing as exc:
        fail(str(exc))
    retriever = Retriever(aligned, lambda texts: embed_cached(texts, embedder, store))
    run_options["examples"] = retriever.examples_for
    shown = ", ".join(f"{c} fails at P >= {t.p_fail:.3g}" for c, t in sorted(aligned.thresholds.items())) or "none"
    err.print(f"aligned judge {aligned.tag}: {len(aligned.examples)} worked examples, {aligned.k} nearest per criterion "
              f"in each prompt; decision thresholds: {shown}", highlight=False)
    return aligned.tag, {c: t.p_fail for c, t in aligned.thresholds.items()}


def _attach_references(loaded, path: Path) -> None:
    from chainjudge.reading.references import ReferenceFileError, read_references, with_references

    try:
        loaded.traces, matched = with_references(loaded.traces, read_references(path))
    except ReferenceFileError as exc:
        fail(str(exc))
    err.print(f"reference trajectories: {matched} of {len(loaded.traces)} traces have one from {path}", highlight=False)


def _checked_inputs(rubric: Path, fmt: str, samples: int, temperature: float):
    """The rubric, once the options that cannot work together are refused (exit 2, with why)."""
    from chainjudge.reading import formats

    try:
        rubric_model = load_rubric(rubric)
    except RubricError as exc:
        fail(str(exc))
    if fmt not in formats():
        fail(f"unknown --format {fmt!r}; choose one of {', '.join(formats())}")
    if samples > 1 and temperature == 0:
        fail("--samples > 1 needs --temperature > 0: at temperature 0 every sample is the same answer")
    return rubric_model


def _judge_one(store, loaded, rubric_model, spec: str, options: dict, name: str, run_options: dict):
    """One run: open the judge (none for a checks-only rubric; a verifier first when one is given), judge
    with a progress display."""
    from chainjudge.core.judges.resolve import JudgeSetupError, open_judge
    from chainjudge.core.offline import quiet_libraries
    from chainjudge.core.progress import live_progress
    from chainjudge.pipeline import judge_traces

    run_options = dict(run_options)
    chosen = run_options.pop("verifier", None)
    try:
        quiet_libraries()
        if chosen is not None and spec == "verifier-only":
            opened = verifier_only(chosen)
        elif any(not c.deterministic for c in rubric_model.criteria):
            opened = open_judge(spec, **options)
        else:
            opened = checks_only()
        with opened as (settings, model_judge):
            if chosen is not None:
                from chainjudge.workflows.cascade import CascadeJudge
                from chainjudge.workflows.verifier import run_verdicts

                verdicts = {v.name: run_verdicts(store, v.from_run)[0] for v in chosen if v.from_run}
                model_judge = CascadeJudge(chosen, {t.id: t for t in loaded.traces},
                                           None if spec == "verifier-only" else model_judge, verdicts)
                settings = settings.model_copy(update={"verifier": ",".join(v.tag for v in chosen)})
            with live_progress(out, f"judging with {settings.model}") as (on_start, on_progress):
                outcome = judge_traces(loaded.traces, rubric_model, settings, model_judge, store, name,
                                       on_start=on_start, on_progress=on_progress, **run_options)
            if chosen is not None:
                out.print(f"verifier {', '.join(v.tag for v in chosen)}: decided {model_judge.decided} steps, abstained on {model_judge.abstained}"
                          + (" (judged by the model)" if spec != "verifier-only" else " (stored as abstentions: first in the review queue)"),
                          highlight=False)
            return outcome
    except (JudgeSetupError, RunMismatch) as exc:
        fail(str(exc))


def _verifier_statement(verifier, abstained: int) -> None:
    """What a verifier's decisions in this run may be trusted for: a share, at its guarantee."""
    sel = verifier.selective
    guarantee = ("no guarantee (no confidence cut met its target on tune: it decided nothing)" if sel.confidence is None
                 else f"agreement >= {sel.target:.0%} with people on what it decides, at risk {sel.risk:g} "
                      f"(decided {sel.decided_share:.0%} of tune steps out of fold)")
    out.print(f"verifier {verifier.tag} on {verifier.criterion}: {guarantee}; {abstained} steps it abstained on are "
              f"unknown until people label them (review queue, first). Agreement above is against every reference "
              f"label, tune ones included; the held-out figure: chainjudge verifier test {verifier.name}", highlight=False)


@contextmanager
def verifier_only(chosen):
    """Settings for a run the verifier judges alone (no model is opened)."""
    from chainjudge.core.schema import JudgeSettings

    yield JudgeSettings(model="verifier:" + ",".join(v.tag for v in chosen), batch=False), None


def _verifiers(store, names: list[str], rubric_model, executor) -> list:
    """The verifiers NAMES, each checked against the rubric and the executor, one per criterion."""
    if executor is not ExecutorChoice.local:
        fail("--verifier runs in this process (it scores from the whole trace): use --executor local")
    chosen: list = []
    for name in names:
        found = store.verifier(name)
        if found is None:
            fail(f"no verifier named {name!r} in {store.location}: chainjudge verifier train --criterion C --name {name}")
        if found.criterion not in {c.id for c in rubric_model.criteria}:
            fail(f"verifier {found.tag} judges {found.criterion!r}, which rubric {rubric_model.id} does not have")
        if any(v.criterion == found.criterion for v in chosen):
            fail(f"two verifiers for criterion {found.criterion!r}: give one per criterion")
        chosen.append(found)
    return chosen


def _print_outcome(outcome, name: str, traces: int) -> None:
    p = outcome.progress
    if outcome.capped:
        out.print(f"note: --concurrency {outcome.asked_concurrency} capped to {outcome.concurrency}: the judge "
                  f"server works on {outcome.concurrency} call(s) at a time; more would only queue there with "
                  "their timeouts running", highlight=False)
    out.print(
        f"run {name}: {outcome.planned} work items for {traces} traces — "
        f"{p.calls} judge calls, {p.skipped} already stored, {p.reused} reused from the cache, "
        f"{p.errors} judgment errors, ${p.cost_usd:.4f}",
        highlight=False,
    )
    if p.error_kinds:
        out.print("errors by kind: " + ", ".join(f"{k} {n}" for k, n in p.error_kinds.most_common()))
    if p.rate_limited:
        out.print(f"the judge rate-limited {p.rate_limited} calls (retried); concurrency backed off to {p.lowest_concurrency} at lowest")
    if p.aborted:
        err.print(Text("stopped:", style="bold red"), f"{p.aborted}")


def _finish(loaded, outcomes: list, run_names: list[str], panel: bool, db) -> None:
    """Where to look next, and the exit code: 2 when a run stopped, 1 when records or judgments failed."""
    if loaded.errors:
        err.print(Text(f"{len(loaded.errors)} record(s) skipped", style="yellow"), "(listed above); the rest were judged.")
    from chainjudge.core.store import masked_url

    db_flag = f" --db {masked_url(str(db))}" if db else ""  # a password in a URL is never printed
    if panel:
        out.print(f"compare the panel: chainjudge panel {' '.join(run_names)} --criterion CRITERION{db_flag}")
    else:
        out.print(f"see: chainjudge show {run_names[0]}{db_flag}")
    if any(o.progress.aborted for o in outcomes):
        raise typer.Exit(2)
    if loaded.errors or any(o.progress.errors for o in outcomes):
        raise typer.Exit(1)


@contextmanager
def checks_only():
    """A rubric of deterministic checks only needs no model: no server is started or reached."""
    from chainjudge.core.engine import checks_only_judge

    yield checks_only_judge()


def _redactor(patterns: list[str]):
    import re

    from chainjudge.core.redact import DEFAULT_PATTERNS, Redactor, custom_pattern

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
    from chainjudge.analysis.figures import format_estimate as fmt
    from chainjudge.workflows.golive import calibrate_run

    with open_store(db) as store:
        stored = store.get_run(run)
        if stored is None:
            fail(f"no run named {run!r} in {store.location}; see: chainjudge runs")
        rows = store.criterion_summaries(run)
        errors = store.error_counts(run)
        flagged = store.flagged_count(run)
        calibrated = calibrate_run(store, run)
        tags = stored.judge.verifier or (stored.judge.model.split(":", 1)[1] if stored.judge.model.startswith("verifier:") else "")
        verifiers = [v for tag in tags.split(",") if "@" in tag
                     for v in [store.verifier(*tag.removeprefix("verifier:").split("@", 1))] if v is not None]  # the versions that judged
        abstained = Counter(j.criterion_id for j in store.judgments(run) if j.error_kind == "abstained") if verifiers else Counter()
    out.print(f"run {run}: rubric {stored.rubric_id}@{stored.rubric_hash}, judge {stored.judge.model}", highlight=False)
    trust = {r.criterion: r.trust for r in calibrated.rows}
    rates = {r.criterion: r for r in calibrated.corrected}
    table = Table("criterion", "judged", "scored", "passed", "pass rate", "errors", "cost $", "trust")
    for r in rows:
        rate = f"{r.pass_rate:.1%}" if r.pass_rate is not None else "-"
        table.add_row(r.criterion_id, str(r.judgments), str(r.scored), str(r.passed), rate, str(r.errors), f"{r.cost_usd:.4f}",
                      trust.get(r.criterion_id, "-"))
    out.print(table)
    if calibrated.reports:
        checked = Table("criterion", "TPR (failing)", "TNR", "raw failure rate", "corrected failure rate",
                        "prediction-powered failure rate",
                        title="against the reference labels (one per item); corrected = Rogan-Gladen for the judge's TPR / TNR; "
                              "prediction-powered = the judge on every item, rectified by people's labels")
        for criterion, report in calibrated.reports.items():
            corrected = rates.get(criterion)
            ppi = corrected.ppi_failure_rate if corrected else None
            checked.add_row(criterion, fmt(report.tpr, 1, 2), fmt(report.tnr, 1, 2),
                            fmt(corrected.raw_failure_rate, 1, 2) if corrected else "-",
                            fmt(corrected.corrected_failure_rate, 1, 2) if corrected else "-",
                            fmt(ppi, 1, 2) if ppi else "-")
        out.print(checked)
    for verifier in verifiers:
        _verifier_statement(verifier, abstained.get(verifier.criterion, 0))
    for criterion, report in calibrated.reports.items():
        if report.trust != "trusted":
            out.print(f"{criterion}: {report.trust} ({report.trust_rule}): {report.trust_basis}", highlight=False)
    if errors:
        out.print("errors by kind: " + ", ".join(f"{k} {n}" for k, n in errors.items()))
    if flagged:
        out.print(Text(f"{flagged} judgments are on steps flagged as possible prompt injection", style="yellow"), ": a person should "
                  "check them (export: the 'flags' column)", sep="")
