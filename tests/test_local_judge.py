"""End to end with the real offline local judge (Qwen2.5-Coder-1.5B via llama.cpp): the README's demo.

Slow (~1 min on 2 cores) and needs the [local] extra; select with `-m local_judge`.  CI runs it.
"""

import os
import subprocess
import sys

import pytest

from chainjudge.core.judges.local import LOCAL_MODEL_STRING, MODEL_SHA256, cache_dir, ensure_model
from chainjudge.core.store import Store

pytestmark = pytest.mark.local_judge


def test_model_is_joined_and_verified_once():
    path = ensure_model()
    assert path.parent == cache_dir()
    assert (path.parent / (path.name + ".sha256")).read_text() == MODEL_SHA256
    mtime = path.stat().st_mtime_ns
    assert ensure_model() == path and path.stat().st_mtime_ns == mtime  # not joined again


def test_demo_judges_a_live_sample_then_resumes_from_the_store(tmp_path):
    db = tmp_path / "demo.db"
    first = subprocess.run(
        [sys.executable, "-m", "chainjudge.cli", "demo", "--sample", "2", "--db", str(db)],
        capture_output=True, text=True, timeout=900, cwd=tmp_path, env={**os.environ, "COLUMNS": "200"},
    )
    assert first.returncode == 0, first.stdout + first.stderr
    text = " ".join(first.stdout.split())
    assert "2 judge calls made" in text
    assert "decision correctness" in text and "untrusted" in text and "queued for people" in text
    with Store(db) as store:
        (run,) = store.runs()
        judgments = [j for j in store.judgments(run.name) if not j.judge.startswith("check:")]
    assert run.judge == LOCAL_MODEL_STRING
    assert len(judgments) == 2
    assert all(j.verdict is not None and j.verdict.label in ("pass", "fail") for j in judgments)
    assert all(j.usage.prompt_tokens > 0 and j.verdict.rationale for j in judgments)

    again = subprocess.run(
        [sys.executable, "-m", "chainjudge.cli", "demo", "--sample", "2", "--db", str(db)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, "COLUMNS": "200"},
    )
    again_text = " ".join(again.stdout.split())
    assert again.returncode == 0 and "0 judge calls made, 2 already in the store" in again_text
    assert "the local judge is not started" in again_text  # nothing to ask, so no model is loaded
