"""The review app and its library under a busy team and a hostile reviewer: threads of one app process,
leases that ran out, paths typed into the browser, self-asserted identities, Streamlit's own output,
and the smaller holes (locality of a judge's address, CSV formulas, credentials in stored text)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import fake_judge_args, wait_for_http
from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.core.judges.local import free_port
from chainjudge.core.judges.resolve import is_loopback
from chainjudge.core.schema import JudgeSettings, Judgment, Run
from chainjudge.core.store import Store
from chainjudge.packs.cep.state_tables import StateTables
from chainjudge.review import queue as review

ROOT = Path(__file__).resolve().parents[1]


def _work(store_for, name: str, errors: list, done: list) -> None:
    store = store_for()
    try:
        while True:
            item = review.claim_next(store, name)
            if item is None:
                return
            review.adjudicate(store, item, name, "error", f"{name} was here")
            done.append(item.id)
    except Exception as exc:  # noqa: BLE001 - every error is the finding
        errors.append(f"{name}: {type(exc).__name__}: {exc}")


@pytest.mark.parametrize("sharing", ["one store for all threads", "one store per thread"])
def test_eight_reviewer_threads_in_one_process(review_store, sharing):
    """Eight sessions of one app process (Streamlit runs each in a thread of the same process)."""
    with Store(review_store) as store:
        review.refresh_queue(store)
        items = {(i.trace_id, i.step_ref, i.criterion_id) for i in review.queue_page(store, size=1000)}
    shared = Store(review_store)
    store_for = (lambda: shared) if sharing.startswith("one store for") else (lambda: Store(review_store))
    errors: list[str] = []
    done: list[str] = []
    threads = [threading.Thread(target=_work, args=(store_for, f"t{k}", errors, done)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    shared.close()
    with Store(review_store) as store:
        rows = store.query("SELECT trace_id, step_key, criterion, COUNT(*) FROM labels WHERE annotator LIKE 't_' GROUP BY 1, 2, 3")
        assert review.queue_counts(store) == {}
        assert store.integrity_ok()
    assert errors == []
    assert {(t, s, c) for t, s, c, _ in rows} == items  # every item adjudicated ...
    assert all(n == 1 for *_, n in rows)  # ... exactly once
    assert len(done) == len(set(done))


def test_adjudicating_without_the_lease_saves_nothing(review_store):
    with Store(review_store) as store:
        review.refresh_queue(store)
        item = review.claim_next(store, "ana", lease_s=0.01)
        time.sleep(0.05)  # ana's lease runs out; ben takes the item
        assert review.claim_next(store, "ben").id == item.id
        with pytest.raises(review.LeaseLost):
            review.adjudicate(store, item, "ana", "error", "too late")
        review.adjudicate(store, item, "ben", "correct", "mine")
        with pytest.raises(review.LeaseLost):  # done: a second adjudication is refused too
            review.adjudicate(store, item, "ben", "error", "again")
        labels = store.query("SELECT annotator, value FROM labels WHERE annotator IN ('ana', 'ben')")
    assert labels == [("ben", "correct")]


# ---------------------------------------------------------------- the app (AppTest, in process)


def _app(db, env: dict[str, str] | None = None):
    from streamlit.testing.v1 import AppTest

    for name in ("CHAINJUDGE_REVIEW_TOKEN", "CHAINJUDGE_SPACES", "CHAINJUDGE_SCENARIOS", "CHAINJUDGE_CATALOGUE"):
        os.environ.pop(name, None)
    os.environ["CHAINJUDGE_DB"] = str(db)
    os.environ.update(env or {})
    return AppTest.from_file(str(ROOT / "chainjudge" / "ui" / "app.py"), default_timeout=60)


def _all_text(at) -> str:
    parts = []
    for kind in ("markdown", "text", "code", "error", "exception", "caption", "info", "warning", "json"):
        for element in getattr(at, kind, []):
            parts.append(str(getattr(element, "value", "")))
    return "\n".join(parts)


def test_the_browser_cannot_make_the_app_open_a_path(fresh_db, tmp_path):
    secret = tmp_path / "secret.yaml"
    secret.write_text("root:x:0:0:the-secret-line\n")
    at = _app(fresh_db).run()
    at.text_input(key="name").input("eve")
    at.button[0].click().run()
    allowed_inputs = {"note", "f_criterion", "f_run", "f_rubric", "f_segment", "f_mode"}
    typed_paths = [t for t in at.text_input if t.key not in allowed_inputs]
    for box in typed_paths:  # today: catalogue, scenario space and scenarios boxes open what is typed
        box.input(str(secret))
    at.run()
    assert "the-secret-line" not in _all_text(at)
    assert typed_paths == [], f"path boxes in the app: {[t.key for t in typed_paths]}"


def test_no_label_is_chosen_for_the_reviewer(fresh_db):
    at = _app(fresh_db).run()
    at.text_input(key="name").input("fay")
    at.button[0].click().run()
    assert at.radio(key="choice").value is None  # today: the passing label, pre-selected
    at.button(key="FormSubmitter:adjudicate-Save and next").click().run()
    assert any("Pick a label" in e.value for e in at.error)
    with Store(fresh_db) as store:
        assert store.labels(annotators=["review:local:fay"]) == []


def test_personal_tokens_decide_who_is_signed_in(fresh_db):
    cli = CliRunner()
    result = cli.invoke(app, ["reviewers", "add", "ana", "--db", str(fresh_db)])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("cjr_") and len(token) > 30
    listing = cli.invoke(app, ["reviewers", "list", "--db", str(fresh_db)]).output
    assert "ana" in listing and token not in listing
    assert token.encode() not in fresh_db.read_bytes()  # only its hash is stored

    at = _app(fresh_db).run()  # with a reviewer registered, a name alone does not sign anyone in
    assert [t.key for t in at.text_input] == ["token"]
    at.text_input(key="token").input("not-a-token")
    at.button[0].click().run()
    assert any("Wrong access token" in e.value for e in at.error) and len(at.tabs) == 0
    at.text_input(key="token").input(token)
    at.button[0].click().run()
    assert len(at.tabs) == 8  # with the Attribution and Ground truth tabs
    choice = at.radio(key="choice")
    choice.set_value(choice.options[-1])
    at.button(key="FormSubmitter:adjudicate-Save and next").click().run()
    with Store(fresh_db) as store:
        assert [label.annotator for label in store.labels(annotators=["review:ana"])] == ["review:ana"]

    assert cli.invoke(app, ["reviewers", "revoke", "ana", "--db", str(fresh_db)]).exit_code == 0
    again = _app(fresh_db).run()  # revoking the last reviewer does not open the app to names
    assert [t.key for t in again.text_input] == ["token"]
    again.text_input(key="token").input(token)
    again.button[0].click().run()
    assert any("Wrong access token" in e.value for e in again.error) and len(again.tabs) == 0


def test_nobody_can_label_as_the_imported_annotator_or_the_ground_truth(fresh_db):
    at = _app(fresh_db, {"CHAINJUDGE_REVIEW_TOKEN": "shared-s3cret-long-enough"}).run()
    at.text_input(key="name").input("apb-human")  # the imported reference annotator of this store
    at.text_input(key="token").input("shared-s3cret-long-enough")
    at.button[0].click().run()
    assert len(at.tabs) == 8  # with the Attribution and Ground truth tabs
    choice = at.radio(key="choice")
    choice.set_value(choice.options[0])
    at.button(key="FormSubmitter:adjudicate-Save and next").click().run()
    with Store(fresh_db) as store:
        new = [(label.annotator, label.kind) for label in store.labels() if label.annotator.startswith("review:")]
    assert new == [("review:shared:apb-human", "human")]  # recorded as the shared token's user, not as apb-human


# ---------------------------------------------------------------- the real `chainjudge review` process


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_streamlit_output_goes_to_a_log_file_with_safe_settings(fresh_db, tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chainjudge.cli", "review", "--port", str(port), "--db", str(fresh_db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", process)
        line = process.stdout.readline()
        log = fresh_db.parent / "review-app.log"
        assert f"log {log}" in line, line
        child = _children(process.pid)[0]
        stderr_target = os.readlink(f"/proc/{child}/fd/2")
        assert stderr_target == str(log), stderr_target  # today: a pipe nobody reads (the app froze at ~64 KB)
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        for flag, value in (
            (b"--client.showErrorDetails", b"false"),
            (b"--client.toolbarMode", b"minimal"),
            (b"--server.address", b"127.0.0.1"),
        ):
            assert cmdline[cmdline.index(flag) + 1] == value
        assert log.stat().st_size > 0
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


# ---------------------------------------------------------------- smaller holes


@pytest.mark.parametrize(
    "url, local",
    [
        ("http://127.0.0.1:8000/v1", True),
        ("http://localhost:8000/v1", True),
        ("http://[::1]:8000/v1", True),
        ("http://127.evil.com/v1", False),
        ("http://127.0.0.1.evil.invalid/v1", False),
        ("https://api.example.com", False),
        ("http://0.0.0.0:8000", False),
        ("not a url", False),
        (None, False),
    ],
)
def test_locality_is_decided_by_the_resolved_address(url, local):
    assert is_loopback(url) is local


def test_csv_export_escapes_formulas(tmp_path, fake_judge):
    from chainjudge.core.schema import Trace

    hostile = tmp_path / "hostile.jsonl"
    hostile.write_text(
        Trace(
            id='=HYPERLINK("http://x","y")', steps=[{"index": 0, "ref": "@SUM(A1)", "kind": "decision", "text": "+cmd|' /C calc'!A0"}]
        ).model_dump_json()
        + "\n"
    )
    cli = CliRunner()
    db = tmp_path / "x.db"
    result = cli.invoke(
        app,
        fake_judge_args(hostile, ROOT / "rubrics" / "step-quality.yaml", fake_judge.url, db, "r"),
    )
    assert result.exit_code in (0, 1), result.output
    out = tmp_path / "r.csv"
    assert cli.invoke(app, ["export", "r", "--format", "csv", "--out", str(out), "--db", str(db)]).exit_code == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows
    for row in rows:
        for name, value in row.items():
            assert not value.startswith(("=", "+", "@")) and not (
                value.startswith("-") and not value.lstrip("-").replace(".", "").isdigit()
            ), (name, value)
    assert rows[0]["trace_id"] == '\'=HYPERLINK("http://x","y")'


def test_credentials_never_reach_the_store(tmp_path):
    settings = JudgeSettings(model="openai/x", api_base="https://alice:pa55word@judge.example.com/v1?api_key=k3y-123456")
    assert "pa55word" in settings.api_base  # the judge still gets the real address in memory
    with Store(tmp_path / "s.db") as store:
        store.save_run(Run(name="r", rubric_id="x", rubric_hash="h", judge=settings))
        store.add_judgments(
            [
                Judgment(
                    run="r",
                    cache_key="k",
                    trace_id="t",
                    step_index=0,
                    step_ref="0",
                    criterion_id="c",
                    judge="openai/x",
                    rubric_id="x",
                    rubric_hash="h",
                    prompt_hash="p",
                    error="connection: POST https://alice:pa55word@judge.example.com/v1 failed; "
                    "Authorization: Bearer sk-live-abcdef123456 rejected",
                )
            ]
        )
        stored = store.get_run("r")
    raw = (tmp_path / "s.db").read_bytes()
    for secret in (b"pa55word", b"k3y-123456", b"abcdef123456"):
        assert secret not in raw
    assert stored.judge.api_base == "https://***@judge.example.com/v1?api_key=***"


def test_unreachable_judge_message_hides_credentials(tmp_path):
    port = free_port()
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"id": "t", "steps": [{"index": 0, "ref": "0", "kind": "decision", "text": "x"}]}\n')
    result = CliRunner().invoke(
        app,
        [
            "judge",
            str(trace),
            "--rubric",
            str(ROOT / "rubrics" / "step-quality.yaml"),
            "--judge",
            "openai/x",
            "--api-base",
            f"http://bob:hunter22@127.0.0.1:{port}/v1",
            "--db",
            str(tmp_path / "x.db"),
        ],
    )
    assert result.exit_code == 2
    assert "hunter22" not in result.output and "unreachable" in result.output


def test_trace_text_and_rationales_are_shown_as_text_never_markdown(tmp_path, fake_judge):
    from chainjudge.core.schema import Trace

    hostile = "![pixel](http://127.0.0.1:9/track.png) [click me](http://127.0.0.1:9/phish) **bold**"
    traces = tmp_path / "t.jsonl"
    traces.write_text(
        Trace(
            id="md-1",
            steps=[
                {"index": 0, "ref": "0", "kind": "user", "text": hostile},
                {"index": 1, "ref": "1", "kind": "decision", "text": "send " + hostile},
            ],
        ).model_dump_json()
        + "\n"
    )
    db = tmp_path / "md.db"
    cli = CliRunner()
    result = cli.invoke(
        app,
        fake_judge_args(traces, ROOT / "rubrics" / "step-quality.yaml", fake_judge.url, db, "r"),
    )
    assert result.exit_code in (0, 1), result.output
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        '{"trace_id": "md-1", "step_ref": "1", "criterion": "step_correct", "value": "error", '
        '"annotator": "ann", "kind": "human", "note": "' + hostile.replace('"', "'") + '"}\n'
    )
    assert cli.invoke(app, ["labels", "import", str(labels), "--db", str(db)]).exit_code == 0
    at = _app(db).run()
    at.text_input(key="name").input("gus")
    at.button[0].click().run()
    assert not at.exception, at.exception
    shown_as_text = "\n".join(t.value for t in at.text)
    assert "![pixel](http://127.0.0.1:9/track.png)" in shown_as_text  # the step, and the label's note
    rendered = [m.value for m in at.markdown] + [e.label for e in at.expander] + [m.value for m in at.caption]
    assert not any("127.0.0.1:9" in r for r in rendered), rendered


def _ground_truth_tab_signed_out_midway():
    """The Ground truth tab alone, its session revoked between the page's sign-in check and the write."""
    import os

    from chainjudge.core.store import Store
    from chainjudge.packs.cep.review_tab import ground_truth_tab

    with Store(os.environ["CHAINJUDGE_DB"]) as store:
        ground_truth_tab(store, "review:gil", lambda: False)


