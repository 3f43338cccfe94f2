"""Journeys: recording speed, the checks' findings, the simulator's own consistency, and failure-seeking
search against uniform sampling at equal budgets over several seeds.

    .venv/bin/python bench/journeys.py [--budget 150] [--seeds 8] [--llm-traces FILE]

The example agent is `examples/journey_agent.py` (rule-based, with blind spots written down in its
docstring): fast enough for hundreds of journeys per seed.  `--llm-traces` reads journeys recorded with
the model-driven agent (`record --agent examples.cep_agent:agent --journeys ... --model local`) and
reports their speed and findings too.  Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chainjudge.analysis.search import rate_ratio_interval  # noqa: E402
from chainjudge.core.schema import Trace  # noqa: E402
from chainjudge.packs.cep.journey_findings import evaluate_all, summarize  # noqa: E402
from chainjudge.packs.cep.journey_generator import cells, generate_journeys  # noqa: E402
from chainjudge.packs.cep.journey_recording import record_journeys  # noqa: E402
from chainjudge.packs.cep.journey_search import SearchState, search  # noqa: E402
from chainjudge.packs.cep.recording import LLMConfig  # noqa: E402
from chainjudge.packs.cep.rule_agent import agent  # noqa: E402
from tests.test_journeys import random_agent_for  # noqa: E402

LLM = LLMConfig(model="none")


def speed_and_findings() -> None:
    journeys = generate_journeys(seed=7)
    started = time.perf_counter()
    traces = list(record_journeys(journeys, agent, LLM, seed=1, repeats=3))
    elapsed = time.perf_counter() - started
    summary = summarize(evaluate_all(traces)[0])
    print(
        f"example agent: {len(traces)} journeys ({len(journeys)} generated x 3 repeats) in {elapsed:.2f} s: "
        f"{len(traces) / elapsed * 60:,.0f} journeys per minute"
    )
    print(
        f"  failed {summary.failed}/{summary.journeys} ({summary.failure_rate:.1%}, Wilson [{summary.failure_low:.1%}, "
        f"{summary.failure_high:.1%}])"
    )
    print("  findings by check (journeys):", ", ".join(f"{k} {v}" for k, v in summary.by_check.items()))
    print("  pass^k:", ", ".join(f"k={k} {v:.3f}" for k, v in summary.pass_hat_k))
    print(f"  distinct failure modes: {len(summary.modes)}")


def simulator_consistency(seeds: int) -> None:
    journeys = generate_journeys(seed=7)
    total = inconsistent = decisions = 0
    for seed in range(seeds):
        for agent_under_test in (agent, random_agent_for(seed)):
            outcomes, _ = evaluate_all(record_journeys(journeys, agent_under_test, LLM, seed=seed))
            total += len(outcomes)
            inconsistent += sum(bool(o.simulator_problems) for o in outcomes)
            decisions += sum(len(o.findings) >= 0 for o in outcomes) * 4
    from chainjudge.analysis.stats import wilson_interval

    low, high = wilson_interval(inconsistent, total)
    print(
        f"simulator inconsistency: {inconsistent}/{total} journeys ({decisions} decisions; the example agent and a random agent, "
        f"{seeds} seeds) = {inconsistent / total:.1%}, Wilson 95% [{low:.1%}, {high:.1%}]"
    )


def search_vs_uniform(budget: int, seeds: int) -> None:
    rows: dict[str, list[tuple[float, int, float, float, float]]] = {"uniform": [], "thompson": []}
    for strategy in rows:
        for seed in range(seeds):
            state = SearchState(cells())
            for _ in search(agent, LLM, budget, strategy=strategy, seed=100 + seed, state=state):
                pass
            failed = sum(o.failed for o in state.outcomes)
            modes = set().union(*(o.modes() for o in state.outcomes))
            rows[strategy].append((100 * failed / budget, len(modes), *state.estimate()))
    truth_traces = list(record_journeys([j for j in generate_journeys(seed=99, per_cell=20, combinations=False)], agent, LLM, seed=5))
    truth = summarize(evaluate_all(truth_traces)[0])
    print(
        f"reference failure rate over the uniform space (20 journeys per cell, {truth.journeys} journeys): "
        f"{truth.failure_rate:.1%} [{truth.failure_low:.1%}, {truth.failure_high:.1%}]"
    )
    for strategy, values in rows.items():
        per100 = [v[0] for v in values]
        modes = [v[1] for v in values]
        estimates = [v[2] for v in values]
        covered = sum(v[3] <= truth.failure_rate <= v[4] for v in values)
        print(
            f"{strategy:9s} budget {budget}, {seeds} seeds: failures per 100 journeys median {statistics.median(per100):.1f} "
            f"(min {min(per100):.1f}, max {max(per100):.1f}); distinct modes median {statistics.median(modes)} "
            f"(min {min(modes)}, max {max(modes)}); estimated failure rate median {statistics.median(estimates):.1%}, "
            f"interval covers the reference in {covered}/{seeds} seeds; mean interval width {np.mean([v[4] - v[3] for v in values]):.1%}"
        )
    rng = np.random.default_rng(0)
    ratio, low, high = rate_ratio_interval([v[0] for v in rows["thompson"]], [v[0] for v in rows["uniform"]], rng)
    print(f"failures found, search / uniform: {ratio:.2f}x (bootstrap over seeds 95% [{low:.2f}, {high:.2f}]); goal >= 2x")
    ratio, low, high = rate_ratio_interval([v[1] for v in rows["thompson"]], [v[1] for v in rows["uniform"]], rng)
    print(f"distinct failure modes, search / uniform: {ratio:.2f}x (95% [{low:.2f}, {high:.2f}]); goal >= 1.5x")
    agree = sum(1 for u, t in zip(rows["uniform"], rows["thompson"], strict=True) if t[3] <= u[4] and u[3] <= t[4])
    print(f"estimates agree (intervals overlap) in {agree}/{seeds} seed pairs")


def llm_traces(path: Path) -> None:
    traces = [Trace.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]
    outcomes, _ = evaluate_all(traces)
    if not outcomes:
        print(f"{path}: no journeys")
        return
    spans = []
    for trace in traces:
        steps = [s for s in trace.steps if s.kind.value == "decision"]
        spans.append(len(steps))
    started = [datetime.fromisoformat(str(t.metadata["recorded_at"])) for t in traces]
    summary = summarize(outcomes)
    minutes = (max(started) - min(started)).total_seconds() / 60 if len(started) > 1 else float("nan")
    print(
        f"model-driven agent ({traces[0].metadata.get('agent_model')}): {len(traces)} journeys, {sum(spans)} decisions; "
        f"{(len(traces) - 1) / minutes if minutes and minutes == minutes else float('nan'):.2f} journeys per minute between the first "
        f"and the last start"
    )
    print(
        f"  failed {summary.failed}/{summary.journeys}; findings by check: {json.dumps(summary.by_check)}; "
        f"simulator inconsistencies {summary.simulator_inconsistent}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--llm-traces", type=Path)
    args = parser.parse_args()
    speed_and_findings()
    simulator_consistency(args.seeds)
    search_vs_uniform(args.budget, args.seeds)
    if args.llm_traces:
        llm_traces(args.llm_traces)


if __name__ == "__main__":
    main()
