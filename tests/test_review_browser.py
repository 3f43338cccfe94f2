"""A real browser: `chainjudge review` on a fixture store, Debian's Chromium driven by Playwright:
sign in, adjudicate one item, and the label row is in the database."""

import subprocess
import sys
import time

import pytest
from conftest import CHROMIUM_ARGS, wait_for_http
from review_fixture import build_review_db

from chainjudge.core.judges.local import free_port
from chainjudge.core.store import Store


@pytest.fixture
def app_url(tmp_path):
    db = build_review_db(tmp_path)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chainjudge.cli", "review", "--port", str(port), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(url + "/_stcore/health", process)
    yield url, db
    process.terminate()
    process.wait(timeout=20)


def test_sign_in_and_adjudicate_in_chromium(app_url, tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    url, db = app_url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_label("Your name").fill("browser-reviewer")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Signed in as").wait_for(timeout=60_000)
        page.get_by_role("button", name="Save and next").wait_for(timeout=60_000)
        radios = page.get_by_role("radiogroup").get_by_role("radio")
        radios.last.check(force=True)
        page.get_by_label("Note (why)").fill("checked in a real browser")
        page.get_by_role("button", name="Save and next").click()
        deadline = time.monotonic() + 30
        labels = []
        while time.monotonic() < deadline and not labels:
            with Store(db) as store:
                labels = store.labels(annotators=["review:local:browser-reviewer"])
            time.sleep(0.3)
        page.screenshot(path=str(tmp_path / "review-app.png"), full_page=True)
        browser.close()
    assert len(labels) == 1 and labels[0].note == "checked in a real browser"
    assert (tmp_path / "review-app.png").stat().st_size > 10_000


def test_stopping_review_stops_the_app(tmp_path):
    import signal
    import urllib.request

    from chainjudge.core.store import Store as _Store

    _Store(tmp_path / "empty.db").close()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chainjudge.cli", "review", "--port", str(port), "--db", str(tmp_path / "empty.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}/_stcore/health"
    wait_for_http(url, process)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            time.sleep(0.3)
        except OSError:
            return  # the app went down with the command
    raise AssertionError("the Streamlit app kept running after `chainjudge review` was stopped")


def test_four_reviewers_in_four_browsers_share_one_review_server(tmp_path, chromium):
    """Four Chromium contexts, each signed in with a personal token, adjudicate the same queue of ONE
    `chainjudge review` server at the same time: no errors, no item adjudicated twice, nothing lost."""
    from playwright.sync_api import sync_playwright
    from typer.testing import CliRunner

    from chainjudge.cli import app

    db = build_review_db(tmp_path)
    tokens = {}
    for name in ("ana", "ben", "chi", "dee"):
        result = CliRunner().invoke(app, ["reviewers", "add", name, "--db", str(db)])
        assert result.exit_code == 0, result.output
        tokens[name] = result.output.strip().splitlines()[-1]
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chainjudge.cli", "review", "--port", str(port), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    rounds = 4

    def saved(name: str) -> int:
        with Store(db) as store:
            return len(store.query("SELECT 1 FROM labels WHERE annotator = ?", (f"review:{name}",)))

    try:
        wait_for_http(url + "/_stcore/health", process)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            pages = {}
            for name, token in tokens.items():
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                page.goto(url, wait_until="domcontentloaded")
                page.get_by_label("Access token").fill(token)
                page.get_by_role("button", name="Sign in").click()
                pages[name] = page
            for page in pages.values():
                page.get_by_text("Signed in as").wait_for(timeout=90_000)
                assert page.get_by_role("button", name="Deploy").count() == 0  # no developer toolbar
            for round_ in range(1, rounds + 1):
                for name, page in pages.items():  # all four click before any waits: the server sees them at once
                    page.get_by_role("button", name="Save and next").wait_for(timeout=90_000)
                    page.get_by_role("radiogroup").get_by_role("radio").last.check(force=True)
                    page.get_by_label("Note (why)").fill(f"{name} round {round_}")
                    page.get_by_role("button", name="Save and next").click()
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline and any(saved(n) < round_ for n in pages):
                    time.sleep(0.3)
                assert all(saved(n) == round_ for n in pages), {n: saved(n) for n in pages}
                time.sleep(0.5)  # let each page render its next item
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=20)
    with Store(db) as store:
        rows = store.query("SELECT trace_id, step_key, criterion, COUNT(*) FROM labels WHERE annotator LIKE 'review:%' GROUP BY 1, 2, 3")
        done = store.query("SELECT COUNT(*) FROM review_queue WHERE done = 1")[0][0]
        notes = {label.note for label in store.labels() if label.annotator.startswith("review:")}
    assert sum(n for *_, n in rows) == 4 * rounds  # every adjudication stored ...
    assert all(n == 1 for *_, n in rows)  # ... and no item adjudicated twice
    assert notes == {f"{n} round {r}" for n in tokens for r in range(1, rounds + 1)}
    assert done >= 4 * rounds
    log = (db.parent / "review-app.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-2000:]
