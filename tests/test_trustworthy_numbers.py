"""Go/no-go numbers that cannot be wrong in the optimistic direction: each defect found by a careful
reviewer, reproduced where a user would meet it (mostly through the CLI), then the new guarantees:
trust needs evidence, one reference per item, no lost judgments, versioned traces, fixed run settings,
judge-error-corrected rates, a gate that fails closed, and bias probes."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from conftest import fake_judge_args
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.core.schema import Label, Trace
from chainjudge.core.store import Store
from chainjudge.packs.cep.generator import generate
from chainjudge.testing.fakejudge import FakeJudgeServer

ROOT = Path(__file__).resolve().parents[1]
STEP_RUBRIC = ROOT / "rubrics" / "step-quality.yaml"
cli = CliRunner()


def invoke(*args: str):
    return cli.invoke(app, [str(a) for a in args])


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def label_rows(rows, annotator="people", kind="human", criterion="c"):
    return [{"trace_id": t, "step_ref": s, "criterion": criterion, "value": v, "annotator": annotator, "kind": kind} for t, s, v in rows]


def agreement_json(db, reference, against, criterion="c"):
    result = invoke("agreement", "--reference", reference, "--against", against, "--criterion", criterion, "--json", "--db", db)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)[0]


# ---------------------------------------------------------------- 1. trust needs evidence


def test_one_failing_label_never_makes_a_judge_trusted(tmp_path):
    db = tmp_path / "a.db"
    rows = [(f"t{i}", "1", "fail" if i == 0 else "pass") for i in range(25)]
    write_jsonl(tmp_path / "h.jsonl", label_rows(rows, "people"))
    write_jsonl(tmp_path / "j.jsonl", label_rows(rows, "judge-a", "judge"))
    assert invoke("labels", "import", tmp_path / "h.jsonl", tmp_path / "j.jsonl", "--db", db).exit_code == 0
    report = agreement_json(db, "people", "judge-a")
    assert report["trust"] == "unreliable"  # was "trusted", kappa 1.0 [1.0, 1.0]
    assert report["trust_rule"] == "min_failing_labels" and "1 failing reference labels in 1 traces" in report["trust_basis"]
    assert report["tpr"]["n"] == 1 and report["tpr"]["low"] < 0.3  # one hit says little: Wilson, not [1, 1]


def test_uncertainty_inside_one_trace_is_not_hidden(tmp_path):
    db = tmp_path / "b.db"
    people = [(f"t{i // 3}", str(i % 3), "fail" if i == 0 else "pass") for i in range(24)]  # 8 traces of 3 steps
    judge = [(t, s, "fail" if (t, s) in {("t0", "0"), ("t0", "1")} else v) for t, s, v in people]  # + a false alarm in t0
    write_jsonl(tmp_path / "h.jsonl", label_rows(people, "people"))
    write_jsonl(tmp_path / "j.jsonl", label_rows(judge, "judge-b", "judge"))
    assert invoke("labels", "import", tmp_path / "h.jsonl", tmp_path / "j.jsonl", "--db", db).exit_code == 0
    report = agreement_json(db, "people", "judge-b")
    assert report["trust"] == "unreliable"  # was "trusted" with kappa 0.65 [0.60, 1.0]
    table = invoke("agreement", "--reference", "people", "--against", "judge-b", "--criterion", "c", "--db", db).output
    assert "TPR (failing)" in table and "TNR" in table and "unreliable (min_failing_labels)" in table


# ---------------------------------------------------------------- 3. one reference per item


def test_two_annotators_on_the_same_steps_count_once(tmp_path):
    db = tmp_path / "c.db"
    rows = [(f"t{i}", "1", "fail" if i % 2 else "pass") for i in range(10)]
    write_jsonl(tmp_path / "gt.jsonl", label_rows(rows, "truth", "ground-truth"))
    write_jsonl(tmp_path / "h.jsonl", label_rows(rows, "ann", "human"))
    write_jsonl(tmp_path / "j.jsonl", label_rows(rows, "judge-c", "judge"))
    assert invoke("labels", "import", tmp_path / "gt.jsonl", tmp_path / "h.jsonl", tmp_path / "j.jsonl", "--db", db).exit_code == 0
    report = agreement_json(db, "reference", "judge-c")
    assert report["reference_items"] == 10 and report["paired_items"] == 10  # not 20
    assert report["trust"] == "unreliable"
    apart = invoke("labels", "agreement", "--criterion", "c", "--db", db)
    assert apart.exit_code == 0 and "ann" in apart.output and "truth" in apart.output and "1.000" in apart.output


def test_the_newest_adjudication_replaces_an_older_one_and_beats_ground_truth():
    from chainjudge.analysis.reference import reference_labels

    t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
    labels = [
        Label(trace_id="t", step_ref="1", criterion="c", value="pass", annotator="truth", kind="ground-truth", created_at=t0),
        Label(trace_id="t", step_ref="1", criterion="c", value="fail", annotator="review:ana", created_at=t0 + timedelta(hours=1)),
        Label(
            trace_id="t",
            step_ref="1",
            criterion="c",
            value="pass",
            annotator="review:ben",
            created_at=(t0 + timedelta(hours=2)).astimezone(timezone(timedelta(hours=-5))),
        ),
    ]
    (chosen,) = reference_labels(labels)
    assert (chosen.annotator, chosen.value) == ("review:ben", "pass")  # newest by instant, whatever the offset


def test_newest_label_compares_instants_not_text(tmp_path):
    with Store(tmp_path / "d.db") as store:
        early = datetime(2026, 11, 1, 10, 0, tzinfo=timezone(timedelta(hours=7)))  # 03:00 UTC
        late = datetime(2026, 11, 1, 5, 0, tzinfo=timezone.utc)  # 05:00 UTC, text sorts before "10:00"
        store.add_labels(
            [
                Label(trace_id="t", step_ref="1", criterion="c", value="old", annotator="a", created_at=early),
                Label(trace_id="t", step_ref="1", criterion="c", value="new", annotator="a", created_at=late),
            ]
        )
        assert [label.value for label in store.labels(criterion="c")] == ["new"]


# ---------------------------------------------------------------- 4. no judgment lost on identical steps


def test_identical_steps_in_two_traces_keep_two_judgments_for_one_call(tmp_path, fake_judge):
    steps = [
        {"index": 0, "ref": "0", "kind": "user", "text": "Which city?"},
        {"index": 1, "ref": "1", "kind": "tool_call", "text": "search(city)"},
    ]
    traces = write_jsonl(tmp_path / "t.jsonl", [Trace(id=f"searchR1:4:{k}", steps=steps).model_dump_json() for k in range(2)])
    db = tmp_path / "e.db"
    result = invoke(*fake_judge_args(traces, STEP_RUBRIC, fake_judge.url, db, "r", "--one-per-criterion"))
    assert result.exit_code == 0, result.output
    with Store(db) as store:
        stored = [(j.trace_id, j.step_index, j.criterion_id, j.reused) for j in store.judgments("r")]
    per_trace = {t for t, *_ in stored}
    assert per_trace == {"searchR1:4:0", "searchR1:4:1"}  # the second used to be dropped
    assert len(stored) == 2 * len([s for s in stored if s[0] == "searchR1:4:0"])
    assert len(fake_judge.requests) == len(stored) // 2  # identical prompts: asked once, copied
    again = invoke(*fake_judge_args(traces, STEP_RUBRIC, fake_judge.url, db, "r", "--one-per-criterion"))
    assert again.exit_code == 0 and len(fake_judge.requests) == len(stored) // 2  # a re-run asks nothing


# ---------------------------------------------------------------- 5. first-error accuracy with text refs


def test_first_error_accuracy_with_text_step_refs(tmp_path, fake_judge):
    traces = write_jsonl(
        tmp_path / "t.jsonl",
        [
            Trace(
                id=f"n{k}",
                steps=[
                    {"index": 0, "ref": "msg-1", "kind": "user", "text": "go"},
                    {"index": 1, "ref": "msg-2", "kind": "tool_call", "text": f"lookup({k})"},
                    {"index": 2, "ref": "span-9f", "kind": "decision", "text": f"answer {k}"},
                ],
            ).model_dump_json()
            for k in range(3)
        ],
    )
    db = tmp_path / "f.db"
    wrong = {"lookup(0)", "answer 0", "answer 2"}

    def answer(body):
        step = body["messages"][-1]["content"].split("to judge:")[-1]
        label = "error" if any(w in step for w in wrong) else "correct"
        return {"rationale": "r", "label": label if "correct" in json.dumps(body.get("tools") or body.get("response_format")) else "pass"}

    with FakeJudgeServer(answer=answer) as judge:
        assert invoke(*fake_judge_args(traces, STEP_RUBRIC, judge.url, db, "r", "--concurrency", "1", "--one-per-criterion")).exit_code == 0
    with Store(db) as store:  # people agree with the judge exactly, labels keyed by ref only (no index)
        rows = [(j.trace_id, j.step_ref, j.verdict.label) for j in store.judgments("r") if j.criterion_id == "step_correct"]
    write_jsonl(tmp_path / "h.jsonl", label_rows(rows, "people", criterion="step_correct"))
    assert invoke("labels", "import", tmp_path / "h.jsonl", "--db", db).exit_code == 0
    report = agreement_json(db, "people", "run:r", "step_correct")
    assert report["step_accuracy"]["value"] == 1.0
    assert report["first_error_accuracy"]["value"] == 1.0  # was 0.667


# ---------------------------------------------------------------- 6. traces are versioned by content


def test_a_rerecorded_trace_does_not_change_what_an_older_run_judged(tmp_path, fake_judge):
    from chainjudge.review import queue as review

    def record(text):
        return write_jsonl(
            tmp_path / "t.jsonl",
            [
                Trace(
                    id="cep-u1",
                    steps=[
                        {"index": 0, "ref": "0", "kind": "user", "text": "decide"},
                        {"index": 1, "ref": "1", "kind": "decision", "text": text},
                    ],
                ).model_dump_json()
            ],
        )

    db = tmp_path / "g.db"
    for run, text in (("old", "send push now"), ("new", "hold until tomorrow")):
        result = invoke(*fake_judge_args(record(text), STEP_RUBRIC, fake_judge.url, db, run))
        assert result.exit_code == 0, result.output
    with Store(db) as store:
        assert store.get_trace("cep-u1", run="old").steps[1].text == "send push now"  # was the new text
        assert store.get_trace("cep-u1", run="new").steps[1].text == "hold until tomorrow"
        item = next(
            i
            for i in [
                review.QueueItem(
                    id="x",
                    kind="judge_error",
                    run="old",
                    trace_id="cep-u1",
                    step_ref="1",
                    step_index=1,
                    criterion_id="step_correct",
                    detail="",
                    severity="high",
                    priority=1.0,
                )
            ]
        )
        assert review.item_context(store, item).trace.steps[1].text == "send push now"  # the app shows what was judged
    listing = invoke("traces", "list", "--db", db).output
    assert "cep-u1" in listing and " 2 " in listing and "old@" in listing and "new@" in listing
    resumed = invoke(*fake_judge_args(record("something else"), STEP_RUBRIC, fake_judge.url, db, "old"))
    assert resumed.exit_code == 2 and "give a new --run" in resumed.output


# ---------------------------------------------------------------- 7. a run's settings are fixed


@pytest.mark.parametrize(
    "changed, setting", [(["--temperature", "0.5"], "temperature"), (["--mode", "json"], "mode"), (["--one-per-criterion"], "batch")]
)
def test_resuming_a_run_with_other_judge_settings_is_refused(tmp_path, fake_judge, changed, setting):
    traces = write_jsonl(
        tmp_path / "t.jsonl", [Trace(id="t", steps=[{"index": 0, "ref": "0", "kind": "decision", "text": "x"}]).model_dump_json()]
    )
    base = fake_judge_args(traces, STEP_RUBRIC, fake_judge.url, tmp_path / "h.db", "r")
    assert invoke(*base).exit_code == 0
    result = invoke(*base, *changed)
    assert result.exit_code == 2 and setting in result.output and "new --run" in result.output
    show = invoke("show", "r", "--db", tmp_path / "h.db").output
    with Store(tmp_path / "h.db") as store:
        assert len(list(store.judgments("r"))) == 2  # one per criterion, not a second set
    assert "r" in show


# ---------------------------------------------------------------- 8. no usable decision fails, not "unscored"


def test_an_agent_without_a_usable_decision_fails_the_checks(tmp_path, fake_judge):
    rubric = tmp_path / "checks.yaml"
    rubric.write_text(
        yaml.safe_dump(
            {
                "id": "checks",
                "criteria": [
                    {
                        "id": "consent_respected",
                        "question": "q",
                        "applies_to": ["decision"],
                        "check": "consent_respected",
                        "severity": "critical",
                    }
                ],
            }
        )
    )
    db = tmp_path / "i.db"
    result = invoke(
        "judge",
        ROOT / "chainjudge" / "packs" / "cep" / "traces" / "traces.jsonl",
        "--rubric",
        rubric,
        "--judge",
        "openai/none",
        "--api-base",
        fake_judge.url,
        "--db",
        db,
        "--run",
        "r",
    )
    with Store(db) as store:
        judged = [j for j in store.judgments("r") if j.criterion_id == "consent_respected"]
        traces = [store.get_trace(j.trace_id, run="r") for j in judged]
    assert result.exit_code == 0, result.output
    assert fake_judge.requests == []  # checks only: no model
    ok = [j for j, t in zip(judged, traces, strict=True) if t.metadata.get("status") == "ok"]
    assert ok and all(j.error is None for j in ok)  # 20 of them used to be errors, leaving the pass rate over 49
    unusable = [j for j in ok if not j.passed and j.verdict.rationale.startswith("no usable agent output")]
    assert len(unusable) >= 15


# ---------------------------------------------------------------- 2. the gate fails closed; one score everywhere


def _cep_store(tmp_path: Path, n: int = 100) -> tuple[Path, Path, Path, dict]:
    """n CEP decisions judged by a check (all pass) and a critical model criterion failing every other one."""
    scenarios = generate()[:n]
    traces = write_jsonl(
        tmp_path / "t.jsonl",
        [
            Trace(
                id=f"cep-{s.user.id}",
                metadata={
                    "scenario_id": s.user.id,
                    "segment": s.user.ltv_segment,
                    "market": s.user.market,
                    "perturbations": s.user.perturbations,
                    "user_state": s.user.model_dump(mode="json"),
                },
                steps=[
                    {"index": 0, "ref": "0", "kind": "user", "text": f"decide for {s.user.id}"},
                    {"index": 1, "ref": "1", "kind": "decision", "text": s.expected.model_dump_json()},
                ],
            ).model_dump_json()
            for s in scenarios
        ],
    )
    expected = write_jsonl(tmp_path / "scenarios.jsonl", [s.model_dump_json() for s in scenarios])
    rubric = tmp_path / "r.yaml"
    rubric.write_text(
        yaml.safe_dump(
            {
                "id": "r",
                "criteria": [
                    {
                        "id": "suppression_honoured",
                        "question": "q",
                        "applies_to": ["decision"],
                        "check": "suppression_honoured",
                        "severity": "critical",
                    },
                    {"id": "model_says_safe", "question": "Is it safe?", "applies_to": ["decision"], "severity": "critical"},
                ],
            }
        )
    )
    verdicts = {f"cep-{s.user.id}": ("fail" if k % 2 else "pass") for k, s in enumerate(scenarios)}

    def answer(body):
        text = body["messages"][-1]["content"]
        trace = next(t for t in verdicts if f"decide for {t[4:]}\n" in text or f"decide for {t[4:]}" in text)
        return {"rationale": "scripted", "label": verdicts[trace]}

    db = tmp_path / "g.db"
    with FakeJudgeServer(answer=answer) as judge:
        result = invoke(
            "judge",
            traces,
            "--rubric",
            rubric,
            "--judge",
            "openai/j",
            "--api-base",
            judge.url,
            "--db",
            db,
            "--run",
            "g",
            "--expected",
            expected,
            "--space",
            ROOT / "chainjudge" / "packs" / "cep" / "rubrics" / "space.yaml",
        )
        assert result.exit_code == 0, result.output
    return db, expected, traces, verdicts


def _report(db: Path, out: Path) -> dict:
    result = invoke("report", "g", "--db", db, "--out", out)
    assert result.exit_code == 0, result.output
    return json.loads((out / "report.json").read_text())


def test_an_untrusted_critical_judge_never_scores_higher_and_fails_the_gate(tmp_path):
    db, expected, _, verdicts = _cep_store(tmp_path)
    untrusted = _report(db, tmp_path / "u")
    gate = invoke("gate", "g", "--db", db, "--policy", _lenient(tmp_path))
    assert gate.exit_code == 1 and "critical criterion model_says_safe has no trusted judge" in gate.output
    assert "unknown" in gate.output and "critical_pass_rate" in gate.output
    # now people label every decision exactly as the judge did: the judge becomes trusted, its failures count
    write_jsonl(tmp_path / "people.jsonl", label_rows([(t, "1", v) for t, v in verdicts.items()], "people", criterion="model_says_safe"))
    assert invoke("labels", "import", tmp_path / "people.jsonl", "--db", db).exit_code == 0
    trusted = _report(db, tmp_path / "t")
    assert trusted["calibration"]["model_says_safe"]["trust"] == "trusted"
    assert untrusted["score"]["score"] <= trusted["score"]["score"]  # was 0.84 untrusted against 0.81 trusted
    gate = invoke("gate", "g", "--db", db, "--policy", _lenient(tmp_path))
    failures = sum(1 for v in verdicts.values() if v == "fail")
    assert gate.exit_code == 1 and f"{failures} critical failures" in gate.output and "no trusted judge" not in gate.output


def _lenient(tmp_path: Path, **extra) -> Path:
    path = tmp_path / "lenient.yaml"
    path.write_text(yaml.safe_dump({"min_score": 0.0, "min_high_weight_coverage": 0.0, "max_critical_failures": 0, **extra}))
    return path


def test_the_cli_the_report_and_the_app_give_one_score(tmp_path):
    from streamlit.testing.v1 import AppTest

    db, *_ = _cep_store(tmp_path, 30)
    report = _report(db, tmp_path / "r")
    gate = invoke("gate", "g", "--db", db)
    assert f"go-live confidence {report['score']['score']:.2f}" in gate.output
    for name in ("CHAINJUDGE_SPACES", "CHAINJUDGE_SCENARIOS", "CHAINJUDGE_CATALOGUE", "CHAINJUDGE_REVIEW_TOKEN"):
        os.environ.pop(name, None)
    os.environ["CHAINJUDGE_DB"] = str(db)
    at = AppTest.from_file(str(ROOT / "chainjudge" / "ui" / "app.py"), default_timeout=90).run()
    at.text_input(key="name").input("ivy")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.metric[0].value == f"{report['score']['score']:.2f}"  # the app used to score decisions as 0 (no scenarios box)


def test_corrected_failure_rates_and_the_gate_bound(tmp_path):
    db, expected, _, verdicts = _cep_store(tmp_path)
    # people disagree with the judge on 10 of its "pass" verdicts: the judge misses failures (TPR < 1)
    flipped = dict(verdicts)
    for trace in [t for t, v in verdicts.items() if v == "pass"][:10]:
        flipped[trace] = "fail"
    write_jsonl(tmp_path / "people.jsonl", label_rows([(t, "1", v) for t, v in flipped.items()], "people", criterion="model_says_safe"))
    assert invoke("labels", "import", tmp_path / "people.jsonl", "--db", db).exit_code == 0
    report = _report(db, tmp_path / "c")
    (rate,) = [r for r in report["corrected_failure_rates"] if r["criterion"] == "model_says_safe"]
    n, judge_fails = len(verdicts), sum(1 for v in verdicts.values() if v == "fail")
    tpr = judge_fails / (judge_fails + 10)  # people's failures the judge also failed
    assert rate["raw_failure_rate"]["value"] == pytest.approx(judge_fails / n)
    assert rate["tpr"] == pytest.approx(tpr) and rate["tnr"] == pytest.approx(1.0)
    truth = (judge_fails + 10) / n
    assert rate["corrected_failure_rate"]["value"] == pytest.approx((judge_fails / n) / tpr) == pytest.approx(truth)
    low, high = rate["corrected_failure_rate"]["low"], rate["corrected_failure_rate"]["high"]
    assert low < truth < high and high - low > rate["raw_failure_rate"]["high"] - rate["raw_failure_rate"]["low"]
    show = invoke("show", "g", "--db", db).output
    assert "corrected failure rate" in show and f"{truth:.2f}" in show
    gate = invoke("gate", "g", "--db", db, "--policy", _lenient(tmp_path, max_critical_failures=1000, max_corrected_failure_rate=0.5))
    assert gate.exit_code == 1 and "corrected failure rate up to" in gate.output


def test_gate_with_probe_bound_fails_until_probes_exist(tmp_path):
    db, *_ = _cep_store(tmp_path, 12)
    gate = invoke("gate", "g", "--db", db, "--policy", _lenient(tmp_path, waive_untrusted=["model_says_safe"], max_probe_flip_rate=0.2))
    assert gate.exit_code == 1 and "no bias probes were run" in gate.output


# ---------------------------------------------------------------- 10. figures say over which items


def test_the_app_shows_too_few_instead_of_a_number(tmp_path, fake_judge):
    from streamlit.testing.v1 import AppTest

    db = tmp_path / "k.db"
    traces = write_jsonl(
        tmp_path / "t.jsonl",
        [Trace(id=f"t{k}", steps=[{"index": 0, "ref": "0", "kind": "decision", "text": f"x{k}"}]).model_dump_json() for k in range(30)],
    )
    assert invoke(*fake_judge_args(traces, STEP_RUBRIC, fake_judge.url, db, "r")).exit_code == 0
    write_jsonl(tmp_path / "h.jsonl", label_rows([("t0", "0", "correct"), ("t1", "0", "error")], "people", criterion="step_correct"))
    assert invoke("labels", "import", tmp_path / "h.jsonl", "--db", db).exit_code == 0
    os.environ["CHAINJUDGE_DB"] = str(db)
    os.environ.pop("CHAINJUDGE_REVIEW_TOKEN", None)
    at = AppTest.from_file(str(ROOT / "chainjudge" / "ui" / "app.py"), default_timeout=90).run()
    at.text_input(key="name").input("kim")
    at.button[0].click().run()
    frames = [f.value for f in at.dataframe]
    calibration = next(f for f in frames if "kappa" in f.columns)
    row = calibration.iloc[0]
    assert row["kappa"].startswith("too few (n=2)") and row["step accuracy"].startswith("too few")  # was 1.0 [1.0, 1.0] beside 0.029


# ---------------------------------------------------------------- 11. smaller


def test_panel_of_two_opposite_judges_on_four_steps(tmp_path):
    db = tmp_path / "p.db"
    truth = [("t", str(i), "pass") for i in range(4)]
    a = [("t", str(i), "fail" if i < 2 else "pass") for i in range(4)]
    b = [("t", str(i), "fail" if i >= 2 else "pass") for i in range(4)]
    for name, rows, kind in (("truth", truth, "ground-truth"), ("ja", a, "judge"), ("jb", b, "judge")):
        write_jsonl(tmp_path / f"{name}.jsonl", label_rows(rows, name, kind))
        assert invoke("labels", "import", tmp_path / f"{name}.jsonl", "--db", db).exit_code == 0
    result = invoke("panel", "ja", "jb", "--criterion", "c", "--reference", "truth", "--db", db)
    assert result.exit_code == 0, result.output  # ZeroDivisionError before
    assert "effective number of independent judges: 2.00 of 2" in result.output  # not 9e15


# ---------------------------------------------------------------- bias probes


def _probe_store(tmp_path: Path, answer=None) -> Path:
    traces = write_jsonl(
        tmp_path / "t.jsonl",
        [
            Trace(
                id=f"t{k}",
                steps=[
                    {"index": 0, "ref": "0", "kind": "user", "text": "Which city hosted it?"},
                    {"index": 1, "ref": "1", "kind": "decision", "text": f"The answer is city {k}." + (" WRONG" if k % 3 == 0 else "")},
                ],
            ).model_dump_json()
            for k in range(12)
        ],
    )
    db = tmp_path / "probe.db"
    with FakeJudgeServer(answer=answer) as judge:
        assert invoke(*fake_judge_args(traces, STEP_RUBRIC, judge.url, db, "r", "--one-per-criterion")).exit_code == 0
        result = invoke("probe", "r", "--judge", "openai/fake", "--api-base", judge.url, "--sample", "8", "--seed", "1", "--db", db)
        assert result.exit_code == 0, result.output
    return db


def _flip_rates(db: Path) -> dict[tuple[str, str], float]:
    from chainjudge.workflows.probes import probe_results

    with Store(db) as store:
        return {(p.change, p.criterion): p.flip_rate.value for p in probe_results(store, "r")}


def test_probes_catch_a_position_biased_judge(tmp_path):
    db = _probe_store(tmp_path)  # the fake judge picks the first label offered: pure position bias
    rates = _flip_rates(db)
    assert rates[("scale_order", "step_correct")] == 1.0  # every verdict follows the order of the labels
    assert rates[("whitespace", "step_correct")] == 0.0 and rates[("polite_assertion", "step_correct")] == 0.0
    report = _report_for_probes(db, tmp_path)
    assert any(p["change"] == "scale_order" and p["flips"] == p["items"] for p in report["probes"])


def _report_for_probes(db: Path, tmp_path: Path) -> dict:
    from chainjudge.analysis.report import to_json
    from chainjudge.workflows.golive import gather_evidence, load_space

    with Store(db) as store:
        return to_json(gather_evidence(store, "r", load_space(ROOT / "chainjudge" / "packs" / "cep" / "rubrics" / "space.yaml")))


def content_reader(body: dict) -> dict:
    """A judge that reads the step, whatever order the labels come in."""
    text = body["messages"][-1]["content"]
    properties = (
        (body.get("tools") or [{}])[0].get("function", {}).get("parameters", {})
        if body.get("tools")
        else body["response_format"]["json_schema"]["schema"]
    )
    enum = json.dumps(properties)
    failing = "WRONG" in text.split("to judge:")[-1]
    label = ("error" if failing else "correct") if "correct" in enum else ("fail" if failing else "pass")
    return {"rationale": "read the step", "label": label}


def test_probes_leave_a_content_reading_judge_alone(tmp_path):
    rates = _flip_rates(_probe_store(tmp_path, content_reader))
    assert rates and all(rate == 0.0 for rate in rates.values()), rates


# ---------------------------------------------------------------- properties of the gate


def test_a_bootstrap_resample_with_one_class_is_undefined_not_perfect():
    import numpy as np

    from chainjudge.analysis.calibrate import _kappas_batch

    kappas = _kappas_batch(np.array([[[5, 0], [0, 0]], [[3, 1], [1, 3]]], dtype=float))
    assert np.isnan(kappas[0]) and kappas[1] == pytest.approx(0.5)


def _evidence(i: dict):
    from chainjudge.analysis.coverage import go_live_score
    from chainjudge.core.schema import CorrectedRate, Coverage, CriticalEvidence, Estimate, Evidence, ProbeResult, ScenarioSpace

    untrusted = tuple(f"u{k}" for k in range(i["untrusted"]))
    score = go_live_score(
        decision=(i["correct"], i["correct"] + i["wrong"]),
        coverage_weighted=i["coverage"],
        consistency=None,
        critical=CriticalEvidence(
            passed=i["passed"],
            total=i["passed"] + i["failed"],
            untrusted=untrusted,
            untrusted_items=3 * len(untrusted),
            criteria=1 + len(untrusted),
        ),
        open_modes=[],
        weights={"consistency": 0},
    )
    cov = Coverage(
        cells={}, covered=i["coverage"], weighted=i["coverage"], empty_heaviest=[], open_edge_cases=[], high_weight_coverage=i["coverage"]
    )
    corrected = (
        [
            CorrectedRate(
                criterion="m",
                raw_failure_rate=Estimate(value=0.1),
                tpr=0.9,
                tnr=0.9,
                calibration_items=30,
                calibration_traces=10,
                run_traces=10,
                corrected_failure_rate=Estimate(value=i["corrected"], low=0.0, high=i["corrected"]),
            )
        ]
        if i["calibrated"]
        else []
    )
    probes = (
        [
            ProbeResult(
                change="scale_order",
                criterion="m",
                items=20,
                flips=0,
                errors=0,
                flip_rate=Estimate(value=i["flips"], low=0.0, high=i["flips"]),
            )
        ]
        if i["probed"]
        else []
    )
    criteria = [{"criterion": "m", "severity": "critical", "judged": 10, "passed": 5, "scored": 10, "trust": "trusted"}]
    return Evidence(
        run="r",
        traces=10,
        score=score,
        coverage=cov,
        space=ScenarioSpace(id="s", grid=["a"], dimensions={"a": {"field": "a", "values": ["x"]}}),
        decision_report=None,
        criteria=criteria,
        critical_failures=i["failed"],
        recurring_modes=["FM-001"] if i["recurring"] else [],
        untrusted_critical=list(untrusted),
        corrected=corrected,
        probes=probes,
    )


gate_inputs = st.fixed_dictionaries(
    {
        "correct": st.integers(0, 30),
        "wrong": st.integers(0, 30),
        "passed": st.integers(0, 30),
        "failed": st.integers(0, 3),
        "untrusted": st.integers(0, 2),
        "coverage": st.floats(0, 1),
        "corrected": st.floats(0, 1),
        "calibrated": st.booleans(),
        "flips": st.floats(0, 1),
        "probed": st.booleans(),
        "recurring": st.booleans(),
    }
)


@given(
    gate_inputs,
    st.sampled_from(["decision", "critical", "trust", "coverage", "corrected", "calibration lost", "flips", "probes lost", "recurring"]),
)
@settings(max_examples=300, deadline=None)
def test_a_worse_input_never_turns_a_failing_gate_into_a_passing_one(i, which):
    from chainjudge.analysis.golive import gate_reasons
    from chainjudge.core.schema import GatePolicy

    worse = dict(i)
    if which == "decision" and i["correct"]:
        worse["correct"], worse["wrong"] = i["correct"] - 1, i["wrong"] + 1
    elif which == "critical" and i["passed"]:
        worse["passed"], worse["failed"] = i["passed"] - 1, i["failed"] + 1
    elif which == "trust":
        worse["untrusted"] = i["untrusted"] + 1
    elif which == "coverage":
        worse["coverage"] = i["coverage"] / 2
    elif which == "corrected":
        worse["corrected"] = min(1.0, i["corrected"] + 0.1)
    elif which == "calibration lost":
        worse["calibrated"] = False
    elif which == "flips":
        worse["flips"] = min(1.0, i["flips"] + 0.1)
    elif which == "probes lost":
        worse["probed"] = False
    elif which == "recurring":
        worse["recurring"] = True
    policy = GatePolicy(
        min_score=0.3,
        min_high_weight_coverage=0.5,
        max_critical_failures=1,
        max_corrected_failure_rate=0.5,
        max_probe_flip_rate=0.5,
        weights={"consistency": 0},
    )
    if gate_reasons(_evidence(i), policy):  # failing ...
        assert gate_reasons(_evidence(worse), policy)  # ... stays failing
