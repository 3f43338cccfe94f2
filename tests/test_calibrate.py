"""Agreement statistics: checked against scikit-learn / krippendorff, and the published figures reproduced."""

import json

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from chainjudge.calibrate import (
    agreement, confusion_matrix, kappa_from_confusion, krippendorff_alpha, pass_hat_k, wilson_interval,
)
from chainjudge.cli import app
from chainjudge.schema import Label

from conftest import HOTPOTQA, SHARED, TAU_BENCH

JUDGES = SHARED / "agentprocessbench" / "judges"
MAP = ["--map", "1=correct", "--map", "0=neutral", "--map", "-1=error"]

# the paper's main table, HotPotQA columns (../shared/data/README.md)
PUBLISHED = {
    "GPT-5.2": (72.1, 69.6), "GPT-5.2-Chat": (71.4, 70.0), "DeepSeek-V3.2": (74.4, 65.2),
    "Gemini-3-Flash-Preview": (76.7, 70.0), "Kimi-K2.5": (71.7, 67.2), "GPT-5.2-Thinking_medium": (72.3, 73.2),
    "DeepSeek-V3.2-Thinking": (70.4, 69.2), "Gemini-3-Flash-Preview-Thinking": (75.8, 70.4),
    "Kimi-K2.5-Thinking": (70.6, 68.4), "Qwen3-4B": (58.6, 59.2), "Qwen3-8B": (60.4, 57.2),
    "Qwen3-4B-Instruct-2507": (66.6, 59.2), "Qwen3-30B-A3B-Instruct-2507": (65.8, 54.4),
    "Llama-3.1-8B-Instruct": (34.6, 53.6), "Llama-3.2-3B-Instruct": (44.3, 58.4),
    "Llama-3.3-70B-Instruct": (46.3, 60.0), "Qwen3-4B-Thinking": (60.1, 56.0), "Qwen3-8B-Thinking": (59.7, 58.0),
    "Qwen3-4B-Thinking-2507": (66.9, 60.4), "Qwen3-30B-A3B-Thinking-2507": (70.0, 64.8),
}


@pytest.fixture(scope="module")
def apb_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("apb") / "labels.db"
    cli = CliRunner()
    result = cli.invoke(app, ["labels", "import", str(HOTPOTQA), "--annotator", "human", "--kind", "human", *MAP, "--db", str(db)])
    assert result.exit_code == 0, result.output
    files = sorted(JUDGES.glob("*.jsonl"))
    assert len(files) == 20
    for file in files:
        result = cli.invoke(app, ["labels", "import", str(file), "--annotator", file.stem, "--kind", "judge", *MAP, "--db", str(db)])
        assert result.exit_code == 0, result.output
    return db


def test_agentprocessbench_table_reproduced_for_all_20_judges(apb_db):
    args = ["agreement", "--reference", "human", "--order", "error,neutral,correct", "--json", "--bootstrap", "200", "--db", str(apb_db)]
    for judge in PUBLISHED:
        args += ["--against", judge]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    reports = {r["candidate"]: r for r in json.loads(result.stdout)}
    assert sorted(reports) == sorted(PUBLISHED)
    for judge, (step_acc, first_err) in PUBLISHED.items():
        r = reports[judge]
        assert round(100 * r["first_error_accuracy"]["value"], 1) == first_err, judge
        assert abs(100 * r["step_accuracy"]["value"] - step_acc) <= 0.1 + 1e-9, judge
        assert r["reference_items"] == 734 and r["traces"] == 250
    baselines = {b["name"]: b for b in reports["GPT-5.2"]["baselines"]}
    assert round(100 * baselines["always pass"]["step_accuracy"], 1) == 68.0
    assert round(100 * baselines["always pass"]["first_error_accuracy"], 1) == 58.4


def test_importing_twice_changes_nothing(apb_db):
    result = CliRunner().invoke(app, ["labels", "import", str(HOTPOTQA), "--annotator", "human", "--kind", "human", *MAP, "--db", str(apb_db)])
    assert "0 new, 984 already stored" in " ".join(result.output.split())


def test_tau_bench_pass_hat_k_reproduced():
    result = CliRunner().invoke(app, ["passk", str(TAU_BENCH)])
    assert result.exit_code == 0, result.output
    rows = dict(line.strip("│ ").split("│")[0:2] for line in result.output.splitlines() if line.startswith("│"))
    values = {int(k.strip()): float(v.strip()) for k, v in rows.items()}
    assert values == {1: 0.420, 2: 0.273, 3: 0.220, 4: 0.200}


def test_pass_hat_k_definition():
    assert pass_hat_k([4, 0, 2], [4, 4, 4], 1) == pytest.approx((1 + 0 + 0.5) / 3)
    assert pass_hat_k([4, 0, 2], [4, 4, 4], 2) == pytest.approx((1 + 0 + 1 / 6) / 3)


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=2, max_size=60))
@settings(max_examples=60, deadline=None)
def test_kappa_matches_scikit_learn(pairs):
    ref, cand = zip(*pairs)
    if len(set(ref) | set(cand)) < 2:
        return
    conf = confusion_matrix(ref, cand, 3)
    for weights in (None, "linear", "quadratic"):
        ours = kappa_from_confusion(conf, weights)
        theirs = cohen_kappa_score(ref, cand, weights=weights, labels=[0, 1, 2])
        if np.isnan(theirs):
            continue
        assert ours == pytest.approx(theirs, abs=1e-9)


