"""Agreement statistics: checked against scikit-learn / krippendorff, and the published figures reproduced."""

import json

import krippendorff
import numpy as np
import pytest
from conftest import HOTPOTQA, SHARED, TAU_BENCH, fake_judge_args
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from chainjudge.analysis.calibrate import (
    agreement,
    confusion_matrix,
    kappa_from_confusion,
    krippendorff_alpha,
    pass_hat_k,
    wilson_interval,
)
from chainjudge.cli import app
from chainjudge.core.schema import Label

JUDGES = SHARED / "agentprocessbench" / "judges"
MAP = ["--map", "1=correct", "--map", "0=neutral", "--map", "-1=error"]

# the paper's main table, HotPotQA columns (tests/data/README.md)
PUBLISHED = {
    "GPT-5.2": (72.1, 69.6),
    "GPT-5.2-Chat": (71.4, 70.0),
    "DeepSeek-V3.2": (74.4, 65.2),
    "Gemini-3-Flash-Preview": (76.7, 70.0),
    "Kimi-K2.5": (71.7, 67.2),
    "GPT-5.2-Thinking_medium": (72.3, 73.2),
    "DeepSeek-V3.2-Thinking": (70.4, 69.2),
    "Gemini-3-Flash-Preview-Thinking": (75.8, 70.4),
    "Kimi-K2.5-Thinking": (70.6, 68.4),
    "Qwen3-4B": (58.6, 59.2),
    "Qwen3-8B": (60.4, 57.2),
    "Qwen3-4B-Instruct-2507": (66.6, 59.2),
    "Qwen3-30B-A3B-Instruct-2507": (65.8, 54.4),
    "Llama-3.1-8B-Instruct": (34.6, 53.6),
    "Llama-3.2-3B-Instruct": (44.3, 58.4),
    "Llama-3.3-70B-Instruct": (46.3, 60.0),
    "Qwen3-4B-Thinking": (60.1, 56.0),
    "Qwen3-8B-Thinking": (59.7, 58.0),
    "Qwen3-4B-Thinking-2507": (66.9, 60.4),
    "Qwen3-30B-A3B-Thinking-2507": (70.0, 64.8),
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
    result = CliRunner().invoke(
        app, ["labels", "import", str(HOTPOTQA), "--annotator", "human", "--kind", "human", *MAP, "--db", str(apb_db)]
    )
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
    ref, cand = zip(*pairs, strict=True)
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


def test_trust_follows_the_tpr_and_tnr_lower_bounds():
    same = [(f"t{t}", "1", "pass" if t % 3 else "fail") for t in range(90)]  # 30 failing, 60 passing
    r = agreement(labels("h", same), labels("j", same), "h", "j", "c", bootstrap=200)
    assert r.trust == "trusted" and r.trust_rule == "all rules hold"
    assert r.tpr.value == 1 and r.tpr.n == 30 and r.tnr.n == 60 and r.tpr.low > 0.8
    fewer = same[:40]  # 14 of 14 failures found: the Wilson lower bound 0.78 is not enough
    r = agreement(labels("h", fewer), labels("j", fewer), "h", "j", "c", bootstrap=200)
    assert r.trust == "needs review" and r.trust_rule == "min_tpr_low"
    flipped = [(t, s, "fail" if v == "pass" else "pass") for t, s, v in same]
    r = agreement(labels("h", same), labels("j", flipped), "h", "j", "c", bootstrap=200)
    assert r.trust == "unreliable"


def test_too_few_labels_or_one_reference_class_is_never_trusted():
    two = [("t0", "1", "pass"), ("t1", "1", "pass")]
    r = agreement(labels("h", two), labels("j", two), "h", "j", "c", bootstrap=200)
    assert r.trust == "unreliable" and r.trust_rule == "min_failing_labels"
    all_pass = [(f"t{t}", "1", "pass") for t in range(40)]
    r = agreement(labels("h", all_pass), labels("j", all_pass), "h", "j", "c", bootstrap=200)
    assert r.trust == "unreliable" and "0 failing reference labels" in r.trust_basis
    assert r.cohen_kappa.value is None  # one class on both sides: undefined, not a perfect 1.0


def test_wilson_interval():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)


def test_run_judgments_compared_with_imported_labels(tmp_path, fake_judge):
    from conftest import BUNDLED_SAMPLE, ROOT

    db = tmp_path / "r.db"
    cli = CliRunner()
    judged = cli.invoke(
        app,
        fake_judge_args(BUNDLED_SAMPLE, ROOT / "rubrics" / "step-quality.yaml", fake_judge.url, db, "fake"),
    )
    assert judged.exit_code == 0, judged.output
    imported = cli.invoke(
        app,
        [
            "labels",
            "import",
            str(BUNDLED_SAMPLE),
            "--annotator",
            "human",
            "--kind",
            "human",
            "--criterion",
            "step_correct",
            *MAP,
            "--db",
            str(db),
        ],
    )
    assert imported.exit_code == 0, imported.output
    result = cli.invoke(
        app, ["agreement", "--reference", "human", "--against", "run:fake", "--criterion", "step_correct", "--json", "--db", str(db)]
    )
    (report,) = json.loads(result.stdout)
    # the fake judge answers the first label ("correct") everywhere: exactly the always-pass baseline
    always_pass = {b["name"]: b for b in report["baselines"]}["always pass"]
    assert report["step_accuracy"]["value"] == pytest.approx(always_pass["step_accuracy"])
    assert report["reference_items"] == 55


