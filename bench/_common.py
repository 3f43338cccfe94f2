"""Shared helpers for the benchmarks: a fake judge in its own process, synthetic traces, CPU clocks."""

from __future__ import annotations

import multiprocessing as mp
import platform
import resource
import statistics
import time

from chainjudge.core import offline

offline.apply()  # benchmarks are entry points: never a network stall

from chainjudge.core.rubric import parse_rubric  # noqa: E402
from chainjudge.core.schema import Trace  # noqa: E402
from chainjudge.testing.fakejudge import FakeJudgeServer, Faults  # noqa: E402


def _serve(latency_s: float, faults: Faults | None, conn) -> None:
    with FakeJudgeServer(latency_s=latency_s, faults=faults) as server:
        conn.send(server.url)
        conn.recv()  # until told to stop
        conn.send((len(server.requests), dict(server.injected)))


class FakeJudgeProcess:
    """The fake judge in a separate process, so the client's CPU figures are the client's alone."""

    def __init__(self, latency_s: float, faults: Faults | None = None) -> None:
        self.latency_s, self.faults = latency_s, faults

    def __enter__(self) -> "FakeJudgeProcess":
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(self.latency_s, self.faults, child), daemon=True)
        self._process.start()
        self.url = self._conn.recv()
        return self

    def stop(self) -> int:
        """Stop the server; returns how many requests it received (faults injected: self.injected)."""
        self._conn.send("stop")
        count, self.injected = self._conn.recv()
        self._process.join(timeout=10)
        return count

    def __exit__(self, *exc) -> None:
        if self._process.is_alive():
            self._process.terminate()


def synthetic_traces(n: int, prefix: str = "bench") -> list[Trace]:
    return [
        Trace(
            id=f"{prefix}-{i}",
            steps=[
                {"index": 0, "ref": "0", "kind": "user", "text": f"User {i}: lapsed {i % 90} days, market TH, consent email only."},
                {"index": 1, "ref": "1", "kind": "decision", "text": f"Send the win-back email at {9 + i % 8}:00 local time."},
            ],
        )
        for i in range(n)
    ]


ONE_CRITERION = parse_rubric(
    {"id": "bench", "criteria": [{"id": "decision_ok", "question": "Is the decision right for this user?", "applies_to": ["decision"]}]}
)


def judge_synthetic(location, n: int, url: str, concurrency: int, executor=None) -> float:
    """Judge n synthetic one-criterion traces against the fake judge at url into the store at location;
    every call must succeed.  Returns the wall time."""
    from chainjudge.core.judges.litellm_judge import LiteLLMJudge
    from chainjudge.core.judges.retry import RetryPolicy
    from chainjudge.core.schema import JudgeSettings
    from chainjudge.core.store import Store
    from chainjudge.pipeline import judge_traces

    settings = JudgeSettings(model="openai/fake-judge", api_base=url)
    judge = LiteLLMJudge(settings, retry=RetryPolicy(max_attempts=3, initial_wait_s=0.1))
    with Store(location) as store:
        outcome, wall, _ = timed(
            lambda: judge_traces(
                synthetic_traces(n),
                ONE_CRITERION,
                settings,
                judge,
                store,
                "bench",
                concurrency=concurrency,
                executor=executor(store) if executor else None,
            )
        )
    assert outcome.progress.errors == 0 and outcome.progress.calls == n, (outcome.progress.error_kinds, outcome.progress.calls)
    return wall


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(fn):
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    result = fn()
    return result, time.perf_counter() - wall0, cpu_seconds() - cpu0
