"""The review queue's page load with 100,000 judgments and 10,000 queued items in the store.

    python bench/review_queue.py [--judgments 100000] [--repeats 5]

Prints the time to (re)build the queue once, and the median time of what the queue page loads on each
view: the counts per kind, one page of 50 items, and a filtered page (target under 1 s).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, median  # noqa: E402

from chainjudge.core.schema import Judgment, Verdict  # noqa: E402
from chainjudge.core.store import Store  # noqa: E402
from chainjudge.review import queue as review  # noqa: E402


def fill(store: Store, n: int) -> None:
    batch = []
    for i in range(n):
        low = i % 10 == 0  # one in ten judged with low confidence -> 10,000 queued
        batch.append(
            Judgment(
                run="big",
                trace_id=f"t{i // 4}",
                step_index=i % 4,
                step_ref=str(i % 4),
                criterion_id=f"c{i % 3}",
                verdict=Verdict(rationale="r", label="pass", confidence=0.2 if low else 0.9),
                passed=True,
                judge="openai/x",
                rubric_id="r",
                rubric_hash="h",
                prompt_hash="p",
                cache_key=f"k{i}",
            )
        )
        if len(batch) == 5000:
            store.add_judgments(batch)
            batch = []
    store.add_judgments(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judgments", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "q.db") as store:
        from chainjudge.core.schema import JudgeSettings, Run

        store.save_run(Run(name="big", rubric_id="r", rubric_hash="h", judge=JudgeSettings(model="openai/x")))
        fill(store, args.judgments)
        started = time.perf_counter()
        queued = review.refresh_queue(store)
        rebuild = time.perf_counter() - started
        loads = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            review.queue_counts(store)
            review.queue_page(store, page=0, size=50)
            review.queue_page(store, page=40, size=50, kind="low_confidence", criterion="c1", rubric="r")
            loads.append(time.perf_counter() - t0)
    print(f"machine: {machine()}")
    print(f"store: {args.judgments:,} judgments, {queued:,} queued items")
    print(f"queue rebuild (once, at app start or on 'Refresh queue'): {rebuild:.2f} s")
    print(
        f"queue page load (counts + a page + a filtered deep page), median of {args.repeats}: {1000 * median(loads):.1f} ms  (target < 1 s)"
    )


if __name__ == "__main__":
    main()
