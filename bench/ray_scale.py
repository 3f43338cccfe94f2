"""Judging sharded over Ray against one process, on the client-CPU-bound benchmark: the fake judge (its own
process) answering after 100 ms, 50 calls in flight per process.

Prints, medians over --repeats: wall time of one process (the local executor) and of --workers Ray workers
on a local runtime, each against its ideal (calls x latency / calls in flight), the speed-up, and the Ray
runtime's start-up time (outside the timed part, as a long-lived cluster would not pay it per run; an
untimed warm-up run lets each worker import litellm once, as a long-lived cluster's workers have).
The store is SQLite by default, or PostgreSQL with --postgres (a server this script starts).

    python bench/ray_scale.py [--n 4000] [--workers 2] [--repeats 3] [--postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import FakeJudgeProcess, judge_synthetic, machine  # noqa: E402

from chainjudge.scale import RayExecutor  # noqa: E402

LATENCY, CONCURRENCY = 0.1, 50


def main() -> None:
    import ray

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    began = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    startup = time.perf_counter() - began
    pg = None
    if args.postgres:
        from chainjudge.testing.postgres import PostgresServer

        pg = PostgresServer().__enter__()
    walls: dict[str, list[float]] = {"one process": [], "ray": []}
    try:
        with tempfile.TemporaryDirectory() as tmp, FakeJudgeProcess(LATENCY) as server:
            # warm-up, not timed: each Ray worker process imports litellm and chainjudge once (~5 s), as a
            # long-lived cluster's workers already have
            judge_synthetic(
                str(Path(tmp) / "warm.db"),
                50 * args.workers,
                server.url,
                CONCURRENCY,
                lambda store: RayExecutor(store.connect_to, workers=args.workers, shards_per_worker=1),
            )
            for r in range(args.repeats):
                for name, executor in (("one process", None), ("ray", lambda store: RayExecutor(store.connect_to, workers=args.workers))):
                    location = pg.new_database() if pg else str(Path(tmp) / f"{name[:3]}{r}.db")
                    walls[name].append(judge_synthetic(location, args.n, server.url, CONCURRENCY, executor))
    finally:
        ray.shutdown()
        if pg:
            pg.__exit__(None, None, None)
    local, sharded = (statistics.median(walls[k]) for k in ("one process", "ray"))
    ideal_local = args.n * LATENCY / CONCURRENCY
    ideal_ray = args.n * LATENCY / (CONCURRENCY * args.workers)
    print(
        f"{args.n} calls, fake judge at {LATENCY * 1000:.0f} ms, {CONCURRENCY} in flight per process, store "
        f"{'PostgreSQL' if pg else 'SQLite'} (medians of {args.repeats}):"
    )
    print(f"  one process: {local:.2f} s ({args.n / local:.0f} calls/s), wall / ideal {local / ideal_local:.2f}")
    print(f"  {args.workers} Ray workers: {sharded:.2f} s ({args.n / sharded:.0f} calls/s), wall / ideal {sharded / ideal_ray:.2f}")
    print(f"  speed-up {local / sharded:.2f}x; Ray runtime start-up {startup:.1f} s (not in the walls)")


if __name__ == "__main__":
    main()
