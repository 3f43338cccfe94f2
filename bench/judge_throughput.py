"""Judge throughput against a fake OpenAI-compatible judge with fixed latency.

N judgments at concurrency C against a server that answers after L seconds: prints wall time, the ideal
(N x L / C), their ratio and client CPU per call (the fake server runs in its own process); then re-runs
the stored run and prints the judge calls it made (target 0) and its wall time.  Medians over --repeats.

    python bench/judge_throughput.py [--n 2000] [--latency 0.1] [--concurrency 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ONE_CRITERION, FakeJudgeProcess, machine, median, synthetic_traces, timed  # noqa: E402

from chainjudge.core.judges.litellm_judge import LiteLLMJudge  # noqa: E402
from chainjudge.core.judges.retry import RetryPolicy  # noqa: E402
from chainjudge.core.schema import JudgeSettings  # noqa: E402
from chainjudge.core.store import Store  # noqa: E402
from chainjudge.pipeline import judge_traces  # noqa: E402


def one_round(n: int, latency: float, concurrency: int, batch: bool = False) -> dict:
    traces = synthetic_traces(n)
    with tempfile.TemporaryDirectory() as tmp, FakeJudgeProcess(latency) as server:
        settings = JudgeSettings(model="openai/fake-judge", api_base=server.url, batch=batch)
        judge = LiteLLMJudge(settings, retry=RetryPolicy(max_attempts=3, initial_wait_s=0.1))
        with Store(Path(tmp) / "bench.db") as store:
            outcome, wall, cpu = timed(
                lambda: judge_traces(traces, ONE_CRITERION, settings, judge, store, "bench", concurrency=concurrency)
            )
            rerun, rerun_wall, _ = timed(
                lambda: judge_traces(traces, ONE_CRITERION, settings, judge, store, "bench", concurrency=concurrency)
            )
        requests = server.stop()
    assert outcome.progress.errors == 0, outcome.progress.error_kinds
    return {
        "wall": wall,
        "cpu_per_call_ms": 1000 * cpu / max(1, outcome.progress.calls),
        "rerun_calls": rerun.progress.calls,
        "rerun_requests": requests - outcome.progress.calls,
        "rerun_wall": rerun_wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rounds = [one_round(args.n, args.latency, args.concurrency) for _ in range(args.repeats)]
    ideal = args.n * args.latency / args.concurrency
    wall = median([r["wall"] for r in rounds])
    print(f"machine: {machine()}")
    print(f"judgments: {args.n}, latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}, median of {args.repeats}")
    runs = ", ".join(f"{r['wall']:.2f}" for r in rounds)
    print(f"wall time:            {wall:.2f} s  (runs: {runs})")
    print(f"ideal (N x L / C):    {ideal:.2f} s")
    print(f"wall / ideal:         {wall / ideal:.2f}")
    print(f"client CPU per call:  {median([r['cpu_per_call_ms'] for r in rounds]):.2f} ms")
    print(
        f"re-run judge calls:   {max(r['rerun_calls'] for r in rounds)}  (requests seen by the server: "
        f"{max(r['rerun_requests'] for r in rounds)})"
    )
    print(f"re-run wall time:     {median([r['rerun_wall'] for r in rounds]):.2f} s")


if __name__ == "__main__":
    main()
