"""Decision thresholds, proposed clarifications and the before/after comparison of `chainjudge align`.

A "shy" fake judge (real HTTP) always says `correct`, but its label log-probabilities put more weight on
`error` where people said error: its labels carry no information (kappa 0), its probabilities do.  A
threshold chosen on tune must find that; the test-split comparison must show it, beside the baselines;
the thresholds are part of the aligned version and reach `judge --aligned`; --propose writes a diff and
changes nothing."""

from __future__ import annotations

import hashlib
import json
import math
import re

import pytest
import yaml
from conftest import HOTPOTQA, fake_judge_args
from hypothesis import given, settings
from hypothesis import strategies as st
from test_alignment import MAP, RUBRIC
from typer.testing import CliRunner

from chainjudge.analysis.threshold_fit import MIN_EACH_CLASS, Point, binary_kappa, choose_threshold, cross_validated_kappa
from chainjudge.cli import app
from chainjudge.core.decision_threshold import apply_threshold, fail_probability
from chainjudge.core.judges.label_probs import label_probabilities
from chainjudge.core.rubric import parse_rubric
from chainjudge.core.schema import AlignedJudge, LabelScale, Threshold, Verdict
from chainjudge.core.store import Store
from chainjudge.testing.fakejudge import LABEL_PROBS, FakeJudgeServer, token_logprobs

ALIGNMENT_DATA = HOTPOTQA.parents[1] / "alignment"
SCALE = LabelScale(labels=["correct", "neutral", "error"], failing=["error"])
JUDGED = re.compile(r"to judge:\n<<<DATA-\w+\n(.*?)\nDATA-\w+>>>", re.S)


# ------------------------------------------------------------ label probabilities from log-probabilities


def _content(tokens: list[tuple[str, list[tuple[str, float]]]]) -> dict:
    return {
        "choices": [
            {
                "logprobs": {
                    "content": [
                        {
                            "token": t,
                            "logprob": alts[0][1] if alts else 0.0,
                            "top_logprobs": [{"token": a, "logprob": lp} for a, lp in alts],
                        }
                        for t, alts in tokens
                    ]
                }
            }
        ]
    }


def test_label_probabilities_as_llama_cpp_returns_them():
    """The token layout the local llama.cpp server returned for a real verdict (captured)."""
    raw = _content(
        [
            ('{"', []),
            ("rationale", []),
            ('":', []),
            (' "', []),
            ("fine", []),
            ('",', []),
            (' "', []),
            ("label", []),
            ('":', []),
            (' "', [(' "', 0.0), (" correct", -10.5)]),
            ("correct", [("correct", -0.0), (" correct", -8.06), ("error", -8.39), ("Correct", -8.7), ("neutral", -8.95)]),
            ('"', []),
            ("}", []),
        ]
    )
    probs = label_probabilities(raw, SCALE.labels)
    assert probs is not None and max(probs, key=probs.get) == "correct"
    assert probs["error"] == pytest.approx(math.exp(-8.39) / (1 + math.exp(-8.06) + math.exp(-8.39) + math.exp(-8.95)), rel=1e-6)
    assert sum(probs.values()) == pytest.approx(1)


def test_label_probabilities_when_the_value_shares_a_token_with_the_quote():
    raw = _content([('{"label":', []), (' "err', [(' "err', -0.2), (' "correct', -1.8), (' "ne', -3.0)]), ('or"}', [])])
    probs = label_probabilities(raw, SCALE.labels)
    total = math.exp(-0.2) + math.exp(-1.8) + math.exp(-3.0)
    assert probs == pytest.approx({"error": math.exp(-0.2) / total, "correct": math.exp(-1.8) / total, "neutral": math.exp(-3.0) / total})


def test_no_log_probabilities_no_probabilities():
    assert label_probabilities({"choices": [{"message": {"content": "{}"}}]}, SCALE.labels) is None
    assert label_probabilities(_content([('{"label": "', []), ("maybe", [("maybe", 0.0)])]), SCALE.labels) is None


def test_the_fake_server_serves_what_the_parser_reads():
    text = '{"rationale": "ok", "label": "correct"}'
    raw = {"choices": [{"logprobs": {"content": token_logprobs(text, {"correct": 0.7, "neutral": 0.1, "error": 0.2}, 5)}}]}
    assert label_probabilities(raw, SCALE.labels) == pytest.approx({"correct": 0.7, "neutral": 0.1, "error": 0.2})


# ------------------------------------------------------------ applying and choosing a threshold