def test_panel_aggregation_rules():
    from chainjudge.analysis.calibrate import aggregate_panel

    order = ["error", "neutral", "correct"]
    a = labels("a", [("t", "1", "correct"), ("t", "2", "error"), ("t", "3", "neutral")])
    b = labels("b", [("t", "1", "correct"), ("t", "2", "correct"), ("t", "3", "correct")])
    c = labels("c", [("t", "1", "neutral"), ("t", "2", "correct"), ("t", "3", "error")])
    pick = lambda method: {label.step_ref: label.value for label in aggregate_panel([a, b, c], order, {"error"}, method, "p")}  # noqa: E731
    assert pick("majority") == {"1": "correct", "2": "correct", "3": "error"}  # 3: three-way tie -> strictest
    assert pick("strictest") == {"1": "neutral", "2": "error", "3": "error"}
    assert pick("mean") == {"1": "correct", "2": "neutral", "3": "neutral"}  # codes 2,2,1 -> 1.67 -> 2


def test_error_correlation_and_effective_judges():
    from chainjudge.analysis.calibrate import error_correlation, unanimity

    truth = labels("h", [("t", str(i), "pass") for i in range(6)])
    same_errors = labels("a", [("t", str(i), "fail" if i < 3 else "pass") for i in range(6)])
    copy = labels("b", [(label.trace_id, label.step_ref, label.value) for label in same_errors])
    corr, n_eff = error_correlation([same_errors, copy], truth)
    assert corr[0, 1] == pytest.approx(1.0) and n_eff == pytest.approx(1.0)  # two copies are one judge
    other = labels("c", [("t", str(i), "fail" if i >= 3 else "pass") for i in range(6)])
    corr, n_eff = error_correlation([same_errors, other], truth)
    assert corr[0, 1] == pytest.approx(-1.0) and n_eff == 2.0  # bounded by the number of judges (was 9e15)
    assert unanimity([same_errors, copy]) == 1.0 and unanimity([same_errors, other]) == 0.0


def test_judge_panel_and_samples_from_the_cli(tmp_path, fake_judge):
    from conftest import BUNDLED_SAMPLE, ROOT

    db = tmp_path / "p.db"
    cli = CliRunner()
    common = [
        str(BUNDLED_SAMPLE),
        "--rubric",
        str(ROOT / "rubrics" / "step-quality.yaml"),
        "--api-base",
        fake_judge.url,
        "--db",
        str(db),
        "--limit",
        "5",
    ]
    result = cli.invoke(app, ["judge", *common, "--judge", "openai/judge-a", "--judge", "openai/judge-b", "--run", "p"])
    assert result.exit_code == 0, result.output
    assert "chainjudge panel p.judge-a p.judge-b" in result.output
    models = {r["body"]["model"] for r in fake_judge.requests}
    assert models == {"judge-a", "judge-b"} and len(fake_judge.requests) == 10
    refused = cli.invoke(app, ["judge", *common, "--judge", "openai/judge-a", "--samples", "3", "--run", "s"])
    assert refused.exit_code == 2 and "--temperature" in refused.output
    sampled = cli.invoke(app, ["judge", *common, "--judge", "openai/judge-a", "--samples", "3", "--temperature", "0.7", "--run", "s"])
    assert sampled.exit_code == 0, sampled.output
    assert len(fake_judge.requests) == 25  # 3 samples are 3 different cache keys
    assert {r["body"]["temperature"] for r in fake_judge.requests[10:]} == {0.7}
    shown = cli.invoke(app, ["panel", "s.judge-a.s0", "s.judge-a.s1", "s.judge-a.s2", "--criterion", "step_correct", "--db", str(db)])
    assert shown.exit_code == 0, shown.output
    assert "unanimous on 100.0%" in shown.output


def test_likert_pass_threshold_suggested():
    # reference fails steps 0-3; the judge scores those 1-3 and the passing ones 3-5
    human = labels("h", [("t", str(i), "1" if i < 4 else "5") for i in range(10)])
    judge = labels("j", [("t", str(i), str(s)) for i, s in enumerate([1, 2, 3, 3, 4, 4, 5, 5, 4, 3])])
    r = agreement(human, judge, "h", "j", "c", failing=["1", "2"], bootstrap=0)
    assert r.suggested_pass_threshold == 4
    assert r.threshold_balanced_accuracy == pytest.approx(0.5 * (5 / 6 + 1.0))
