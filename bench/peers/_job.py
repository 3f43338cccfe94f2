"""The job every peer runner reads and the result it prints; stdlib only, as each runner has its own venv.

A job is a JSON file: {"tag", "base_url", "model", "api_key", "work_dir", "criteria": [{"id", "question"}],
"items": [{"id", "input", "output"}], ...}.  A runner judges every item on every criterion, timing only
the evaluation (imports and start-up apart), and prints one line: RESULT {"wall_s", "cpu_s", ...}.
"""

from __future__ import annotations

import json
import sys
import time


def load_job() -> dict:
    with open(sys.argv[1]) as f:
        return json.load(f)


class Clock:
    """Wall and CPU time (all threads of this process) of the evaluation alone."""

    def __enter__(self) -> "Clock":
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall_s = time.perf_counter() - self.wall0
        self.cpu_s = time.process_time() - self.cpu0


def report(clock: Clock, scores: int, failed: int, **extra) -> None:
    print("RESULT " + json.dumps({"wall_s": clock.wall_s, "cpu_s": clock.cpu_s, "scores": scores, "failed": failed, **extra}), flush=True)