def test_a_threshold_overrules_the_label_and_keeps_the_judges_own():
    said = Verdict(rationale="r", label="correct")
    probs = {"correct": 0.6, "neutral": 0.1, "error": 0.3}
    decided, raw = apply_threshold(said, probs, SCALE, 0.25)
    assert (decided.label, raw) == ("error", "correct")
    assert apply_threshold(said, probs, SCALE, 0.35) == (said, None)
    decided, raw = apply_threshold(Verdict(rationale="r", label="error"), {"correct": 0.2, "neutral": 0.7, "error": 0.1}, SCALE, 0.5)
    assert (decided.label, raw) == ("neutral", "error")  # the most probable passing label
    # without log-probabilities, the verdict's confidence is the graded answer
    assert fail_probability(Verdict(rationale="r", label="error", confidence=0.8), None, SCALE) == pytest.approx(0.8)
    assert fail_probability(Verdict(rationale="r", label="correct", confidence=0.8), None, SCALE) == pytest.approx(0.2)
    assert apply_threshold(Verdict(rationale="r", label="correct"), None, SCALE, 0.1)[1] is None  # nothing graded: as said


points_strategy = st.lists(st.tuples(st.floats(0, 1), st.booleans(), st.booleans(), st.sampled_from("abcdefgh")), min_size=0, max_size=60)


@settings(max_examples=200, deadline=None)
@given(points_strategy)
def test_a_chosen_threshold_is_honest_about_tune(raw_points):
    points = [Point(p, r, j, group) for p, r, j, group in raw_points]
    threshold, why = choose_threshold(points, "label log-probabilities")
    failing = sum(p.reference_fails for p in points)
    if failing < MIN_EACH_CLASS or len(points) - failing < MIN_EACH_CLASS:
        assert threshold is None and "too few" in why
        return
    reference = [p.reference_fails for p in points]
    as_said = binary_kappa(reference, [p.judge_fails for p in points])
    best = max(binary_kappa(reference, [q.p_fail >= p.p_fail for q in points]) for p in points)
    held_out = cross_validated_kappa(points)
    if threshold is None:  # kept only when it beats the judge's own labels on tune and leaving one trace out
        assert best <= as_said + 1e-9 or held_out is None or held_out <= as_said + 1e-9
        return
    recomputed = binary_kappa(reference, [p.p_fail >= threshold.p_fail for p in points])
    assert recomputed == pytest.approx(threshold.kappa_at_threshold, abs=1e-4)
    assert recomputed == pytest.approx(best) and recomputed > as_said
    assert held_out is not None and held_out > as_said


def _tune_points(rows) -> list[Point]:
    return [Point(r["p_fail"], r["people"] == "error", r["judge"] == "error", r["trace"]) for r in rows]


def test_a_cut_that_only_fits_tune_is_refused():
    """The 40 real tune judgments behind the README's HotPotQA run (the local judge's P(error) and people's
    labels): the best cut lifts tune kappa 0.167 -> 0.348, and scored -0.003 on the held-out traces.  Leaving
    one trace out, the same procedure reaches 0.048, below the judge's own labels: no threshold."""
    rows = [json.loads(line) for line in (ALIGNMENT_DATA / "hotpotqa_tune_points.jsonl").read_text().splitlines()]
    points = _tune_points(rows)
    reference = [p.reference_fails for p in points]
    as_said = binary_kappa(reference, [p.judge_fails for p in points])
    best = max(binary_kappa(reference, [q.p_fail >= p.p_fail for q in points]) for p in points)
    assert (len(points), round(as_said, 3), round(best, 3)) == (40, 0.167, 0.348)  # tune alone says: keep it
    assert cross_validated_kappa(points) < as_said
    threshold, why = choose_threshold(points, "label log-probabilities")
    assert threshold is None and "leaving one trace out" in why


def test_a_cut_that_generalises_across_traces_is_kept():
    """A judge whose P(fail) separates the classes (with noise in its own labels) keeps its cut."""
    points = [Point(0.1 + 0.01 * i, False, i % 4 == 0, f"t{i}") for i in range(12)]
    points += [Point(0.6 + 0.01 * i, True, i % 3 == 0, f"u{i}") for i in range(12)]
    threshold, why = choose_threshold(points, "label log-probabilities")
    assert threshold is not None and 0.21 < threshold.p_fail <= 0.6, why
    assert cross_validated_kappa(points) > 0.8  # the edge steps held out can fall on the wrong side of the refitted cut
    assert cross_validated_kappa([Point(0.5, True, True, "one"), Point(0.1, False, False, "one")]) is None


