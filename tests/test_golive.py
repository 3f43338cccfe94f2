"""Coverage and the go-live score: hand-computed fixtures, monotonicity (property test), untrusted
judges never help, the report renders in a real browser without console errors, and the gate."""

import json
import math
from pathlib import Path

import pytest
import yaml
from conftest import CHROMIUM_ARGS
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from chainjudge.analysis.coverage import coverage, go_live_score
from chainjudge.cli import app
from chainjudge.core.schema import CriticalEvidence, ScenarioSpace, Trace
from chainjudge.packs.cep.generator import generate
from chainjudge.testing.fakejudge import FakeJudgeServer

ROOT = Path(__file__).resolve().parents[1]
SPACE = ScenarioSpace.model_validate(
    {
        "id": "s",
        "min_traces_per_cell": 1,
        "grid": ["segment", "market"],
        "dimensions": {
            "segment": {"field": "segment", "values": ["low", "vip"], "weights": {"vip": 3}},
            "market": {"field": "market", "values": ["TH", "SG"]},
            "perturbation": {"field": "perturbations", "values": ["timezone_edge", "channel_switch"], "adversarial": True},
        },
    }
)


def t(i, segment, market, perturbations=()):
    return Trace(id=f"t{i}", steps=[], metadata={"segment": segment, "market": market, "perturbations": list(perturbations)})


def test_coverage_by_hand():
    traces = [t(1, "vip", "TH"), t(2, "vip", "TH", ["timezone_edge"]), t(3, "low", "SG", ["channel_switch"])]
    cov = coverage(traces, SPACE, passed={"t1": True, "t2": True, "t3": False}, high_weight=2)
    assert cov.cells == {("low", "TH"): 0, ("low", "SG"): 1, ("vip", "TH"): 2, ("vip", "SG"): 0}
    assert cov.covered == 0.5
    assert cov.weighted == pytest.approx((1 + 3) / (1 + 1 + 3 + 3))
    assert cov.high_weight_coverage == pytest.approx(0.5)  # vip/TH covered, vip/SG not
    assert cov.empty_heaviest[0] == (("vip", "SG"), 3.0)
    assert cov.open_edge_cases == ["perturbation=channel_switch (no passing trace)"]


def test_score_by_hand():
    s = go_live_score(
        decision=(8, 10),
        critical=CriticalEvidence(passed=10, total=10, criteria=2, untrusted=("m",), untrusted_items=0),
        coverage_weighted=0.5,
        consistency=0.5,
        open_modes=["high"],
        weights={
            "decision_accuracy": 1,
            "critical_pass_rate": 1,
            "judge_reliability": 1,
            "coverage": 1,
            "consistency": 0,
            "open_failure_modes": 1,
        },
    )
    terms = {x.name: x.value for x in s.terms if x.weight}
    assert terms["judge_reliability"] == 0.5 and terms["coverage"] == 0.5 and terms["open_failure_modes"] == pytest.approx(0.9)
    assert terms["decision_accuracy"] == pytest.approx(0.4902, abs=1e-3)  # Wilson lower bound of 8/10
    assert terms["critical_pass_rate"] == pytest.approx(0.7225, abs=1e-3)  # unknown: counted at its low end
    assert s.score == pytest.approx(math.prod(terms.values()) ** (1 / 5))  # weighted geometric mean, equal weights
    assert s.low <= s.score <= s.high


def test_missing_terms_are_unknown_with_their_range_not_dropped():
    s = go_live_score(decision=None, critical=CriticalEvidence(), coverage_weighted=1.0, consistency=None, open_modes=[])
    unknown = {t.name: t for t in s.terms if not t.known}
    assert set(unknown) == {"decision_accuracy", "consistency"}  # consistency used to vanish silently
    assert all(t.value == t.low == 0.0 and t.high == 1.0 for t in unknown.values())
    assert s.score < s.high


@pytest.mark.parametrize(
    "weights, message",
    [
        ({"coverage": -1}, ">= 0"),
        (
            {
                k: 0
                for k in ("decision_accuracy", "critical_pass_rate", "judge_reliability", "coverage", "consistency", "open_failure_modes")
            },
            "all 0",
        ),
        ({"colour": 1}, "unknown score terms"),
        ({"coverage": float("nan")}, "finite"),
    ],
)
def test_weights_are_validated(weights, message):
    with pytest.raises(ValueError, match=message):
        go_live_score(decision=(1, 1), critical=CriticalEvidence(), coverage_weighted=1.0, consistency=None, open_modes=[], weights=weights)


