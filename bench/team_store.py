"""The PostgreSQL team store against SQLite, on a real PostgreSQL server this script starts (loopback,
temporary folder, as the tests do).

1. Judge throughput on the fake judge (a separate process, fixed latency): wall time per back-end and the
   ratio PostgreSQL / SQLite, medians over --repeats.
2. The review queue at --judgments judgments (synthetic, with disagreements between two judges): the time
   to refresh the queue and to read one page of 50, median over 20 page reads, per back-end.
3. Eight reviewers from two processes (four threads each) on PostgreSQL emptying one queue: errors, items
   adjudicated twice, and items left open (all three must be 0).

    python bench/team_store.py [--n 2000] [--judgments 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import FakeJudgeProcess, judge_synthetic, machine  # noqa: E402

from chainjudge.core.schema import JudgeSettings, Judgment, Run, Verdict  # noqa: E402
from chainjudge.core.store import Store  # noqa: E402
from chainjudge.review import queue as review  # noqa: E402
from chainjudge.testing.postgres import PostgresServer  # noqa: E402


def fill(store: Store, judgments: int) -> None:
    """Two judges over judgments/2 steps, disagreeing on every tenth: a queue of judgments/20 items."""
    settings = JudgeSettings(model="openai/a")
    for name in ("a", "b"):
        store.save_run(Run(name=name, rubric_id="bench", rubric_hash="h", judge=settings.model_copy(update={"model": f"openai/{name}"})))
    steps = judgments // 2
    batch = []
    for i in range(steps):
        for name in ("a", "b"):
            label = "fail" if (name == "b" and i % 10 == 0) else "pass"
            batch.append(
                Judgment(
                    run=name,
                    cache_key=f"{name}{i}",
                    trace_id=f"t{i // 20}",
                    step_index=i % 20,
                    step_ref=str(i % 20),
                    criterion_id="ok",
                    judge=f"openai/{name}",
                    rubric_id="bench",
                    rubric_hash="h",
                    prompt_hash=f"p{i}",
                    verdict=Verdict(label=label, rationale="r"),
                    passed=label == "pass",
                )
            )
        if len(batch) >= 5000:
            store.add_judgments(batch)
            batch = []
    store.add_judgments(batch)


def queue_times(location: str, judgments: int) -> tuple[float, float, int]:
    with Store(location) as store:
        fill(store, judgments)
        began = time.perf_counter()
        open_items = review.refresh_queue(store)
        refresh = time.perf_counter() - began
        pages = []
        for k in range(20):
            began = time.perf_counter()
            review.queue_page(store, page=k % max(1, open_items // 50), size=50)
            pages.append(time.perf_counter() - began)
    return refresh, statistics.median(pages), open_items


def _reviewer_process(url: str, names: list[str], out) -> None:
    errors, done = [], []

    def work(name: str) -> None:
        with Store(url) as store:
            try:
                while (item := review.claim_next(store, name)) is not None:
                    review.adjudicate(store, item, name, "fail", "bench")
                    done.append(item.id)
            except Exception as exc:  # noqa: BLE001 - every error is the finding
                errors.append(f"{name}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((errors, done))


def eight_reviewers(url: str) -> None:
    with Store(url) as store:
        total = review.refresh_queue(store)
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    processes = [ctx.Process(target=_reviewer_process, args=(url, [f"p{p}r{r}" for r in range(4)], results)) for p in range(2)]
    began = time.perf_counter()
    for p in processes:
        p.start()
    gathered = [results.get(timeout=600) for _ in processes]
    for p in processes:
        p.join()
    wall = time.perf_counter() - began
    errors = [e for es, _ in gathered for e in es]
    with Store(url) as store:
        twice = store.query(
            "SELECT COUNT(*) FROM (SELECT trace_id, step_key, criterion FROM labels WHERE annotator LIKE 'p_r_' "
            "GROUP BY 1, 2, 3 HAVING COUNT(*) > 1) d"
        )[0][0]
        left = sum(review.queue_counts(store).values())
    adjudicated = sum(len(d) for _, d in gathered)
    print(
        f"8 reviewers, 2 processes, PostgreSQL: {adjudicated} of {total} items adjudicated in {wall:.1f} s "
        f"({adjudicated / wall:.0f}/s); errors {len(errors)}, adjudicated twice {twice}, left open {left}"
    )
    for e in errors[:5]:
        print("  ", e)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--judgments", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with PostgresServer() as pg, tempfile.TemporaryDirectory() as tmp:
        walls: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
        with FakeJudgeProcess(0.1) as server:
            for r in range(args.repeats):
                walls["sqlite"].append(judge_synthetic(str(Path(tmp) / f"t{r}.db"), args.n, server.url, 50))
                walls["postgresql"].append(judge_synthetic(pg.new_database(), args.n, server.url, 50))
        s, p = (statistics.median(walls[k]) for k in ("sqlite", "postgresql"))
        print(
            f"judge throughput, {args.n} calls, fake judge at 100 ms, concurrency 50: SQLite {s:.2f} s ({args.n / s:.0f}/s), "
            f"PostgreSQL {p:.2f} s ({args.n / p:.0f}/s); PostgreSQL / SQLite wall {p / s:.2f}"
        )
        for name, location in (("SQLite", str(Path(tmp) / "q.db")), ("PostgreSQL", pg.new_database())):
            refresh, page, items = queue_times(location, args.judgments)
            print(
                f"review queue, {args.judgments:,} judgments ({items:,} open items), {name}: refresh {refresh:.2f} s, "
                f"one page of 50 {page * 1000:.1f} ms (median of 20)"
            )
        url = pg.new_database()
        with Store(url) as store:
            fill(store, 4000)
        eight_reviewers(url)


if __name__ == "__main__":
    main()