def test_thresholds_are_part_of_the_aligned_version():
    plain = AlignedJudge(name="a", rubric_id="r", rubric_hash="h", examples=[])
    cut = plain.model_copy(
        update={
            "thresholds": {
                "step": Threshold(p_fail=0.3, source="label log-probabilities", tune_items=40, kappa_as_said=0.0, kappa_at_threshold=0.5)
            }
        }
    )
    assert plain.version != cut.version
    assert plain.version == AlignedJudge(name="a", rubric_id="r", rubric_hash="h", examples=[]).version


# ------------------------------------------------------------ align end to end, with the shy fake judge


@pytest.fixture(scope="module")
def shy_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shy")
    traces, rubric, db = tmp / "t.jsonl", tmp / "r.yaml", tmp / "a.db"
    traces.write_text("\n".join(HOTPOTQA.read_text().splitlines()[:60]) + "\n")
    rubric.write_text(RUBRIC)
    cli = CliRunner()
    with FakeJudgeServer() as server:
        assert (
            cli.invoke(
                app,
                fake_judge_args(traces, rubric, server.url, db, "seen"),
            ).exit_code
            == 0
        )
    assert (
        cli.invoke(
            app,
            ["labels", "import", str(HOTPOTQA), "--annotator", "human", "--kind", "human", "--criterion", "step", *MAP, "--db", str(db)],
        ).exit_code
        == 0
    )
    # by trace, as the split these figures were measured on (a task-grouped split is tested in test_verifier.py)
    assert cli.invoke(app, ["labels", "split", "--test-share", "0.4", "--seed", "5", "--group-by", "trace", "--db", str(db)]).exit_code == 0
    with Store(db) as store:
        people = {(label.trace_id, label.step_key): label.value for label in store.labels(criterion="step", annotators=["human"])}
        texts = {}
        for trace_id in {t for t, _ in people}:
            trace = store.get_trace(trace_id)
            for step in trace.steps if trace else ():
                if (trace_id, step.ref) in people:
                    texts[" ".join(step.render().split())[:200]] = people[(trace_id, step.ref)]
    return tmp, traces, rubric, db, texts


def shy_judge(texts: dict[str, str]):
    """Says `correct` every time; P(error) 0.3 where people said error, 0.02 elsewhere, except on one step in
    seven (chosen by the step's text) where it is the other way round: a good but imperfect graded judge."""

    def answer(body: dict) -> dict:
        found = JUDGED.search(body["messages"][-1]["content"])
        key = " ".join(found.group(1).split())[:200] if found else ""
        wrong = int(hashlib.sha256(key.encode()).hexdigest(), 16) % 7 == 0
        p = 0.3 if (texts.get(key) == "error") != wrong else 0.02
        return {"rationale": "looks fine", "label": "correct", LABEL_PROBS: {"correct": 0.97 - p, "neutral": 0.03, "error": p}}

    return answer


def test_align_fits_a_threshold_and_shows_what_it_bought_on_the_test_split(shy_db):
    tmp, traces, rubric, db, texts = shy_db
    with FakeJudgeServer(answer=shy_judge(texts)) as server:
        result = CliRunner().invoke(
            app,
            [
                "align",
                "--rubric",
                str(rubric),
                "--name",
                "shy",
                "--judge",
                "openai/fake",
                "--api-base",
                server.url,
                "--tune-steps",
                "0",
                "--test-steps",
                "0",
                "--db",
                str(db),
            ],
        )
        calls = len(server.requests)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "threshold step: fails at P(fail) >= 0.3: tune kappa 0.000 ->" in text
    assert "plain vs aligned on the sealed test split" in text and "first-error accuracy" in text
    assert "baseline: always pass" in text and "baseline: always fail" in text
    assert "the aligned judge beats chance on held-out traces" in text and "clearly beats the plain one" in text
    with Store(db) as store:
        aligned, split = store.aligned("shy"), store.split()
        assert aligned.thresholds["step"].p_fail == pytest.approx(0.3)
        assert aligned.thresholds["step"].source == "label log-probabilities"
        tested = list(store.judgments(f"align-{aligned.tag}-test"))
        assert tested and all(split[j.trace_id] == "test" for j in tested)
        # only labelled steps align can judge are measured: labels on traces not in the store are not misses
        assert f"sealed test split ({len(tested)} labelled steps" in text
        flipped = [j for j in tested if j.raw_label is not None]
        assert flipped and all(j.raw_label == "correct" and j.verdict.label == "error" and j.passed is False for j in flipped)
        assert all(j.aligned == aligned.tag and j.label_probs for j in tested)  # provenance: version and probabilities
        tuned = list(store.judgments(f"align-shy-{aligned.model_copy(update={'thresholds': {}}).version}-tune"))
        assert tuned and all(split[j.trace_id] == "tune" for j in tuned)
        assert store.looks(f"openai/fake@{tested[0].rubric_hash}+{aligned.tag}") == 1
    # again: every judgment is stored, so nothing is asked twice, and the second look is called out
    with FakeJudgeServer(answer=shy_judge(texts)) as server:
        again = CliRunner().invoke(
            app,
            [
                "align",
                "--rubric",
                str(rubric),
                "--name",
                "shy",
                "--judge",
                "openai/fake",
                "--api-base",
                server.url,
                "--tune-steps",
                "0",
                "--test-steps",
                "0",
                "--db",
                str(db),
            ],
        )
        assert again.exit_code == 0, again.output
        assert len(server.requests) == 0 < calls
    assert "looked at 2 times" in " ".join(again.output.split())