inputs = st.fixed_dictionaries(
    {
        "correct": st.integers(0, 50),
        "extra": st.integers(0, 50),
        "passing": st.integers(0, 50),
        "failing": st.integers(0, 50),
        "untrusted_criteria": st.integers(0, 3),
        "untrusted_items": st.integers(0, 50),
        "trusted_criteria": st.integers(1, 3),
        "coverage": st.floats(0, 1),
        "modes": st.lists(st.sampled_from(["low", "medium", "high", "critical"]), max_size=6),
        "consistency": st.one_of(st.none(), st.floats(0, 1)),
        "decisions_known": st.booleans(),
        "weights": st.fixed_dictionaries(
            {
                k: st.floats(0, 5)
                for k in ("decision_accuracy", "critical_pass_rate", "judge_reliability", "coverage", "consistency", "open_failure_modes")
            }
        ),
    }
)


def score(i):
    untrusted = tuple(f"u{k}" for k in range(i["untrusted_criteria"]))
    critical = CriticalEvidence(
        passed=i["passing"],
        total=i["passing"] + i["failing"],
        untrusted=untrusted,
        untrusted_items=i["untrusted_items"] if untrusted else 0,
        criteria=i["trusted_criteria"] + len(untrusted),
    )
    weights = i["weights"] if sum(i["weights"].values()) > 0 else None
    return go_live_score(
        decision=(i["correct"], i["correct"] + i["extra"]) if i["decisions_known"] else None,
        critical=critical,
        coverage_weighted=i["coverage"],
        consistency=i["consistency"],
        open_modes=i["modes"],
        weights=weights,
    ).score


@given(
    inputs,
    st.sampled_from(
        ["decision", "critical", "trust", "coverage", "modes", "consistency", "consistency lost", "decisions lost", "labels removed"]
    ),
)
@settings(max_examples=400, deadline=None)
def test_a_worse_input_never_raises_the_score(i, which):
    worse = dict(i)
    if which == "decision" and i["correct"]:
        worse["correct"], worse["extra"] = i["correct"] - 1, i["extra"] + 1
    elif which == "critical" and i["passing"]:
        worse["passing"], worse["failing"] = i["passing"] - 1, i["failing"] + 1
    elif which in ("trust", "labels removed") and i["trusted_criteria"] > 1:
        # a judge loses its trust (fewer labels): its items move from evidence to unknown
        worse["trusted_criteria"], worse["untrusted_criteria"] = i["trusted_criteria"] - 1, i["untrusted_criteria"] + 1
        worse["untrusted_items"] = (i["untrusted_items"] if i["untrusted_criteria"] else 0) + i["passing"]
        worse["passing"] = 0
        worse["failing"] = i["failing"]
    elif which == "coverage":
        worse["coverage"] = i["coverage"] / 2
    elif which == "modes":
        worse["modes"] = [*i["modes"], "critical"]
    elif which == "consistency" and i["consistency"] is not None:
        worse["consistency"] = i["consistency"] / 2
    elif which == "consistency lost":
        worse["consistency"] = None
    elif which == "decisions lost":
        worse["decisions_known"] = False
    assert score(worse) <= score(i) + 1e-12


def judged_store(tmp_path, rubric: dict, answer="pass"):
    scenarios = generate()[:24]
    traces = tmp_path / "t.jsonl"
    traces.write_text(
        "\n".join(
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
                    {"index": 0, "ref": "0", "kind": "user", "text": "decide"},
                    {"index": 1, "ref": "1", "kind": "decision", "text": s.expected.model_dump_json()},
                ],
            ).model_dump_json()
            for s in scenarios
        )
        + "\n"
    )
    expected = tmp_path / "scenarios.jsonl"
    expected.write_text("\n".join(s.model_dump_json() for s in scenarios) + "\n")
    rubric_path = tmp_path / "r.yaml"
    rubric_path.write_text(yaml.safe_dump(rubric))
    db = tmp_path / "g.db"
    with FakeJudgeServer(answer=lambda body: {"rationale": "ok", "label": answer}) as server:
        result = CliRunner().invoke(
            app,
            [
                "judge",
                str(traces),
                "--rubric",
                str(rubric_path),
                "--judge",
                "openai/j",
                "--api-base",
                server.url,
                "--db",
                str(db),
                "--run",
                "g",
            ],
        )
        assert result.exit_code == 0, result.output
    return db, expected


