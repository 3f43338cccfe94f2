"""Failure attribution on Who&When's hand-crafted logs (tests/data/who-and-when): ingestion, the random
baseline, and the all-at-once strategy with a judge, with and without the task's ground truth.

Printed: traces ingested (unique ids), how often the agent at the annotated step is the annotated agent, the
random baseline by both agent counts and by steps, and per judge strategy: agent-level and step-level
accuracy with 95% intervals, calls and tokens per trace.  The paper's best hand-crafted rows with GPT-4o
(agent-level 55.17 all at once; step-level 8.77 step by step without ground truth) are the anchor.

    .venv/bin/python bench/attribution.py                                   # ingestion and baseline
    .venv/bin/python bench/attribution.py --judge openai/gpt-4o             # + all at once (OPENAI_API_KEY)
    .venv/bin/python bench/attribution.py --judge openai/NAME --api-base http://127.0.0.1:8000/v1
    .venv/bin/python bench/attribution.py --judge local --max-steps 9 --strategy all-at-once --strategy step-by-step \
        --strategy binary-search --no-ground-truth       # the offline judge: only the logs that fit its 4,096 tokens
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine  # noqa: E402

from chainjudge.analysis.attribution import agent_at_annotated_step, random_baseline, score  # noqa: E402
from chainjudge.core.schema import Label  # noqa: E402
from chainjudge.core.store import Store  # noqa: E402
from chainjudge.pipeline import load_traces  # noqa: E402
from chainjudge.reading.labels import ImportOptions, read_labels  # noqa: E402
from chainjudge.workflows.attribution import STRATEGIES, all_at_once, gather  # noqa: E402

LOGS = ROOT / "tests" / "data" / "who-and-when" / "hand-crafted"


def pct(estimate) -> str:
    return f"{100 * estimate.value:.2f} [{100 * estimate.low:.2f}, {100 * estimate.high:.2f}] (n={estimate.n})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge", default=None)
    parser.add_argument("--api-base", default=None)
    parser.add_argument("--max-steps", type=int, default=None, help="only logs with at most this many steps (a judge with a small context)")
    parser.add_argument("--strategy", action="append", choices=["all-at-once", "step-by-step", "binary-search"])
    parser.add_argument("--no-ground-truth", action="store_true", help="only the runs without the task's answer")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    loaded = load_traces([LOGS])
    print(f"ingested {len(loaded.traces)} logs as {len({t.id for t in loaded.traces})} traces with unique ids, {len(loaded.errors)} errors")
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "a.db") as store:
        store.save_traces(loaded.traces)
        store.add_labels([x for f in sorted(LOGS.glob("*.json")) for x in read_labels(f, ImportOptions()) if isinstance(x, Label)])
        traces, truth = gather(store)
        if args.max_steps is not None:
            traces = {k: t for k, t in traces.items() if len(t.steps) <= args.max_steps}
            truth = {k: a for k, a in truth.items() if k in traces}
            print(f"logs with at most {args.max_steps} steps: {len(traces)}")
        hits, checked = agent_at_annotated_step(traces, truth)
        print(f"agent at the annotated step = the annotated agent: {hits}/{checked} ({hits / checked:.1%})")
        base = random_baseline(traces.values())
        print(
            f"random baseline: agent-level {100 * base.agent_by_role:.2f} (1/#role strings) or {100 * base.agent_by_agent:.2f} "
            f"(1/#agents); step-level {100 * base.step:.2f}"
        )
        if not args.judge:
            return
        from chainjudge.core import offline
        from chainjudge.core.judges.resolve import open_judge

        offline.apply()
        with open_judge(args.judge, api_base=args.api_base, batch=False) as (settings, judge):
            for name in args.strategy or ["all-at-once"]:
                for with_truth in (False,) if args.no_ground_truth else (True, False):
                    started = time.perf_counter()
                    runner = all_at_once if name == "all-at-once" else STRATEGIES[name]
                    run = runner(judge, list(traces.values()), with_truth)
                    s = score(name, run.predictions, truth)
                    print(
                        f"{name}, {'with' if with_truth else 'without'} ground truth ({settings.model}): agent-level "
                        f"{pct(s.agent_accuracy)}, step-level {pct(s.step_accuracy)}, within 3 steps {pct(s.step_within[3])}; "
                        f"{run.calls} calls, {(run.prompt_tokens + run.completion_tokens) / len(truth):.0f} tokens per trace, "
                        f"{time.perf_counter() - started:.0f} s; unanswered {len(truth) - s.answered}"
                    )


if __name__ == "__main__":
    main()