def test_judge_aligned_decides_by_the_threshold(shy_db):
    tmp, traces, rubric, db, texts = shy_db
    with FakeJudgeServer(answer=shy_judge(texts)) as server:
        setup = CliRunner().invoke(
            app,
            [
                "align",
                "--rubric",
                str(rubric),
                "--name",
                "shy2",
                "--judge",
                "openai/fake",
                "--api-base",
                server.url,
                "--tune-steps",
                "0",
                "--no-evaluate",
                "--db",
                str(db),
            ],
        )
        assert setup.exit_code == 0, setup.output
        result = CliRunner().invoke(
            app,
            fake_judge_args(traces, rubric, server.url, db, "with-threshold", "--aligned", "shy2", "--limit", "30"),
        )
    assert result.exit_code == 0, result.output
    assert "decision thresholds: step fails at P >= 0.3" in " ".join(result.output.split())
    with Store(db) as store:
        judged = list(store.judgments("with-threshold"))
        run = store.get_run("with-threshold")
    assert run.judge.thresholds == {"step": pytest.approx(0.3)} and run.judge.label_probs
    errors = [j for j in judged if j.verdict and j.verdict.label == "error"]
    assert errors and all(j.raw_label == "correct" for j in errors)


def test_propose_writes_a_rubric_diff_and_changes_nothing(shy_db, tmp_path):
    tmp, traces, rubric, db, texts = shy_db
    before = rubric.read_text()
    with FakeJudgeServer(answer=shy_judge(texts)) as server:
        result = CliRunner().invoke(
            app,
            [
                "align",
                "--rubric",
                str(rubric),
                "--name",
                "shy3",
                "--judge",
                "openai/fake",
                "--api-base",
                server.url,
                "--tune-steps",
                "0",
                "--no-evaluate",
                "--propose",
                "--out",
                str(tmp_path),
                "--k",
                "3",
                "--db",
                str(db),
            ],
        )
    assert result.exit_code == 0, result.output
    assert rubric.read_text() == before  # never applied silently
    diff = (tmp_path / "r.proposed.diff").read_text()
    assert diff.startswith("--- ") and re.search(r"^\+\s+- step: ", diff, re.M) and re.search(r"^\+\s+label: error", diff, re.M)
    proposed = parse_rubric(yaml.safe_load((tmp_path / "r.proposed.yaml").read_text()))
    step = proposed.criteria[0]
    assert step.examples and all(e.label in SCALE.labels for e in step.examples)
    assert "Reviewers disagreed with the judge" in step.question
    assert "proposals:" in result.output


def test_propose_needs_the_judge(shy_db):
    tmp, traces, rubric, db, texts = shy_db
    result = CliRunner().invoke(app, ["align", "--rubric", str(rubric), "--name", "x", "--examples-only", "--propose", "--db", str(db)])
    assert result.exit_code == 2 and "--propose needs" in result.output


def test_tune_judging_never_shows_an_example_of_the_judged_trace():
    from chainjudge.analysis.alignment import Retriever
    from chainjudge.core.schema import AlignedExample, Step, StepKind, Trace

    examples = [
        AlignedExample(criterion="step", text=f"search {i}", label="correct", reason="r", trace_id=f"t{i % 3}", step_ref=str(i))
        for i in range(12)
    ]
    aligned = AlignedJudge(name="a", rubric_id="r", rubric_hash="h", k=8, examples=examples)

    def embed(texts):
        return [[1.0, float(len(t))] for t in texts]

    step = Step(index=0, ref="0", kind=StepKind.tool_call, text="search 0")
    trace = Trace(id="t0", steps=[step])
    criteria = tuple(parse_rubric(yaml.safe_load(RUBRIC)).criteria)
    assert any(e.trace_id == "t0" for e in Retriever(aligned, embed).examples_for(trace, step, criteria))
    assert all(e.trace_id != "t0" for e in Retriever(aligned, embed, exclude_same_trace=True).examples_for(trace, step, criteria))


