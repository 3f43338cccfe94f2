"""Shared fixtures: a real HTTP fake judge per test, a temporary store, the shared data paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chainjudge.core.rubric import parse_rubric
from chainjudge.core.store import Store
from chainjudge.testing.fakejudge import FakeJudgeServer

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / "tests" / "data"  # public data kept in the repository (origins and licenses: its README.md)
TAU_BENCH = SHARED / "tau-bench" / "gpt-4o-airline.json"
HOTPOTQA = SHARED / "agentprocessbench" / "hotpotqa.jsonl"
BUNDLED_SAMPLE = ROOT / "traces" / "agentprocessbench-hotpotqa-sample.jsonl"

# no test may reach the internet: litellm must not fetch its price map, hubs must not be asked (the tests
# are an entry point like the CLI; importing chainjudge itself sets nothing)
from chainjudge.core import offline  # noqa: E402

offline.apply()
os.environ["COLUMNS"] = "200"  # rich tables at a width where cell text is not wrapped
for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "CHAINJUDGE_DB", "CHAINJUDGE_API_KEY"):
    os.environ.pop(name, None)


@pytest.fixture
def fake_judge():
    with FakeJudgeServer() as server:
        yield server


INSTALL_POSTGRES = "apt-get install -y postgresql"


@pytest.fixture(scope="session")
def postgres():
    """One real PostgreSQL server for the whole session (loopback, temporary folder, stopped at the end);
    every test gets a database of its own from it.  Missing binaries: skipped outside CI with the command
    that installs them; under CI a failure, never a skip."""
    from chainjudge.testing.postgres import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is missing under CI; .ci/run must install it ({INSTALL_POSTGRES}): {exc}")
        pytest.skip(f"{exc}; the PostgreSQL store tests need it: {INSTALL_POSTGRES}")
    with server:
        yield server


BACKENDS = ["sqlite", "postgresql"]


def new_store_location(backend: str, request, tmp_path) -> str:
    """A new empty store of the backend: a SQLite file, or a new database on the session's server."""
    if backend == "sqlite":
        return str(tmp_path / "test.db")
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    """An empty store, once on each back-end: every test that takes it runs against SQLite and PostgreSQL."""
    with Store(new_store_location(request.param, request, tmp_path)) as s:
        yield s


@pytest.fixture
def rubric():
    return parse_rubric(
        {
            "id": "test",
            "criteria": [
                {
                    "id": "step_correct",
                    "question": "Is the step correct?",
                    "applies_to": ["tool_call", "decision"],
                    "scale": {"type": "labels", "labels": ["correct", "neutral", "error"], "failing": ["error"]},
                },
                {"id": "grounded", "question": "Is the answer grounded?", "applies_to": ["decision"]},
            ],
        }
    )


@pytest.fixture(scope="session")
def review_db(tmp_path_factory):
    """A store with something to review (built once; tests change only their own copy, fresh_db)."""
    from review_fixture import build_review_db

    return build_review_db(tmp_path_factory.mktemp("review"))


@pytest.fixture
def fresh_db(review_db, tmp_path):
    copy = tmp_path / "review.db"
    with Store(review_db) as source:
        source.copy_to(copy)
    return copy


@pytest.fixture(params=BACKENDS)
def review_store(request, review_db, tmp_path) -> str:
    """The review fixture store, once on each back-end (on PostgreSQL: copied with `db copy`'s code)."""
    from chainjudge.core.store.copy import copy_store

    location = new_store_location(request.param, request, tmp_path)
    with Store(review_db) as source, Store(location) as target:
        copy_store(source, target)
    return location


INSTALL_CHROMIUM = "apt-get install -y chromium"


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium for the browser tests (Playwright must not download one).  Missing: skipped with
    the command that installs it, except under CI, where a missing browser is a failure, never a skip."""
    import shutil

    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"Chromium is missing under CI; .ci/run must install it ({INSTALL_CHROMIUM})")
    pytest.skip(f"Chromium is not installed; the browser tests need it: {INSTALL_CHROMIUM} (make test does this when it can)")


def wait_for_http(url: str, process=None, timeout_s: float = 90.0) -> None:
    """Poll url until it answers; fail early if the process serving it has exited."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            if process is not None and process.poll() is not None:
                raise AssertionError(f"the server exited: {process.stdout.read() if process.stdout else ''}") from None
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout_s} s")


# Debian's Chromium as the browser tests launch it: headless, sandbox off (root in CI), nothing reaching out
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(autouse=True)
def _fresh_review_sessions():
    """The review app keeps its signed-in sessions and failed sign-ins in module state (one per app process);
    every AppTest in this one test process would otherwise add to the same table (at most 50 sessions)."""
    import sys

    sessions = sys.modules.get("chainjudge.review.sessions")
    if sessions is not None:
        sessions.SESSIONS._seen.clear()
        sessions.LIMITER._failures.clear()
    yield


def fake_judge_args(traces, rubric, url: str, db, run: str, *extra) -> list[str]:
    """The `chainjudge judge` arguments most CLI tests start from: TRACES against RUBRIC, judged by the scripted
    fake judge server at URL into the store DB under RUN, then EXTRA options."""
    base = ["judge", str(traces), "--rubric", str(rubric), "--judge", "openai/fake", "--api-base", url, "--db", str(db), "--run", run]
    return base + [str(e) for e in extra]