@given(
    st.lists(st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=8, max_size=8), min_size=2, max_size=5),
    st.sampled_from(["nominal", "ordinal", "interval"]),
)
@settings(max_examples=80, deadline=None)
def test_alpha_matches_krippendorff_library(rows, level):
    data = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)
    ours = krippendorff_alpha(data, level)
    try:
        with np.errstate(all="ignore"):
            theirs = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    except (ValueError, ZeroDivisionError):
        return
    if ours is None or np.isnan(theirs):
        return
    assert ours == pytest.approx(theirs, abs=1e-9)


def labels(annotator, rows):
    return [Label(trace_id=t, step_ref=s, criterion="c", value=v, annotator=annotator) for t, s, v in rows]


def test_small_fixture_by_hand():
    human = labels("h", [("t1", "1", "pass"), ("t1", "2", "fail"), ("t2", "1", "pass"), ("t3", "1", "pass")])
    judge = labels("j", [("t1", "1", "pass"), ("t1", "2", "pass"), ("t2", "1", "pass"), ("t3", "1", "fail")])
    r = agreement(human, judge, "h", "j", "c", bootstrap=0)
    assert r.step_accuracy.value == 0.5
    # first errors: human t1:2, none, none; judge none, none, t3:1 -> only t2 agrees
    assert r.first_error_accuracy.value == pytest.approx(1 / 3)
    assert r.confusion == [[0, 1], [1, 2]]  # labels sorted: fail, pass
    assert r.fail_recall == 0 and r.fail_precision == 0 and r.true_negative_rate == pytest.approx(2 / 3)
    majority = {b.name: b for b in r.baselines}["majority label"]
    assert majority.label == "pass" and majority.step_accuracy == 0.75 and majority.first_error_accuracy == pytest.approx(2 / 3)


def test_missing_candidate_label_counts_as_wrong_for_step_accuracy():
    human = labels("h", [("t1", "1", "pass"), ("t1", "2", "pass")])
    judge = labels("j", [("t1", "1", "pass")])
    r = agreement(human, judge, "h", "j", "c", bootstrap=0)
    assert r.step_accuracy.value == 0.5 and r.paired_items == 1


def test_bootstrap_interval_brackets_the_estimate_and_is_reproducible():
    rng = np.random.default_rng(1)
    rows_h, rows_j = [], []
    for t in range(60):
        for s in range(3):
            truth = "pass" if rng.random() < 0.7 else "fail"
            rows_h.append((f"t{t}", str(s), truth))
            rows_j.append((f"t{t}", str(s), truth if rng.random() < 0.8 else ("fail" if truth == "pass" else "pass")))
    a = agreement(labels("h", rows_h), labels("j", rows_j), "h", "j", "c", bootstrap=500, seed=3)
    b = agreement(labels("h", rows_h), labels("j", rows_j), "h", "j", "c", bootstrap=500, seed=3)
    assert a == b
    for est in (a.step_accuracy, a.first_error_accuracy, a.cohen_kappa):
        assert est.low <= est.value <= est.high and est.low < est.high


def test_trust_follows_the_lower_bound():
    same = [(f"t{t}", "1", "pass" if t % 3 else "fail") for t in range(40)]
    r = agreement(labels("h", same), labels("j", same), "h", "j", "c", bootstrap=200)
    assert r.trust == "trusted"
    flipped = [(t, s, "fail" if v == "pass" else "pass") for t, s, v in same]
    r = agreement(labels("h", same), labels("j", flipped), "h", "j", "c", bootstrap=200)
    assert r.trust == "unreliable"


def test_wilson_interval():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)


def test_run_judgments_compared_with_imported_labels(tmp_path, fake_judge):
    from conftest import BUNDLED_SAMPLE, ROOT

    db = tmp_path / "r.db"
    cli = CliRunner()
    judged = cli.invoke(app, ["judge", str(BUNDLED_SAMPLE), "--rubric", str(ROOT / "rubrics" / "step-quality.yaml"),
                              "--judge", "openai/fake", "--api-base", fake_judge.url, "--db", str(db), "--run", "fake"])
    assert judged.exit_code == 0, judged.output
    imported = cli.invoke(app, ["labels", "import", str(BUNDLED_SAMPLE), "--annotator", "human", "--kind", "human",
                                "--criterion", "step_correct", *MAP, "--db", str(db)])
    assert imported.exit_code == 0, imported.output
    result = cli.invoke(app, ["agreement", "--reference", "human", "--against", "run:fake", "--criterion", "step_correct",
                              "--json", "--db", str(db)])
    (report,) = json.loads(result.stdout)
    # the fake judge answers the first label ("correct") everywhere: exactly the always-pass baseline
    always_pass = {b["name"]: b for b in report["baselines"]}["always pass"]
    assert report["step_accuracy"]["value"] == pytest.approx(always_pass["step_accuracy"])
    assert report["reference_items"] == 55
