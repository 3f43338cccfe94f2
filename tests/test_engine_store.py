"""Planning, execution against the store, resume, cache reuse, and the store's own guarantees."""

import asyncio

import pytest
from conftest import BUNDLED_SAMPLE

from chainjudge.core.engine import execute, plan
from chainjudge.core.judges.litellm_judge import LiteLLMJudge
from chainjudge.core.judges.local import free_port
from chainjudge.core.judges.retry import NO_WAIT, RetryPolicy
from chainjudge.core.schema import JudgeSettings, Run
from chainjudge.core.store import MIGRATIONS, RunMismatch, Store, resolve_db_path
from chainjudge.pipeline import judge_traces, load_traces
from chainjudge.testing.fakejudge import Action


@pytest.fixture
def traces():
    return load_traces([BUNDLED_SAMPLE]).traces[:5]


def settings_for(server, **kw):
    return JudgeSettings(model="openai/fake-judge", api_base=server.url, **kw)


def run(traces, rubric, settings, store, name="r1", **kw):
    judge = LiteLLMJudge(settings, retry=NO_WAIT)
    return judge_traces(traces, rubric, settings, judge, store, name, concurrency=4, **kw)


def test_run_stores_every_judgment_once(fake_judge, store, traces, rubric):
    outcome = run(traces, rubric, settings_for(fake_judge), store)
    stored = list(store.judgments("r1"))
    assert outcome.planned == len(stored) == len(fake_judge.requests) > 0
    assert len({j.cache_key for j in stored}) == len(stored)
    assert all(j.scored for j in stored)
    assert store.get_trace(traces[0].id) == traces[0]


def test_rerun_of_finished_run_makes_zero_calls(fake_judge, store, traces, rubric):
    run(traces, rubric, settings_for(fake_judge), store)
    calls = len(fake_judge.requests)
    outcome = run(traces, rubric, settings_for(fake_judge), store)
    assert len(fake_judge.requests) == calls
    assert outcome.progress.calls == 0 and outcome.progress.skipped == outcome.planned


def test_same_cache_key_under_new_run_name_is_reused_not_asked(fake_judge, store, traces, rubric):
    run(traces, rubric, settings_for(fake_judge), store, name="first")
    calls = len(fake_judge.requests)
    outcome = run(traces, rubric, settings_for(fake_judge), store, name="second")
    assert len(fake_judge.requests) == calls
    second = list(store.judgments("second"))
    assert len(second) == outcome.planned and all(j.reused for j in second)


def test_changed_rubric_or_model_is_judged_again(fake_judge, store, traces, rubric):
    run(traces, rubric, settings_for(fake_judge), store, name="a")
    calls = len(fake_judge.requests)
    edited = rubric.model_copy(deep=True)
    edited.criteria[0].question += " Be strict."
    run(traces, edited, settings_for(fake_judge), store, name="b")
    assert len(fake_judge.requests) == 2 * calls


def test_errors_are_stored_then_retried_and_replaced_on_resume(fake_judge, store, traces, rubric):
    settings = settings_for(fake_judge)
    items = plan(traces, rubric, settings, "r1")
    fake_judge.enqueue(*[Action(content="garbage")] * 3)  # the first item exhausts its re-asks
    policy = RetryPolicy(max_attempts=1)
    store.save_run(Run(name="r1", rubric_id=rubric.id, rubric_hash=items[0].rubric_hash, judge=settings))
    progress = asyncio.run(execute(items, LiteLLMJudge(settings, retry=policy), store, concurrency=1))
    assert progress.errors == 1 and progress.error_kinds["invalid_answer"] == 1
    errors = [j for j in store.judgments("r1") if j.error]
    assert len(errors) == 1
    progress = asyncio.run(execute(items, LiteLLMJudge(settings, retry=policy), store, concurrency=1))
    assert progress.calls == 1
    stored = list(store.judgments("r1"))
    assert len(stored) == len(items) and all(j.scored for j in stored)


def test_keep_errors_does_not_retry(fake_judge, store, traces, rubric):
    settings = settings_for(fake_judge)
    items = plan(traces, rubric, settings, "r1")[:2]
    fake_judge.enqueue(*[Action(content="garbage")] * 3)
    store.save_run(Run(name="r1", rubric_id=rubric.id, rubric_hash=items[0].rubric_hash, judge=settings))
    asyncio.run(execute(items, LiteLLMJudge(settings, retry=NO_WAIT), store, concurrency=1))
    progress = asyncio.run(execute(items, LiteLLMJudge(settings, retry=NO_WAIT), store, retry_errors=False))
    assert progress.calls == 0


def test_unreachable_judge_stops_early_and_says_so(store, traces, rubric):
    settings = JudgeSettings(model="openai/fake", api_base=f"http://127.0.0.1:{free_port()}/v1")
    items = plan(traces, rubric, settings, "r1")
    store.save_run(Run(name="r1", rubric_id=rubric.id, rubric_hash=items[0].rubric_hash, judge=settings))
    policy = RetryPolicy(max_attempts=1)
    progress = asyncio.run(execute(items, LiteLLMJudge(settings, retry=policy), store, concurrency=2, max_consecutive_connection_errors=3))
    assert progress.aborted and "unreachable" in progress.aborted
    assert progress.calls < len(items)


