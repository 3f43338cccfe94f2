"""The review queue and adjudication: ranking, leases, append-only labels, eight concurrent reviewers,
the Streamlit app through AppTest, and the token gate."""

import multiprocessing as mp
import os

import pytest

from chainjudge.core.store import Store
from chainjudge.review import queue as review

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_queue_holds_what_needs_a_person_ranked(review_store):
    with Store(review_store) as store:
        open_items = review.refresh_queue(store)
        counts = review.queue_counts(store)
        page = review.queue_page(store, size=500)
        judged = {
            (j.trace_id, j.step_ref): j.verdict.label for j in store.judgments("nightly") if j.criterion_id == "step_correct" and j.verdict
        }
        disagreements = sum(
            1
            for label in store.labels(criterion="step_correct", annotators=["apb-human"])
            if (label.trace_id, label.step_key) in judged and judged[(label.trace_id, label.step_key)] != label.value
        )
    assert disagreements > 10 and counts["judge_vs_human"] == disagreements  # people did not call these "correct"
    assert counts["judge_error"] == 1 and counts["injection"] == 2
    assert open_items == sum(counts.values()) == len(page)
    assert [i.priority for i in page] == sorted((i.priority for i in page), reverse=True)
    assert page[0].severity in ("critical", "high")


def test_refresh_keeps_done_items_done(review_store):
    with Store(review_store) as store:
        review.refresh_queue(store)
        item = review.claim_next(store, "ana")
        review.adjudicate(store, item, "ana", "error", "contradicts the search result")
        before = review.queue_counts(store)
        review.refresh_queue(store)
        assert review.queue_counts(store) == before


def test_two_reviewers_never_hold_the_same_item(review_store):
    with Store(review_store) as store:
        review.refresh_queue(store)
        a = review.claim_next(store, "ana")
        b = review.claim_next(store, "ben")
        assert a.id != b.id
        again = review.claim_next(store, "ana")  # asking again moves ana on, never onto ben's item
        assert again.id != b.id


def test_adjudication_is_a_new_label_row_that_feeds_calibration(review_store):
    with Store(review_store) as store:
        review.refresh_queue(store)
        item = review.claim_next(store, "ana", kind="judge_vs_human")
        before = store.labels(criterion="step_correct", annotators=["ana"])
        review.adjudicate(store, item, "ana", "error", "wrong city")
        correction = store.labels(criterion="step_correct", annotators=["ana"])[0]
        store.add_labels(
            [correction.model_copy(update={"value": "neutral", "note": "changed my mind", "created_at": None})]
        )  # a correction never overwrites
        rows = store.query("SELECT COUNT(*) FROM labels WHERE annotator = 'ana'")[0][0]
        latest = store.labels(criterion="step_correct", annotators=["ana"])
    assert before == [] and rows == 2
    assert [(label.value, label.note) for label in latest] == [("neutral", "changed my mind")]


def _reviewer(db, name, done):
    with Store(db) as store:
        while True:
            item = review.claim_next(store, name)
            if item is None:
                return
            review.adjudicate(store, item, name, "error", f"{name} was here")
            done.put(item.id)


def test_eight_concurrent_reviewers_lose_nothing(review_store, monkeypatch):
    import sys

    # spawned children re-import __main__ by path; after an AppTest ran in this process that is the app
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None, raising=False)
    monkeypatch.delattr(sys.modules["__main__"], "__file__", raising=False)
    with Store(review_store) as store:
        total = review.refresh_queue(store)
        items = {(i.trace_id, i.step_ref, i.criterion_id) for i in review.queue_page(store, size=1000)}
    ctx = mp.get_context("spawn")
    done = ctx.Queue()
    workers = [ctx.Process(target=_reviewer, args=(str(review_store), f"r{k}", done)) for k in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    with Store(review_store) as store:
        assert review.queue_counts(store) == {}
        rows = store.query("SELECT trace_id, step_key, criterion, COUNT(*) FROM labels WHERE annotator LIKE 'r_' GROUP BY 1, 2, 3")
        assert store.integrity_ok()
    assert {(t, s, c) for t, s, c, _ in rows} == items  # every item adjudicated ...
    assert all(n == 1 for *_, n in rows)  # ... exactly once
    assert total >= len(items)


def _app(db, token=None):
    from streamlit.testing.v1 import AppTest

    os.environ["CHAINJUDGE_DB"] = str(db)
    if token:
        os.environ["CHAINJUDGE_REVIEW_TOKEN"] = token
    else:
        os.environ.pop("CHAINJUDGE_REVIEW_TOKEN", None)
    return AppTest.from_file(os.path.join(ROOT, "chainjudge", "ui", "app.py"), default_timeout=60)


def test_app_sign_in_and_adjudicate(review_store):
    at = _app(review_store).run()
    assert not at.exception
    at.text_input(key="name").input("carla")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert any("review:local:carla" in t.value for t in at.sidebar.text)
    choice = at.radio(key="choice")
    assert len(choice.options) >= 2
    picked = choice.options[-1]
    choice.set_value(picked)
    at.text_input(key="note").input("answer contradicts the evidence")
    at.button(key="FormSubmitter:adjudicate-Save and next").click().run()
    assert not at.exception, at.exception
    with Store(review_store) as store:
        labels = store.labels(annotators=["review:local:carla"])
    assert [(label.value, label.note) for label in labels] == [(picked, "answer contradicts the evidence")]


def test_app_with_token_shows_nothing_without_it(review_store):
    try:
        at = _app(review_store, token="s3cret-long-enough-1").run()
        at.text_input(key="name").input("dan")
        at.text_input(key="token").input("wrong")
        at.button[0].click().run()
        assert any("Wrong access token" in e.value for e in at.error)
        assert len(at.tabs) == 0 and len(at.dataframe) == 0
        at.text_input(key="token").input("s3cret-long-enough-1")
        at.button[0].click().run()
        assert len(at.tabs) == 8  # review, queue, calibration, failure modes, runs, go-live, attribution, ground truth
    finally:
        os.environ.pop("CHAINJUDGE_REVIEW_TOKEN", None)


def test_queue_filters_by_rubric_segment_and_failure_mode(review_store):
    with Store(review_store) as store:
        review.refresh_queue(store)
        everything = review.queue_page(store, size=1000)
        assert {i.rubric_id for i in everything} == {"step-quality"}
        assert review.queue_page(store, size=1000, rubric="step-quality") == everything
        assert review.queue_page(store, size=1000, rubric="other") == []
        item = next(i for i in everything if i.kind == "judge_vs_human")
        store.set_assignments(item.run, [((item.trace_id, item.step_index, item.criterion_id), "FM-007")])
        trace = store.get_trace(item.trace_id)
        store.save_traces([trace.model_copy(update={"metadata": {**trace.metadata, "segment": "vip"}})])
        review.refresh_queue(store)
        assert {i.id for i in review.queue_page(store, size=1000, mode="FM-007")} == {item.id}
        vip = review.queue_page(store, size=1000, segment="vip")
        assert vip and all(i.trace_id == item.trace_id for i in vip)
        assert review.claim_next(store, "ana", mode="FM-007").id == item.id
        with pytest.raises(ValueError):
            review.queue_page(store, colour="red")
