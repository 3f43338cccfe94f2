"""An aligned judge: worked examples retrieved from the tune split reach the prompt, never from a test
trace; the same seed gives the same examples; a judge that copies its nearest example's label reaches
exactly the agreement nearest-neighbour retrieval predicts; the aligned version is in every judgment."""

from __future__ import annotations

import json
import re

import pytest
from conftest import HOTPOTQA, fake_judge_args
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.core.rubric import parse_rubric
from chainjudge.core.schema import Label, Step, Trace
from chainjudge.core.store import Store
from chainjudge.testing.fakejudge import FakeJudgeServer
from chainjudge.workflows.alignment import build_aligned

MAP = ["--map", "1=correct", "--map", "0=neutral", "--map", "-1=error"]
RUBRIC = """id: apb-step
criteria:
  - id: step
    question: Is this step a correct move toward the answer?
    applies_to: [tool_call, decision, message]
    scale: {type: labels, labels: [correct, neutral, error], failing: [error]}
"""
LABEL = re.compile(r"-> label (\w+)\.")


def copy_nearest(body: dict) -> dict:
    """A judge that answers the label of the first (nearest) worked example in its prompt."""
    found = LABEL.search(body["messages"][-1]["content"])
    return {"rationale": "as the nearest example", "label": found.group(1) if found else "correct"}


@pytest.fixture(scope="module")
def aligned_db(tmp_path_factory):
    """40 HotPotQA trajectories judged once (so the store holds the traces), their human labels, a split, an aligned judge."""
    tmp = tmp_path_factory.mktemp("align")
    traces, rubric, db = tmp / "t.jsonl", tmp / "r.yaml", tmp / "a.db"
    traces.write_text("\n".join(HOTPOTQA.read_text().splitlines()[:40]) + "\n")
    rubric.write_text(RUBRIC)
    cli = CliRunner()
    with FakeJudgeServer() as server:
        base = ["judge", str(traces), "--rubric", str(rubric), "--judge", "openai/fake", "--api-base", server.url, "--db", str(db)]
        assert cli.invoke(app, [*base, "--run", "plain"]).exit_code == 0
    assert (
        cli.invoke(
            app,
            ["labels", "import", str(HOTPOTQA), "--annotator", "human", "--kind", "human", "--criterion", "step", *MAP, "--db", str(db)],
        ).exit_code
        == 0
    )
    # by trace, as the split these figures were measured on (a task-grouped split is tested in test_verifier.py)
    assert cli.invoke(app, ["labels", "split", "--test-share", "0.3", "--seed", "3", "--group-by", "trace", "--db", str(db)]).exit_code == 0
    built = cli.invoke(app, ["align", "--rubric", str(rubric), "--name", "apb", "--examples-only", "--db", str(db)])
    assert built.exit_code == 0, built.output
    return tmp, traces, rubric, db


def test_examples_come_from_tune_only_and_reach_the_prompt(aligned_db):
    tmp, traces, rubric, db = aligned_db
    with Store(db) as store:
        aligned, split = store.aligned("apb"), store.split()
    assert aligned.examples and all(split[e.trace_id] == "tune" for e in aligned.examples)
    with FakeJudgeServer(answer=copy_nearest) as server:
        result = CliRunner().invoke(
            app,
            fake_judge_args(traces, rubric, server.url, db, "aligned", "--aligned", "apb", "--limit", "12"),
        )
        prompts = [r["body"]["messages"][-1]["content"] for r in server.requests]
    assert result.exit_code == 0, result.output
    assert prompts and all("Worked examples" in p and '"label": ' in p for p in prompts)
    example_texts = {json.dumps(" ".join(e.text.split())[:400], ensure_ascii=False)[1:-1] for e in aligned.examples}
    assert all(any(text in p for text in example_texts) for p in prompts)  # the shown examples are the aligned judge's
    with Store(db) as store:
        judged = list(store.judgments("aligned"))
        plain = {j.cache_key for j in store.judgments("plain")}
    assert judged and all(j.aligned == aligned.tag for j in judged)  # provenance
    assert not plain & {j.cache_key for j in judged}  # the aligned version is in the cache key


def test_a_copy_the_nearest_judge_reaches_the_agreement_retrieval_predicts(aligned_db):
    from chainjudge.analysis.alignment import Retriever
    from chainjudge.core.rubric import load_rubric
    from chainjudge.workflows.embed import SentenceTransformerEmbedder, embed_cached

    tmp, traces, rubric, db = aligned_db
    with FakeJudgeServer(answer=copy_nearest) as server:
        result = CliRunner().invoke(
            app,
            fake_judge_args(traces, rubric, server.url, db, "copier", "--aligned", "apb"),
        )
    assert result.exit_code == 0, result.output
    with Store(db) as store:
        aligned, split = store.aligned("apb"), store.split()
        embedder = SentenceTransformerEmbedder()
        retriever = Retriever(aligned, lambda texts: embed_cached(texts, embedder, store))
        criteria = tuple(load_rubric(rubric).criteria)
        humans = {(label.trace_id, label.step_key): label.value for label in store.labels(criterion="step", annotators=["human"])}
        hits = predicted_hits = items = 0
        for j in store.judgments("copier"):
            key = (j.trace_id, j.step_ref)
            if split.get(j.trace_id) != "test" or key not in humans:
                continue
            trace = store.get_trace(j.trace_id, run="copier")
            step = next(s for s in trace.steps if s.ref == j.step_ref)
            predicted = retriever.examples_for(trace, step, criteria)[0].label
            items += 1
            hits += j.verdict.label == humans[key]
            predicted_hits += predicted == humans[key]
    assert items > 20 and hits == predicted_hits


