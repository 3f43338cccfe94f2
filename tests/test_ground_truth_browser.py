"""Strategists annotate imported states in the review app's Ground truth tab, in Chromium: two per state;
the state they disagree on goes to a third; the settled states and the agreement figures come out."""

from __future__ import annotations

import subprocess
import sys
import time

from conftest import CHROMIUM_ARGS, wait_for_http
from test_history_import import rows_file
from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.core.judges.local import free_port
from chainjudge.core.store import Store
from chainjudge.packs.cep import annotation
from chainjudge.packs.cep.fake_export import MAPPING
from chainjudge.packs.cep.state_tables import StateTables

ACTIONS = ["send", "wait", "suppress"]


def annotate(browser, url: str, name: str, choices: list[str], tmp_path) -> list[str]:
    """Sign in as NAME and annotate states in order with CHOICES; returns the state ids shown."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Signed in as").wait_for(timeout=60_000)
    page.get_by_role("tab", name="Ground truth").click()
    shown = []
    for choice in choices:
        heading = page.get_by_text("State u-").first
        heading.wait_for(timeout=60_000)
        state = heading.inner_text().removeprefix("State ").strip()
        shown.append(state)
        page.get_by_text("Lifecycle:").first.wait_for(timeout=30_000)  # the state, as text
        # on a loaded machine the previous state's form can linger for a moment beside the new one
        expect(page.get_by_label("Reason")).to_have_count(1, timeout=30_000)
        page.get_by_role("radiogroup").get_by_role("radio").nth(ACTIONS.index(choice)).check(force=True)
        page.get_by_label("Reason").fill(f"{name} chose {choice}")
        page.get_by_role("button", name="Save expected action").click()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and page.get_by_text(f"State {state}").count():
            time.sleep(0.3)
    page.screenshot(path=str(tmp_path / f"ground-truth-{name}.png"), full_page=True)
    context.close()
    return shown


def test_two_strategists_per_state_and_a_third_where_they_disagree(tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    mapping, db = tmp_path / "m.yaml", tmp_path / "gt.db"
    mapping.write_text(MAPPING)
    export = rows_file(tmp_path, {"unsubscribed": "true", "next_action": ""}, {"next_action": ""})
    result = CliRunner().invoke(
        app,
        [
            "scenarios",
            "import",
            str(export),
            "--mapping",
            str(mapping),
            "--out",
            str(tmp_path / "imported.jsonl"),
            "--annotate",
            "--db",
            str(db),
        ],
    )
    assert result.exit_code == 0 and "2 states put up for annotation" in result.output, result.output
    with Store(db) as store:
        (first, _, _), (second, _, _) = StateTables(store).states()

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chainjudge.cli", "review", "--port", str(port), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/_stcore/health", process)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            assert annotate(browser, url, "ana", ["suppress", "suppress"], tmp_path) == [first, second]
            assert annotate(browser, url, "ben", ["suppress", "wait"], tmp_path) == [first, second]
            assert annotate(browser, url, "cara", ["wait"], tmp_path) == [second]  # only the disputed state
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=20)

    with Store(db) as store:
        given = annotation.strategist_annotations(store)
        settled = {s.user.id: s for s in annotation.settled(store)}
        figures = annotation.field_agreement(store, bootstrap=50)
    assert sorted(given[first]) == ["review:local:ana", "review:local:ben"]
    assert sorted(given[second]) == ["review:local:ana", "review:local:ben", "review:local:cara"]
    assert given[first]["review:local:ana"].reason == "review:local:ana chose suppress".replace("review:local:", "")
    assert settled[first].annotated.action == "suppress" and settled[second].annotated.action == "wait"
    assert figures["action"]["alpha"].n == 2 and figures["action"]["observed"] == 0.5

    agreement = CliRunner().invoke(app, ["scenarios", "agreement", "--db", str(db), "--bootstrap", "50"])
    assert agreement.exit_code == 0 and "Krippendorff" in agreement.output and "action" in agreement.output
    written = CliRunner().invoke(app, ["scenarios", "annotated", "--out", str(tmp_path / "a.jsonl"), "--db", str(db)])
    assert "2 of 2 states settled" in written.output