def test_the_ground_truth_tab_checks_the_session_right_before_it_saves(fresh_db, tmp_path):
    """The app checks the sign-in at the start of every run; the Ground truth tab (offered by the CEP pack)
    also checks right before it writes, as the other tabs do, so a session revoked during the run saves
    nothing (it used to save)."""
    from streamlit.testing.v1 import AppTest

    examples = ROOT / "examples"
    imported = CliRunner().invoke(
        app,
        [
            "scenarios",
            "import",
            str(examples / "cdp-export-sample.csv"),
            "--mapping",
            str(examples / "cdp-mapping.yaml"),
            "--out",
            str(tmp_path / "s.jsonl"),
            "--annotate",
            "--db",
            str(fresh_db),
        ],
    )
    assert "put up for annotation" in imported.output, imported.output
    os.environ["CHAINJUDGE_DB"] = str(fresh_db)
    at = AppTest.from_function(_ground_truth_tab_signed_out_midway, default_timeout=60).run()
    next(r for r in at.radio if r.key and r.key.startswith("gt-action-")).set_value("wait")
    next(t for t in at.text_area if t.key and t.key.startswith("gt-reason-")).input("quiet hours")
    next(b for b in at.button if b.key and b.key.startswith("FormSubmitter:gt-")).click().run()
    assert not at.exception, at.exception
    with Store(fresh_db) as store:
        assert StateTables(store).state_annotations() == []