def test_same_seed_same_examples(aligned_db):
    tmp, traces, rubric, db = aligned_db
    with Store(db) as store:
        first = store.aligned("apb").version
        again, _ = build_aligned(store, parse_rubric(__import__("yaml").safe_load(RUBRIC)), "apb")
    assert again.version == first


def test_resuming_a_plain_run_as_aligned_is_refused(aligned_db):
    tmp, traces, rubric, db = aligned_db
    with FakeJudgeServer() as server:
        result = CliRunner().invoke(
            app,
            fake_judge_args(traces, rubric, server.url, db, "plain", "--aligned", "apb"),
        )
    assert result.exit_code == 2 and "aligned" in result.output


@given(
    st.lists(st.tuples(st.integers(0, 15), st.integers(0, 3), st.sampled_from(["correct", "error"])), min_size=2, max_size=60),
    st.floats(0.2, 0.8),
    st.integers(0, 1000),
)
@settings(max_examples=40, deadline=None)
def test_no_test_item_is_ever_an_example(tmp_path_factory, rows, share, seed):
    from chainjudge.analysis.splits import assign_split

    db = tmp_path_factory.mktemp("prop") / "p.db"
    labels = [Label(trace_id=f"t{t}", step_ref=str(s), criterion="step", value=v, annotator="h", kind="human") for t, s, v in rows]
    traces = [
        Trace(id=f"t{t}", steps=[Step(index=i, ref=str(i), kind="decision", text=f"trace {t} step {i}") for i in range(4)])
        for t in sorted({t for t, _, _ in rows})
    ]
    rubric = parse_rubric(__import__("yaml").safe_load(RUBRIC))
    with Store(db) as store:
        store.save_traces(traces)
        store.add_labels(labels)
        split = assign_split(labels, share, seed, {"error"})
        store.save_split(split, seed, share)
        if "tune" not in split.values():
            return
        aligned, _ = build_aligned(store, rubric, "p")
    assert aligned.examples and all(split[e.trace_id] == "tune" for e in aligned.examples)
    assert {(e.trace_id, e.step_ref) for e in aligned.examples} == {
        (label.trace_id, label.step_key) for label in labels if split[label.trace_id] == "tune"
    }


def test_align_needs_a_split(tmp_path):
    rubric = tmp_path / "r.yaml"
    rubric.write_text(RUBRIC)
    result = CliRunner().invoke(app, ["align", "--rubric", str(rubric), "--name", "x", "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 2 and "labels split" in result.output


def test_examples_are_balanced_across_labels():
    from chainjudge.analysis.alignment import balanced
    from chainjudge.core.schema import AlignedExample

    def ex(i, label):
        return AlignedExample(criterion="c", text=str(i), label=label, reason="r", trace_id="t", step_ref=str(i))

    nearest = [ex(0, "fail"), ex(1, "fail"), ex(2, "fail"), ex(3, "pass"), ex(4, "pass")]
    assert [e.step_ref for e in balanced(nearest, 4)] == ["0", "3", "1", "4"]
    assert json.dumps([e.step_ref for e in balanced(nearest, 1)]) == '["0"]'


def test_the_review_app_shows_new_tune_labels_and_re_aligns(aligned_db, tmp_path):
    """The alignment panel: tune-split labels added since the aligned judge was built, the runs that used it
    and their looks at the test split, and "Re-align", which builds a new version from today's labels."""
    import os

    from conftest import ROOT
    from streamlit.testing.v1 import AppTest

    _, _, _, db = aligned_db
    copy = tmp_path / "panel.db"
    with Store(db) as source:
        source.copy_to(copy)
        before = source.aligned("apb")
    with Store(copy) as store:
        split = store.split()
        tune_trace = next(t for t, side in split.items() if side == "tune")
        trace = store.get_trace(tune_trace)
        step = next(s for s in trace.steps if s.kind in ("tool_call", "decision", "message"))
        store.add_labels(
            [
                Label(
                    trace_id=tune_trace,
                    step_ref=step.ref,
                    criterion="step",
                    value="error",
                    annotator="ana",
                    kind="human",
                    note="a new adjudication after the alignment",
                )
            ]
        )
    os.environ["CHAINJUDGE_DB"] = str(copy)
    os.environ.pop("CHAINJUDGE_REVIEW_TOKEN", None)
    at = AppTest.from_file(str(ROOT / "chainjudge" / "ui" / "app.py"), default_timeout=60).run()
    at.text_input(key="name").input("carla")
    at.button[0].click().run()
    assert not at.exception, at.exception
    panel = [d.value for d in at.dataframe if "tune labels added since" in d.value.columns]
    assert panel and panel[0].set_index("criterion").loc["step", "tune labels added since"] == 1
    with Store(copy) as store:  # an earlier test of this module may have judged a run with it
        used = [r.name for r in (store.get_run(x.name) for x in store.runs()) if r.judge.aligned == before.tag]
    assert any(t.value.startswith(f"runs judged with it: {', '.join(used) or 'none yet'};") for t in at.text)
    at.button(key="realign-apb").click().run()
    assert not at.exception, at.exception
    with Store(copy) as store:
        after = store.aligned("apb")
    assert after.version != before.version
    assert any(e.reason == "a new adjudication after the alignment" for e in after.examples)  # today's label is in it
    assert not any(e.reason == "a new adjudication after the alignment" for e in before.examples)
    assert any(after.tag in s.value for s in at.success)
