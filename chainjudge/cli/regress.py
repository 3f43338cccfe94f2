"""`regress add` / `regress run`: regression cases from failure modes, re-judged in CI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from chainjudge.cli.modes import DEFAULT_CATALOGUE, DEFAULT_SUITE, CatalogueOption
from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import DbOption, err, fail, open_store, out

regress_app = typer.Typer(help="Regression cases from failure modes, re-judged in CI.", no_args_is_help=True)


@dataclass(frozen=True, kw_only=True)
class RegressAddOptions:
    """What `regress add` is asked: its options, parsed into one request."""

    mode_id: str
    n: Annotated[int, typer.Option("--n", min=1, help="Cases to write (the mode's most central exemplars).")] = 3
    suite: Annotated[Path, typer.Option(help="Suite folder (one sub-folder per mode).")] = DEFAULT_SUITE
    catalogue: CatalogueOption = DEFAULT_CATALOGUE
    db: DbOption = None


@regress_app.command("add")
@from_options(RegressAddOptions)
def regress_add(args: RegressAddOptions) -> None:
    """Write minimal reproducing cases of a failure mode into the suite: the trace up to the failing
    step, the criterion, and the verdict that marked it."""
    from chainjudge.workflows.modes import load_catalogue
    from chainjudge.workflows.regress import make_case, write_case

    cat = load_catalogue(args.catalogue)
    try:
        mode = cat.mode(args.mode_id)
    except KeyError:
        fail(f"no mode {args.mode_id} in {args.catalogue}")
    written = []
    with open_store(args.db) as store:
        for exemplar in mode.exemplars[: args.n]:
            run = store.get_run(exemplar.run)
            trace = store.get_trace(exemplar.trace_id, run=exemplar.run)
            if run is None or run.rubric is None or trace is None:
                err.print(
                    Text("skipped", style="yellow"), f"{exemplar.trace_id}:{exemplar.step_ref}: its run or trace is not in {store.location}"
                )
                continue
            judgment = next(
                (
                    j
                    for j in store.judgments(exemplar.run)
                    if j.trace_id == exemplar.trace_id and j.step_ref == exemplar.step_ref and j.criterion_id == exemplar.criterion_id
                ),
                None,
            )
            label = judgment.verdict.label if judgment and judgment.verdict else "fail"
            case = make_case(mode.id, mode.name, exemplar, trace, run.rubric.criterion(exemplar.criterion_id), label)
            written.append(write_case(case, args.suite))
    if not written:
        fail(f"no case could be written for {args.mode_id}")
    out.print(f"{len(written)} cases for {args.mode_id} in {args.suite / args.mode_id}")


@regress_app.command("run")
def regress_run(
    judge_model: Annotated[str, typer.Option("--judge", help="'local' or any litellm model string.")] = "local",
    api_base: Annotated[Optional[str], typer.Option(help="OpenAI-compatible server for --judge.")] = None,
    suite: Annotated[Path, typer.Option(help="Suite folder.")] = DEFAULT_SUITE,
    traces: Annotated[
        Optional[list[Path]], typer.Option("--traces", help="Newly recorded traces (same ids) to test instead of the recorded prefixes.")
    ] = None,
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
