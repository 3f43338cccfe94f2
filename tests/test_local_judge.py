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
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
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
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
    )
    again_text = " ".join(again.stdout.split())
    assert again.returncode == 0 and "0 judge calls made, 2 already in the store" in again_text
    assert "the local judge is not started" in again_text  # nothing to ask, so no model is loaded


def test_an_aligned_judge_reads_label_probabilities_from_the_local_server(tmp_path):
    """The real llama.cpp server returns token log-probabilities in the local judge's tool-call mode, and an
    aligned judge's threshold decides on them: at P(fail) >= 1e-9 every step fails, and each judgment keeps
    the probabilities and, where the judge itself said otherwise, its own label."""
    from conftest import HOTPOTQA
    from test_alignment import RUBRIC
    from typer.testing import CliRunner

    from chainjudge.cli import app
    from chainjudge.core.rubric import load_rubric, rubric_hash
    from chainjudge.core.schema import AlignedExample, AlignedJudge, Threshold

    traces, rubric, db = tmp_path / "t.jsonl", tmp_path / "r.yaml", tmp_path / "a.db"
    traces.write_text(HOTPOTQA.read_text().splitlines()[0] + "\n")
    rubric.write_text(RUBRIC)
    examples = [
        AlignedExample(
            criterion="step", text="search[capital of France]", label="correct", reason="a useful search", trace_id="other", step_ref="1"
        ),
        AlignedExample(
            criterion="step", text="finish[Berlin]", label="error", reason="a wrong final answer", trace_id="other", step_ref="2"
        ),
    ]
    aligned = AlignedJudge(
        name="strict",
        rubric_id="apb-step",
        rubric_hash=rubric_hash(load_rubric(rubric)),
        k=2,
        examples=examples,
        thresholds={
            "step": Threshold(p_fail=1e-9, source="label log-probabilities", tune_items=10, kappa_as_said=0.0, kappa_at_threshold=0.1)
        },
    )
    with Store(db) as store:
        store.save_aligned(aligned)
    result = CliRunner().invoke(
        app,
        [
            "judge",
            str(traces),
            "--rubric",
            str(rubric),
            "--judge",
            "local",
            "--db",
            str(db),
            "--run",
            "strict",
            "--aligned",
            "strict",
            "--limit",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    with Store(db) as store:
        judged = list(store.judgments("strict"))
    assert len(judged) == 2 and all(j.verdict is not None for j in judged)
    assert all(j.label_probs and abs(sum(j.label_probs.values()) - 1) < 1e-6 for j in judged)
    assert all(j.verdict.label == "error" and j.passed is False for j in judged)
    assert all(j.raw_label in (None, "correct", "neutral") for j in judged)
