"""Kill a judging process mid-run (SIGKILL, no chance to clean up), resume it, and check the result."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

from chainjudge.fakejudge import FakeJudgeServer
from chainjudge.store import Store

from conftest import BUNDLED_SAMPLE, ROOT

RUBRIC = ROOT / "rubrics" / "step-quality.yaml"


def stored_count(db) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM judgments").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def command(server, db):
    return [sys.executable, "-m", "chainjudge.cli", "judge", str(BUNDLED_SAMPLE), "--rubric", str(RUBRIC),
            "--judge", "openai/fake", "--api-base", server.url, "--db", str(db), "--run", "resume", "--concurrency", "3"]


def test_kill_minus_nine_then_resume_makes_only_missing_judgments(tmp_path):
    db = tmp_path / "resume.db"
    with FakeJudgeServer(latency_s=0.1) as server:
        process = subprocess.Popen(command(server, db), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while stored_count(db) < 12 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
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
        planned = len(judgments)
        assert planned == 74  # every (step, criterion) of the bundled sample, once
        assert len({j.cache_key for j in judgments}) == planned
        # the resumed process asked only for what was not stored when the first was killed
        assert len(server.requests) - requests_before == planned - after_kill
        assert f"{planned - after_kill} judge calls, {after_kill} already stored" in " ".join(resumed.stdout.split())
