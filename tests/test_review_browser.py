"""A real browser: `chainjudge review` on a fixture store, Debian's Chromium driven by Playwright:
sign in, adjudicate one item, and the label row is in the database."""

import os
import shutil
import subprocess
import sys
import time

import pytest

from chainjudge.judges.local import free_port
from chainjudge.store import Store

from conftest import wait_for_http
from review_fixture import build_review_db

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def app_url(tmp_path):
    db = build_review_db(tmp_path)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "chainjudge.cli", "review", "--port", str(port), "--db", str(db)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(url + "/_stcore/health", process)
    yield url, db
    process.terminate()
    process.wait(timeout=20)


def test_sign_in_and_adjudicate_in_chromium(app_url, tmp_path):
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "install Debian's chromium (apt-get install -y chromium); .ci/run does"
    url, db = app_url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
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
                labels = store.labels(annotators=["browser-reviewer"])
            time.sleep(0.3)
        page.screenshot(path=str(tmp_path / "review-app.png"), full_page=True)
        browser.close()
    assert len(labels) == 1 and labels[0].note == "checked in a real browser"
    assert (tmp_path / "review-app.png").stat().st_size > 10_000


def test_stopping_review_stops_the_app(tmp_path):
    import signal
    import urllib.request

    from chainjudge.store import Store as _Store

    _Store(tmp_path / "empty.db").close()
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "chainjudge.cli", "review", "--port", str(port), "--db", str(tmp_path / "empty.db")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
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
