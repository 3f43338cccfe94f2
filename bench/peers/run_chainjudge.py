"""chainjudge's own judging path (planner, litellm + instructor judge, SQLite store) over the same items.

Runs in the project's venv.  The store lives in the job's work directory, so a second run of the same job
is the re-run: everything already judged is found by its cache key and nothing is asked again.
"""

from __future__ import annotations

import os
from pathlib import Path

from _job import Clock, load_job, report

job = load_job()

from chainjudge.core import offline  # noqa: E402

offline.apply()

import items  # noqa: E402  (bench/peers/items.py: the rubric and settings the items were built with)

from chainjudge.core.judges.litellm_judge import LiteLLMJudge  # noqa: E402
from chainjudge.core.schema import Trace  # noqa: E402
from chainjudge.core.store import Store  # noqa: E402
from chainjudge.pipeline import judge_traces  # noqa: E402

rubric = items.rubric(len(job["criteria"]))
settings = items.SETTINGS.model_copy(update={"model": "openai/" + job["model"], "api_base": job["base_url"], "batch": job["batch"]})
traces = [Trace.model_validate(t) for t in job["traces"]]
os.chdir(job["work_dir"])
with Store(Path(job["work_dir"]) / "chainjudge.db") as store:
    judge = LiteLLMJudge(settings)
    with Clock() as clock:
        outcome = judge_traces(traces, rubric, settings, judge, store, "peers", concurrency=job["concurrency"])
    judgments = store.judgments("peers")
    report(
        clock,
        scores=sum(j.error is None for j in judgments),
        failed=sum(j.error is not None for j in judgments),
        concurrency=job["concurrency"],
        calls=outcome.progress.calls,
    )