def test_the_review_app_re_aligns_with_thresholds_in_the_background(shy_db, tmp_path):
    """The panel's background re-align runs `chainjudge align` as a child process, shows its progress from the
    log, and leaves a new version with a fitted threshold; the panel shows thresholds and test-split figures."""
    import os
    import time

    from conftest import ROOT
    from streamlit.testing.v1 import AppTest

    tmp, traces, rubric, db, texts = shy_db
    copy = tmp_path / "panel.db"
    with Store(db) as source:
        source.copy_to(copy)
    with FakeJudgeServer(answer=shy_judge(texts)) as server:
        cli = CliRunner()
        assert cli.invoke(app, ["align", "--rubric", str(rubric), "--name", "bg", "--examples-only", "--db", str(copy)]).exit_code == 0
        used = cli.invoke(
            app,
            fake_judge_args(traces, rubric, server.url, copy, "bg-run", "--aligned", "bg", "--limit", "5"),
        )
        assert used.exit_code == 0, used.output
        os.environ["CHAINJUDGE_DB"] = str(copy)
        os.environ.pop("CHAINJUDGE_REVIEW_TOKEN", None)
        at = AppTest.from_file(str(ROOT / "chainjudge" / "ui" / "app.py"), default_timeout=60).run()
        at.text_input(key="name").input("carla")
        at.button[0].click().run()
        assert not at.exception, at.exception
        panel = [d.value for d in at.dataframe if "decision threshold" in d.value.columns]
        assert panel and "none" in panel[0].set_index("criterion").loc["step", "decision threshold"]
        at.button(key="realign-bg-bg").click().run()
        assert not at.exception, at.exception
        assert any("Started" in s.value for s in at.success)
        at.run()
        assert any("Re-aligning bg in the background" in i.value for i in at.info)  # progress while it runs
        deadline = time.monotonic() + 300
        with Store(copy) as store:
            while (store.aligned("bg") is None or not store.aligned("bg").thresholds) and time.monotonic() < deadline:
                time.sleep(1)
            fitted = store.aligned("bg")
    log = (copy.parent / "realign" / "bg.log").read_text()
    assert fitted.thresholds.get("step") is not None, log
    assert fitted.thresholds["step"].p_fail == pytest.approx(0.3)
    from chainjudge.ui import background_jobs

    deadline = time.monotonic() + 60
    with Store(copy) as store:
        while background_jobs.status(store, "bg").running and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "use it:" in background_jobs.status(store, "bg").last_line
    at.run()
    panel = [d.value for d in at.dataframe if "decision threshold" in d.value.columns]
    shown = {
        d.value.set_index("criterion").loc["step", "decision threshold"] for d in at.dataframe if "decision threshold" in d.value.columns
    }
    assert panel and "fails at P(fail) >= 0.3" in shown
    assert any(t.value.startswith("last background re-align:") for t in at.text)


def test_align_resumes_after_the_traces_were_imported_again(shy_db, tmp_path):
    """A trace stored again (here from another file) is a new version; align's stored runs keep judging the
    versions they pinned, so a rerun resumes instead of being refused."""
    tmp, traces, rubric, db, texts = shy_db
    copy = tmp_path / "again.db"
    with Store(db) as source:
        source.copy_to(copy)
    args = [
        "align",
        "--rubric",
        str(rubric),
        "--name",
        "again",
        "--judge",
        "openai/fake",
        "--tune-steps",
        "12",
        "--test-steps",
        "6",
        "--db",
        str(copy),
    ]
    with FakeJudgeServer(answer=shy_judge(texts)) as server:
        first = CliRunner().invoke(app, [*args, "--api-base", server.url])
    assert first.exit_code == 0, first.output
    with Store(copy) as store:
        moved = [store.get_trace(t).model_copy(update={"source": "moved.jsonl"}) for t in store.trace_ids()]
        store.save_traces(moved)
    with FakeJudgeServer(answer=shy_judge(texts)) as server:
        again = CliRunner().invoke(app, [*args, "--api-base", server.url])
        assert again.exit_code == 0, again.output
        assert len(server.requests) == 0