CHECK = {"id": "suppression_honoured", "question": "q", "applies_to": ["decision"], "check": "suppression_honoured", "severity": "critical"}
MODEL = {"id": "model_says_safe", "question": "Is it safe?", "applies_to": ["decision"], "severity": "critical"}


def score_of(db, expected):
    result = CliRunner().invoke(app, ["report", "g", "--db", str(db), "--expected", str(expected), "--out", str(db.parent / "rep")])
    assert result.exit_code == 0, result.output
    return json.loads((db.parent / "rep" / "report.json").read_text())["score"]["score"]


def test_an_untrusted_judge_lowers_the_score_rather_than_raising_it(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    only_checks = score_of(*judged_store(tmp_path / "a", {"id": "r", "criteria": [CHECK]}))
    with_untrusted = score_of(*judged_store(tmp_path / "b", {"id": "r", "criteria": [CHECK, MODEL]}))
    assert with_untrusted < only_checks  # its 100% "pass" verdicts count for nothing; its presence lowers reliability


def test_report_renders_in_chromium_without_console_errors(tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    db, expected = judged_store(tmp_path, {"id": "r", "criteria": [CHECK, MODEL]})
    CliRunner().invoke(app, ["report", "g", "--db", str(db), "--expected", str(expected), "--out", str(tmp_path / "rep")])
    page_path = tmp_path / "rep" / "report.html"
    text = page_path.read_text()
    assert "<script" not in text and "http" not in text.split("<body>")[1]  # self-contained
    assert (tmp_path / "rep" / "summary.md").read_text().startswith("## chainjudge go-live report")
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(page_path.as_uri())
        assert "Go-live confidence" in page.inner_text("body") and page.locator("table.heat").count() == 1
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert errors == []


def test_gate_fails_with_reasons_and_passes_a_lenient_policy(tmp_path):
    db, expected = judged_store(tmp_path, {"id": "r", "criteria": [CHECK, MODEL]})
    strict = CliRunner().invoke(app, ["gate", "g", "--db", str(db), "--expected", str(expected)])
    assert strict.exit_code == 1 and "gate:" in strict.output and "coverage of high-weight cells" in strict.output
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text(yaml.safe_dump({"min_score": 0.0, "min_high_weight_coverage": 0.0, "max_critical_failures": 0}))
    closed = CliRunner().invoke(app, ["gate", "g", "--db", str(db), "--expected", str(expected), "--policy", str(lenient)])
    assert closed.exit_code == 1  # the critical model criterion has no trusted judge: missing evidence never passes
    assert "critical criterion model_says_safe has no trusted judge" in closed.output and "no reference labels" in closed.output
    lenient.write_text(
        yaml.safe_dump(
            {"min_score": 0.0, "min_high_weight_coverage": 0.0, "max_critical_failures": 0, "waive_untrusted": ["model_says_safe"]}
        )
    )
    ok = CliRunner().invoke(app, ["gate", "g", "--db", str(db), "--expected", str(expected), "--policy", str(lenient)])
    assert ok.exit_code == 0 and "gate passed" in ok.output
    cov = CliRunner().invoke(app, ["coverage", "g", "--db", str(db)])
    assert cov.exit_code == 0 and "traces per cell" in cov.output


def test_gate_policy_weights_are_validated_and_used(tmp_path):
    db, expected = judged_store(tmp_path, {"id": "r", "criteria": [CHECK]})
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"weights": {"decision_accuracy": -1}}))
    result = CliRunner().invoke(app, ["gate", "g", "--db", str(db), "--expected", str(expected), "--policy", str(bad)])
    assert result.exit_code == 2 and "bad.yaml" in result.output and ">= 0" in result.output
