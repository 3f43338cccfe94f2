"""`journeys search`: the failure-seeking search over the journey space, importance-weighted so its
failure rate stays unbiased for the uniform space."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.table import Table

from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import fail, out
from chainjudge.core.schema import Trace
from chainjudge.packs.cep.commands.journeys import journeys_app
from chainjudge.packs.cep.commands.support import agent_llm, load_response_model, read_journey_traces

if TYPE_CHECKING:
    from chainjudge.packs.cep.journey_search import SearchState


@dataclass(frozen=True, kw_only=True)
class JourneySearchOptions:
    """What `journeys search` is asked: its options, parsed into one request."""

    agent: Annotated[
        str,
        typer.Option("--agent", help="module:callable honouring the agent contract (a third `history` argument gets the journey so far)."),
    ]
    budget: Annotated[int, typer.Option(min=1, help="How many journeys to record in all.")] = 200
    out_file: Annotated[Path, typer.Option("--out", help="Journey trace JSONL; appended to, and a search already there is resumed.")] = (
        Path("traces/journeys/search.jsonl")
    )
    strategy: Annotated[
        str, typer.Option(help="thompson: a uniform first pass, then where failures concentrate; uniform: the whole budget uniformly.")
    ] = "thompson"
    uniform_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of the budget spent uniformly first.")] = 0.3
    batch: Annotated[int, typer.Option(min=1, help="Journeys drawn between updates of the proposal.")] = 10
    floor: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="Share of every draw kept uniform, so no cell is starved and weights stay bounded.")
    ] = 0.2
    seed: Annotated[int, typer.Option(help="Seed of the draws and of the simulated customer.")] = 0
    model: Annotated[
        str, typer.Option(help="'local' (the offline model), 'none' (an agent that calls no model), or a litellm model string.")
    ] = "none"
    api_base: Annotated[Optional[str], typer.Option(help="OpenAI-compatible server for --model.")] = None
    response_model: Annotated[
        Optional[Path],
        typer.Option(help="The simulated customer's response model (YAML from `journeys fit-responses`); default rates otherwise."),
    ] = None
    timeout_s: Annotated[float, typer.Option(help="Per-decision time limit; past it the journey is marked failed.")] = 600.0


@journeys_app.command("search")
@from_options(JourneySearchOptions)
def search_cmd(args: JourneySearchOptions) -> None:
    """Failure-seeking search over the journey space (kind x perturbation): a uniform first pass, then
    Thompson sampling over the cells where the checks found failures, with a uniform floor. Every journey
    carries the probability it was drawn with, so the failure rate printed (and any rate recomputed from
    the traces) is importance-weighted and unbiased for the uniform space."""
    from chainjudge.packs.cep.journey_generator import cells
    from chainjudge.packs.cep.journey_search import SearchState, resume, search
    from chainjudge.packs.cep.recording import load_agent

    if args.strategy not in ("thompson", "uniform"):
        fail(f"--strategy is thompson or uniform, not {args.strategy!r}")
    try:
        callable_agent = load_agent(args.agent)
    except (ImportError, ValueError, OSError) as exc:
        fail(str(exc))
    responses = load_response_model(args.response_model)
    state = resume(read_journey_traces([args.out_file]), cells()) if args.out_file.exists() else SearchState(cells())
    out.print(f"{len(state.outcomes)} journeys already in {args.out_file}; budget {args.budget}")
    args.out_file.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"strategy": args.strategy, "uniform_share": args.uniform_share, "batch": args.batch, "floor": args.floor}
    options |= {"seed": args.seed, "model": responses, "timeout_s": args.timeout_s}
    with agent_llm(args.model, args.api_base, args.out_file.parent) as llm, args.out_file.open("a", encoding="utf-8") as handle:
        for trace in search(callable_agent, llm, args.budget, state=state, **options):
            handle.write(trace.model_dump_json() + "\n")
            handle.flush()
            _print_draw(trace, state, args.budget)
    if not state.outcomes:
        fail("no journey was recorded")
    _print_search(state)


def _print_search(state: SearchState) -> None:
    """The weighted failure rate over the uniform space, and where the search looked."""
    estimate, low, high = state.estimate()
    failed = sum(o.failed for o in state.outcomes)
    out.print(
        f"{failed}/{len(state.outcomes)} journeys failed; importance-weighted failure rate over the uniform space "
        f"{estimate:.1%} (95% [{low:.1%}, {high:.1%}])"
    )
    table = Table("cell", "journeys", "failed", "last proposal", title="where the search looked")
    for cell, (cell_failed, total) in sorted(state.counts.items(), key=lambda kv: -kv[1][1]):
        table.add_row("/".join(cell), str(total), str(cell_failed), f"{state.last_proposal.get(cell, 0):.3f}")
    out.print(table)


def _print_draw(trace: Trace, state: SearchState, budget: int) -> None:
    cell = trace.metadata.get("search_cell")
    where = "/".join(map(str, cell if isinstance(cell, list) else []))
    verdict = "FAILED" if state.outcomes[-1].failed else "passed"
    out.print(f"[{len(state.outcomes)}/{budget}] {trace.id} {trace.metadata.get('search_phase')} {where}: {verdict}", highlight=False)
