"""Judging sharded over a real local Ray runtime against the scripted fake judge: the same judgments as
the local executor, no duplicates and one call per item, a worker killed mid-shard recovered (its shard
re-run, stored judgments skipped), on SQLite and on PostgreSQL, and `judge --executor ray` from the CLI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")

from conftest import BACKENDS, BUNDLED_SAMPLE, fake_judge_args, new_store_location  # noqa: E402

from chainjudge.core.judges.litellm_judge import LiteLLMJudge  # noqa: E402
from chainjudge.core.judges.retry import NO_WAIT  # noqa: E402
from chainjudge.core.schema import JudgeSettings  # noqa: E402
from chainjudge.core.store import Store  # noqa: E402
from chainjudge.pipeline import judge_traces, load_traces  # noqa: E402
from chainjudge.scale import RayExecutor, shards  # noqa: E402


@pytest.fixture(scope="module")
def ray_runtime():
    """One local Ray runtime (2 CPUs) for the module; nothing left running after it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers get this module's factory by value
    yield
    ray.shutdown()


@pytest.fixture
def traces():
    return load_traces([BUNDLED_SAMPLE]).traces[:8]


def _settings(server) -> JudgeSettings:
    return JudgeSettings(model="openai/fake-judge", api_base=server.url, redact_pii=False)


def _rows(store, run):
    return sorted(
        (j.trace_id, j.step_index, j.criterion_id, j.cache_key, j.verdict.label if j.verdict else None, j.passed)
        for j in store.judgments(run)
    )


def dying_judge(recipe: dict):
    """A judge whose worker process dies (os._exit: no cleanup, as a killed machine) after its third
    call, the first time any worker builds it; the marker file makes the retry live."""
    marker = Path(recipe.pop("marker"))
    judge = LiteLLMJudge(**recipe)
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))  # exactly one worker ever wins this
    except FileExistsError:
        return judge
    real, calls = judge.judge, [0]

    async def judge_then_die(item, limiter=None):
        calls[0] += 1
        if calls[0] > 3:
            os._exit(1)
        return await real(item, limiter)

    judge.judge = judge_then_die
    return judge


class MarkedJudge(LiteLLMJudge):
    """The driver's judge, with the marker path in its recipe (how the test reaches the workers)."""

    def __init__(self, settings, marker: Path) -> None:
        super().__init__(settings, retry=NO_WAIT)
        self.marker = marker

    def recipe(self) -> dict:
        return {**super().recipe(), "marker": str(self.marker)}


def test_judge_executor_ray_from_the_cli(fake_judge, tmp_path):
    from conftest import ROOT
    from typer.testing import CliRunner

    from chainjudge.cli import app

    db = tmp_path / "cli.db"
    result = CliRunner().invoke(
        app,
        fake_judge_args(
            BUNDLED_SAMPLE,
            ROOT / "rubrics" / "step-quality.yaml",
            fake_judge.url,
            db,
            "r",
            "--limit",
            "6",
            "--executor",
            "ray",
            "--workers",
            "2",
        ),
    )
    assert result.exit_code == 0, result.output
    assert "6 judge calls" in result.output
    with Store(db) as store:
        assert len(list(store.judgments("r"))) >= 6
    assert not ray.is_initialized()  # the runtime the command started is gone (this test runs before the module's runtime)


def test_shards_keep_identical_prompts_together_and_cover_every_item(traces, fake_judge, rubric):
    from chainjudge.core.engine import plan

    items = plan(traces, rubric, _settings(fake_judge), "r")
    twin = items[0].model_copy(update={"trace_id": "twin"})
    parts = shards([*items, twin], 5)
    assert sorted(id(i) for p in parts for i in p) == sorted(id(i) for i in [*items, twin])
    (holding,) = [p for p in parts if twin in p]
    assert items[0] in holding


@pytest.mark.parametrize("backend", BACKENDS)
def test_ray_judges_what_the_local_executor_judges_with_no_duplicates(backend, ray_runtime, fake_judge, traces, rubric, request, tmp_path):
    settings = _settings(fake_judge)
    with Store(tmp_path / "local.db") as local:
        judge_traces(traces, rubric, settings, LiteLLMJudge(settings, retry=NO_WAIT), local, "r", concurrency=4)
        expected = _rows(local, "r")
    calls_before = len(fake_judge.requests)
    location = new_store_location(backend, request, tmp_path / "ray")
    (tmp_path / "ray").mkdir(exist_ok=True)
    with Store(location) as store:
        outcome = judge_traces(
            traces,
            rubric,
            settings,
            LiteLLMJudge(settings, retry=NO_WAIT),
            store,
            "r",
            concurrency=4,
            executor=RayExecutor(store.connect_to, workers=2),
        )
        got = _rows(store, "r")
        keys = store.query("SELECT COUNT(*), COUNT(DISTINCT run || trace_id || step_index || criterion_id) FROM judgments")
    assert got == expected and keys[0][0] == keys[0][1] == len(expected)
    assert len(fake_judge.requests) - calls_before == outcome.progress.calls == outcome.planned  # one call per item
    assert outcome.progress.done == outcome.planned and outcome.progress.errors == 0


def test_a_worker_killed_mid_shard_loses_nothing(ray_runtime, fake_judge, traces, rubric, tmp_path):
    settings = _settings(fake_judge)
    marker = tmp_path / "died-once"
    with Store(tmp_path / "ray.db") as store:
        outcome = judge_traces(
            traces,
            rubric,
            settings,
            MarkedJudge(settings, marker),
            store,
            "r",
            concurrency=1,
            executor=RayExecutor(store.connect_to, workers=2, shards_per_worker=1, factory=dying_judge),
        )
        stored = list(store.judgments("r"))
    assert marker.exists()  # a worker did die
    assert len(stored) == outcome.planned and all(j.scored for j in stored)
    assert len({(j.trace_id, j.step_index, j.criterion_id) for j in stored}) == len(stored)
    # the re-run shard skipped what the dead worker had stored: calls = items, not items + 3
    assert len(fake_judge.requests) == outcome.planned
    assert outcome.progress.skipped == 3


def test_a_remote_cluster_with_a_sqlite_file_is_refused(tmp_path):
    from conftest import ROOT
    from typer.testing import CliRunner

    from chainjudge.cli import app

    result = CliRunner().invoke(
        app,
        [
            "judge",
            str(BUNDLED_SAMPLE),
            "--rubric",
            str(ROOT / "rubrics" / "step-quality.yaml"),
            "--judge",
            "openai/fake",
            "--api-base",
            "http://127.0.0.1:9",
            "--db",
            str(tmp_path / "x.db"),
            "--executor",
            "ray",
            "--ray-address",
            "ray://10.1.2.3:10001",
        ],
    )
    assert result.exit_code == 2 and "postgresql://" in result.output


def broken_judge(recipe: dict):
    raise RuntimeError("this worker cannot build a judge")


def test_a_shard_that_keeps_failing_stops_the_run_with_a_reason(ray_runtime, fake_judge, traces, rubric, tmp_path):
    settings = _settings(fake_judge)
    with Store(tmp_path / "broken.db") as store:
        outcome = judge_traces(
            traces,
            rubric,
            settings,
            LiteLLMJudge(settings, retry=NO_WAIT),
            store,
            "r",
            executor=RayExecutor(store.connect_to, workers=2, factory=broken_judge, max_retries=0),
        )
    assert outcome.progress.aborted and "cannot build a judge" in outcome.progress.aborted
    assert "run the same command again" in outcome.progress.aborted
