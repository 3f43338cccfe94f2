"""The review app's Attribution tab: a Who&When failure log in per-agent lanes, and a reviewer confirming
or correcting who made the decisive mistake, stored as a new human label that attribution scoring reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chainjudge.analysis.attribution import annotated_attributions
from chainjudge.core.schema import Label
from chainjudge.core.store import Store
from chainjudge.pipeline import load_traces
from chainjudge.review import attribution
from tests.conftest import ROOT

LOG = Path(__file__).resolve().parent / "data" / "who-and-when" / "hand-crafted" / "1.json"


@pytest.fixture()
def store_with_a_log(tmp_path):
    """One Who&When log stored as a trace, with the benchmark's annotation as its attribution label."""
    import shutil

    from typer.testing import CliRunner

    from chainjudge.cli import app

    folder = tmp_path / "logs"
    folder.mkdir()
    shutil.copy(LOG, folder / LOG.name)
    db = tmp_path / "a.db"
    assert CliRunner().invoke(app, ["labels", "import", str(folder), "--db", str(db)]).exit_code == 0
    trace = load_traces([folder]).traces[0]
    with Store(db) as store:
        store.save_traces([trace])
    return db, trace


def test_lanes_place_every_step_under_its_agent(store_with_a_log):
    _, trace = store_with_a_log
    names, placed = attribution.lanes(trace)
    assert names[0] == "human" and {"Orchestrator", "WebSurfer"} <= set(names)
    assert "human" not in attribution.responsible_candidates(trace)
    assert [p.index for p in placed] == [s.index for s in trace.steps]
    assert all(names[p.lane] == (s.agent or attribution.HUMAN) for p, s in zip(placed, trace.steps, strict=True))
    assert attribution.is_multi_agent(trace)


def test_a_reviewer_s_correction_is_a_new_label_and_the_newest_counts(store_with_a_log):
    db, trace = store_with_a_log
    with Store(db) as store:
        before = attribution.attributions(store, trace.id)
        assert len(before) == 1 and before[0].annotator == "who-and-when"
        with pytest.raises(attribution.AttributionRejected, match="is not an agent"):
            attribution.record(store, trace, "review:local:ana", "Nobody", 3)
        with pytest.raises(attribution.AttributionRejected, match="has no step"):
            attribution.record(store, trace, "review:local:ana", "WebSurfer", 10_000)
        assert len(attribution.attributions(store, trace.id)) == 1  # refused answers write nothing
        step = next(s for s in trace.steps if s.agent == "WebSurfer")
        attribution.record(store, trace, "review:local:ana", "WebSurfer", step.index, "typed the wrong query")
        after = attribution.attributions(store, trace.id)
        assert len(after) == 2 and after[-1].value == "WebSurfer" and after[-1].step_ref == step.ref
        assert annotated_attributions(store.labels(criterion="attribution"))[trace.id].step == int(step.ref)


def _app(db):
    from streamlit.testing.v1 import AppTest

    os.environ["CHAINJUDGE_DB"] = str(db)
    os.environ.pop("CHAINJUDGE_REVIEW_TOKEN", None)
    return AppTest.from_file(os.path.join(ROOT, "chainjudge", "ui", "app.py"), default_timeout=60)


def test_the_attribution_tab_shows_lanes_and_saves_an_answer(store_with_a_log):
    db, trace = store_with_a_log
    at = _app(db).run()
    at.text_input(key="name").input("bea")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="attr_trace").value == trace.id
    texts = [t.value for t in at.text]
    assert "WebSurfer" in texts and any(t.startswith("step 4 \u00b7 ") for t in texts)
    assert any("who-and-when (human): " in t for t in texts)
    agent = at.selectbox(key="attr_agent")
    assert agent.value is None  # nothing pre-selected: no anchor is recorded as a choice
    at.button(key="FormSubmitter:attribute-Save attribution").click().run()
    assert any("nothing was saved" in e.value for e in at.error)
    at.selectbox(key="attr_agent").set_value("Orchestrator")
    at.number_input(key="attr_step").set_value(1)
    at.text_input(key="attr_note").input("the plan sent the surfer to the wrong site")
    at.button(key="FormSubmitter:attribute-Save attribution").click().run()
    assert not at.exception, at.exception
    with Store(db) as store:
        labels: list[Label] = store.labels(annotators=["review:local:bea"])
    assert [(label.criterion, label.value, label.step_ref, label.note) for label in labels] == [
        ("attribution", "Orchestrator", trace.steps[1].ref, "the plan sent the surfer to the wrong site")
    ]


def test_the_newest_attribution_wins_whatever_order_the_store_returns():
    from datetime import datetime, timezone

    imported = Label(trace_id="t", step_ref="3", criterion="attribution", value="WebSurfer", annotator="who-and-when")
    corrected = Label(
        trace_id="t",
        step_ref="1",
        criterion="attribution",
        value="Orchestrator",
        annotator="review:local:a",
        created_at=datetime(2026, 12, 1, tzinfo=timezone.utc),
    )
    for order in ([imported, corrected], [corrected, imported]):
        assert annotated_attributions(order)["t"].agent == "Orchestrator"