def test_run_name_bound_to_rubric_version(fake_judge, store, traces, rubric):
    run(traces, rubric, settings_for(fake_judge), store, name="x")
    edited = rubric.model_copy(deep=True)
    edited.criteria[0].question += "!"
    with pytest.raises(RunMismatch, match="new --run name"):
        run(traces, edited, settings_for(fake_judge), store, name="x")


def test_store_is_wal_and_migrations_apply_once(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as s:
        assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Store(path) as s:
        assert s.migrations() == [name for name, _ in MIGRATIONS]
        assert s.integrity_ok()


def test_db_path_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("CHAINJUDGE_DB", raising=False)
    assert str(resolve_db_path(None)) == ".chainjudge/chainjudge.db"
    monkeypatch.setenv("CHAINJUDGE_DB", str(tmp_path / "env.db"))
    assert resolve_db_path(None) == tmp_path / "env.db"
    assert resolve_db_path(tmp_path / "flag.db") == tmp_path / "flag.db"


def test_limit_and_summaries(fake_judge, store, traces, rubric):
    outcome = run(traces, rubric, settings_for(fake_judge), store, limit=3)
    assert outcome.planned == 3
    (summary,) = store.runs()
    assert summary.judgments == 3 and summary.scored == 3
    rows = {r.criterion_id: r for r in store.criterion_summaries("r1")}
    assert sum(r.judgments for r in rows.values()) == 3


def test_the_in_process_mock_judge_runs_the_engine_without_http(tmp_path, rubric):
    import asyncio

    from chainjudge.core.engine import execute, plan
    from chainjudge.core.rubric import rubric_hash
    from chainjudge.core.schema import JudgeSettings, Run, Trace
    from chainjudge.testing.mock import MockJudge

    traces = [Trace(id=f"t{k}", steps=[{"index": 0, "ref": "0", "kind": "decision", "text": f"answer {k}"}]) for k in range(3)]
    settings = JudgeSettings(model="mock/judge", batch=True)
    items = plan(traces, rubric, settings, "r")
    judge = MockJudge()
    judge.enqueue("error", "fail", "timeout: scripted")  # t0: both criteria answered; t1's first criterion errs
    with Store(tmp_path / "m.db") as store:
        store.save_run(Run(name="r", rubric_id=rubric.id, rubric_hash=rubric_hash(rubric), rubric=rubric, judge=settings))
        progress = asyncio.run(execute(items, judge, store, concurrency=1))
        stored = {(j.trace_id, j.criterion_id): (j.verdict.label if j.verdict else j.error) for j in store.judgments("r")}
    assert len(judge.calls) == 3 and progress.errors == 1
    assert stored[("t0", "step_correct")] == "error" and stored[("t0", "grounded")] == "fail"
    assert stored[("t1", "step_correct")] == "timeout: scripted" and stored[("t2", "grounded")] == "pass"


def test_nothing_in_the_package_imports_the_test_doubles():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "chainjudge"
    for path in root.rglob("*.py"):
        if "testing" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("chainjudge.testing"):
                raise AssertionError(f"{path} imports {node.module}")


def test_error_and_judge_kinds_are_fields_and_old_rows_are_migrated(tmp_path):
    import sqlite3

    from chainjudge.core.schema import JudgeSettings, Judgment, Run, Verdict

    db = tmp_path / "old.db"
    common = dict(run="r", trace_id="t", step_ref="0", rubric_id="x", rubric_hash="h", prompt_hash="p")
    with Store(db) as store:
        store.save_run(Run(name="r", rubric_id="x", rubric_hash="h", judge=JudgeSettings(model="m")))
        store.add_judgments(
            [
                Judgment(
                    **common,
                    cache_key="a",
                    step_index=0,
                    criterion_id="c1",
                    judge="openai/m",
                    error="timeout: too slow",
                    error_kind="timeout",
                ),
                Judgment(
                    **common,
                    cache_key="b",
                    step_index=0,
                    criterion_id="c2",
                    judge="check:consent",
                    judge_kind="check",
                    verdict=Verdict(rationale="ok", label="pass"),
                    passed=True,
                ),
            ]
        )
    raw = sqlite3.connect(db)  # make it look like a store written before the kinds were fields
    raw.execute("UPDATE judgments SET data = json_remove(data, '$.error_kind', '$.judge_kind')")
    raw.execute("ALTER TABLE judgments DROP COLUMN error_kind")
    raw.execute("ALTER TABLE judgments DROP COLUMN judge_kind")
    raw.execute("DELETE FROM migrations WHERE name = '014_kinds_as_fields'")
    raw.commit()
    raw.close()
    with Store(db) as store:
        judged = {j.criterion_id: j for j in store.judgments("r")}
        counts = store.error_counts("r")
    assert judged["c1"].error_kind == "timeout" and judged["c1"].judge_kind == "model"
    assert judged["c2"].judge_kind == "check" and judged["c2"].error_kind is None
    assert counts == {"timeout": 1}
