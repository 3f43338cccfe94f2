"""Kill a judging process mid-run (SIGKILL, no chance to clean up), resume it, and check the result:
the same judgments as a clean run, in count and keys, no duplicates, an intact database."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import BUNDLED_SAMPLE, ROOT, fake_judge_args

from chainjudge.core.engine import plan
from chainjudge.core.rubric import load_rubric
from chainjudge.core.schema import JudgeSettings
from chainjudge.core.store import Store
from chainjudge.pipeline import load_traces
from chainjudge.testing.fakejudge import FakeJudgeServer

RUBRIC = ROOT / "rubrics" / "step-quality.yaml"


def stored_count(db) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM judgments").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def command(server, db):
    # one call per judgment: the kill lands between judgments, as fine-grained as it gets
    judging = fake_judge_args(BUNDLED_SAMPLE, RUBRIC, server.url, db, "resume", "--concurrency", "3", "--one-per-criterion")
    return [sys.executable, "-m", "chainjudge.cli", *judging]


def expected_keys(server) -> set[str]:
    settings = JudgeSettings(model="openai/fake", api_base=server.url, redact_pii=False)
    items = plan(load_traces([BUNDLED_SAMPLE]).traces, load_rubric(RUBRIC), settings, "resume")
    return {k for item in items for k in item.cache_keys.values()}


def kill_and_resume(db, kill_at: int) -> None:
    with FakeJudgeServer(latency_s=0.05) as server:
        process = subprocess.Popen(command(server, db), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while stored_count(db) < kill_at and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
        assert process.poll() is None, "run finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        after_kill = stored_count(db)
        requests_before = len(server.requests)

        resumed = subprocess.run(command(server, db), capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr

        with Store(db) as store:
            judgments = list(store.judgments("resume"))
            assert store.integrity_ok()
        keys = [j.cache_key for j in judgments]
        assert len(keys) == len(set(keys)) == 74  # every (step, criterion) of the bundled sample, once
        assert set(keys) == expected_keys(server)  # the same judgments a clean run makes
        assert all(j.scored for j in judgments)
        # the resumed process asked only for what was not stored when the first was killed
        assert len(server.requests) - requests_before == 74 - after_kill
        assert f"{74 - after_kill} judge calls, {after_kill} already stored" in " ".join(resumed.stdout.split())


@pytest.mark.parametrize("seed", range(3))
def test_kill_minus_nine_then_resume(tmp_path, seed):
    kill_and_resume(tmp_path / "resume.db", random.Random(seed).randint(1, 60))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 120))
def test_kill_minus_nine_at_random_points_twenty_trials(tmp_path, seed):
    kill_and_resume(tmp_path / "resume.db", random.Random(seed).randint(1, 70))
