"""Spend a journey budget where failures hide, and still report unbiased rates.

The first `uniform_share` of the budget is drawn uniformly over the journey cells (kind x perturbation);
after that each batch is drawn from the Thompson proposal of `analysis.search` over what the checks
found so far.  Every journey records its cell, the probability q its cell had when it was drawn, the
target probability p (uniform over cells) and the weight p/q, so the overall failure rate and each
coverage figure can be re-weighted by anyone reading the traces.  `strategy="uniform"` spends the whole
budget uniformly: the baseline the search is measured against at an equal budget.

Resumable: the traces already in the output file are read back (their cells and outcomes rebuild the
counts) and the search goes on from there; every draw's randomness comes from the seed and the draw's
number, so a resumed search makes the same draws as an uninterrupted one.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainjudge.analysis.search import importance_estimate, thompson_proposal, uniform
from chainjudge.core.schema import Trace
from chainjudge.packs.cep.customer import ResponseModel
from chainjudge.packs.cep.journey_findings import JourneyOutcome, evaluate
from chainjudge.packs.cep.journey_generator import cells as journey_cells
from chainjudge.packs.cep.journey_generator import journey_for_cell
from chainjudge.packs.cep.journey_recording import record_journey
from chainjudge.packs.cep.policy import load_policy
from chainjudge.packs.cep.recording import Agent, LLMConfig

Cell = tuple[str, str]


@dataclass
class SearchState:
    """What the search knows: per cell (failures, journeys), and every journey's outcome and weights."""

    cells: list[Cell]
    counts: dict[Cell, list[int]] = field(default_factory=dict)
    outcomes: list[JourneyOutcome] = field(default_factory=list)
    drawn: list[Cell] = field(default_factory=list)  # each journey's cell, in draw order
    proposal: list[float] = field(default_factory=list)  # q of each journey's cell when it was drawn
    target: list[float] = field(default_factory=list)
    last_proposal: dict[Cell, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = {cell: [0, 0] for cell in self.cells}

    def add(self, cell: Cell, outcome: JourneyOutcome, q: float, p: float) -> None:
        self.counts[cell][0] += outcome.failed
        self.counts[cell][1] += 1
        self.outcomes.append(outcome)
        self.drawn.append(cell)
        self.proposal.append(q)
        self.target.append(p)

    def counts_before(self, draws: int) -> dict[Cell, tuple[int, int]]:
        """(failures, journeys) per cell over the first `draws` journeys: what a batch starting there saw."""
        counts = {cell: [0, 0] for cell in self.cells}
        for cell, outcome in zip(self.drawn[:draws], self.outcomes[:draws], strict=True):
            counts[cell][0] += outcome.failed
            counts[cell][1] += 1
        return {cell: (f, t) for cell, (f, t) in counts.items()}

    def estimate(self) -> tuple[float, float, float]:
        return importance_estimate([o.failed for o in self.outcomes], self.target, self.proposal)


def _cell_of(trace: Trace) -> Cell | None:
    raw = trace.metadata.get("search_cell")
    return (str(raw[0]), str(raw[1])) if isinstance(raw, list) and len(raw) == 2 else None


def resume(traces: Sequence[Trace], cells: list[Cell]) -> SearchState:
    """The search state rebuilt from traces a search wrote (other traces are ignored)."""
    state = SearchState(cells)
    for trace in traces:
        cell, outcome = _cell_of(trace), evaluate(trace)
        q, p = trace.metadata.get("search_q"), trace.metadata.get("search_p")
        if cell in state.counts and outcome is not None and isinstance(q, float) and isinstance(p, float):
            state.add(cell, outcome, q, p)  # type: ignore[arg-type]
    return state


def _batch_proposal(state: SearchState, n: int, first_pass: int, batch: int, seed: int, floor: float) -> tuple[dict, int]:
    """The Thompson proposal of the batch draw N belongs to, and where that batch ends.  Batches start at
    fixed draw numbers (the first pass's end, then every `batch`), and a batch's proposal is computed from
    the draws before its start: a resumed search draws what an uninterrupted one would have."""
    start = first_pass + (n - first_pass) // batch * batch
    proposal = thompson_proposal(state.counts_before(start), np.random.default_rng([seed, start, 1]), floor=floor)
    return proposal, start + batch


def search(
    agent: Agent,
    llm: LLMConfig,
    budget: int,
    *,
    strategy: str = "thompson",
    uniform_share: float = 0.3,
    batch: int = 10,
    floor: float = 0.2,
    seed: int = 0,
    model: ResponseModel | None = None,
    timeout_s: float = 600.0,
    state: SearchState | None = None,
    on_trace: Callable[[Trace, JourneyOutcome], None] | None = None,
) -> Iterator[Trace]:
    """Record journeys until `budget` of them exist (counting those in `state`), yielding each trace."""
    if strategy not in ("thompson", "uniform"):
        raise ValueError(f"strategy is thompson or uniform, not {strategy!r}")
    if not 0 <= uniform_share <= 1:
        raise ValueError(f"uniform_share must lie in [0, 1], got {uniform_share}")
    draw = _Draw(agent, llm, seed, model, load_policy(), timeout_s, strategy)
    state = state or SearchState(journey_cells())
    target = uniform(state.cells)
    first_pass = int(round(budget * uniform_share))
    while len(state.outcomes) < budget:
        n = len(state.outcomes)
        uniform_now = strategy == "uniform" or n < first_pass
        if uniform_now:
            proposal, end = dict(target), (first_pass if strategy == "thompson" else budget)
        else:
            proposal, end = _batch_proposal(state, n, first_pass, batch, seed, floor)
        state.last_proposal = proposal  # type: ignore[assignment]
        phase = "uniform" if uniform_now else "search"
        for number in range(n, min(end, budget)):
            trace, cell, outcome, q, p = draw.one(number, state.cells, proposal, target, phase)
            state.add(cell, outcome, q, p)
            if on_trace:
                on_trace(trace, outcome)
            yield trace


@dataclass
class _Draw:
    """Draws one journey from a proposal and records it, with the probabilities it was drawn with."""

    agent: Agent
    llm: LLMConfig
    seed: int
    model: ResponseModel | None
    policy: Any
    timeout_s: float
    strategy: str

    def one(self, number: int, cells: list[Cell], proposal: dict[Cell, float], target: dict[Cell, float], phase: str) -> tuple:
        seed = self.seed
        rng = np.random.default_rng([seed, number])
        cell = cells[int(rng.choice(len(cells), p=np.array([proposal[c] for c in cells])))]
        journey = journey_for_cell(cell, random.Random(f"{seed}:{number}"), f"search-{seed}-{number:04d}")
        q, p = proposal[cell], target[cell]
        drawn = {
            "search_cell": list(cell),
            "search_phase": phase,
            "search_strategy": self.strategy,
            "search_q": q,
            "search_p": p,
            "search_weight": p / q,
            "search_draw": number,
        }
        trace = record_journey(
            journey, self.agent, self.llm, seed=seed, model=self.model, policy=self.policy, timeout_s=self.timeout_s, extra_metadata=drawn
        )
        outcome = evaluate(trace)
        if outcome is None:  # cannot happen for a trace record_journey wrote; guard the invariant loudly
            raise RuntimeError(f"{trace.id} was recorded without its journey log")
        return trace, cell, outcome, q, p
