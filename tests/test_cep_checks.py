"""Deterministic CEP checks: they agree with the policy engine, catch each violation, and produce the
same Judgment records as the model judge without calling one."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.core.checks import known_checks, run_checks
from chainjudge.core.rubric import load_rubric
from chainjudge.core.schema import Trace
from chainjudge.core.store import Store
from chainjudge.packs.cep.generator import generate
from chainjudge.testing.fakejudge import FakeJudgeServer

ROOT = Path(__file__).resolve().parents[1]
RUBRIC = load_rubric(ROOT / "chainjudge" / "packs" / "cep" / "rubrics" / "cep.yaml")
CHECKED = [c.id for c in RUBRIC.criteria if c.check]
SCENARIOS = generate()


def trace(scenario, decision: dict) -> Trace:
    return Trace(
        id=f"t-{scenario.user.id}",
        metadata={"scenario_id": scenario.user.id, "user_state": scenario.user.model_dump(mode="json")},
        steps=[
            {"index": 0, "ref": "0", "kind": "user", "text": "decide"},
            {"index": 1, "ref": "1", "kind": "decision", "text": json.dumps(decision)},
        ],
    )


def verdicts(t: Trace) -> dict[str, bool]:
    return {j.criterion_id: j.passed for j in run_checks([t], RUBRIC, "r")}


def test_every_check_of_the_rubric_exists():
    assert set(c.check for c in RUBRIC.criteria if c.check) <= set(known_checks())  # registered as entry points


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.user.id)
def test_the_policys_own_decision_passes_every_check(scenario):
    decision = scenario.expected.model_dump(include={"action", "channel", "content_language", "offer", "send_window"})
    result = verdicts(trace(scenario, decision))
    assert set(result) == set(CHECKED) and all(result.values()), result


def first(predicate):
    return next(s for s in SCENARIOS if predicate(s))


def test_each_violation_is_caught():
    unsub = first(lambda s: s.user.global_unsubscribe)
    assert (
        verdicts(trace(unsub, {"action": "send", "channel": "email", "content_language": unsub.user.languages[0]}))["suppression_honoured"]
        is False
    )
    sender = first(lambda s: s.expected.action == "send" and not s.user.channels["sms"].consent)
    assert verdicts(trace(sender, {**sender.expected.model_dump(), "channel": "sms"}))["consent_respected"] is False
    quiet = first(lambda s: s.expected.action == "wait" and "quiet_hours" in s.expected.rules)
    assert verdicts(trace(quiet, {**quiet.expected.model_dump(), "action": "send"}))["quiet_hours_respected"] is False
    capped = first(lambda s: s.user.sent_today >= 2 and s.user.campaign.kind != "transactional")
    assert (
        verdicts(trace(capped, {"action": "send", "channel": "push", "content_language": capped.user.languages[0]}))[
            "frequency_cap_respected"
        ]
        is False
    )
    foreign = first(lambda s: s.expected.action == "send")
    wrong_language = next(label for label in ("zz", "en", "th") if label not in foreign.user.languages)
    assert verdicts(trace(foreign, {**foreign.expected.model_dump(), "content_language": wrong_language}))["language_match"] is False
    vn = first(lambda s: s.user.market == "VN" and s.expected.action == "send")
    data = vn.user.model_dump(mode="json")
    data["channels"]["line"] = {"consent": True, "reachable": True}
    vn_line = trace(vn, {**vn.expected.model_dump(), "channel": "line"}).model_copy(update={"metadata": {"user_state": data}})
    assert verdicts(vn_line)["channel_constraints"] is False  # LINE is not offered in VN


def test_a_trace_without_user_state_gets_an_error_not_a_verdict():
    bare = Trace(id="bare", steps=[{"index": 0, "ref": "0", "kind": "decision", "text": '{"action": "send"}'}])
    judgments = run_checks([bare], RUBRIC, "r")
    assert judgments and all(j.error and j.error.startswith("check_input") for j in judgments)


def test_checks_run_beside_the_model_judge_without_calls(tmp_path):
    traces = tmp_path / "t.jsonl"
    chosen = SCENARIOS[:5]
    traces.write_text("\n".join(trace(s, s.expected.model_dump()).model_dump_json() for s in chosen) + "\n")
    db = tmp_path / "c.db"
    with FakeJudgeServer() as server:
        result = CliRunner().invoke(
            app,
            [
                "judge",
                str(traces),
                "--rubric",
                str(ROOT / "chainjudge" / "packs" / "cep" / "rubrics" / "cep.yaml"),
                "--judge",
                "openai/j",
                "--api-base",
                server.url,
                "--db",
                str(db),
                "--run",
                "c",
            ],
        )
        assert result.exit_code == 0, result.output
        model_criteria_on_decisions = sum(1 for c in RUBRIC.criteria if not c.check and "decision" in [k.value for k in c.applies_to])
        # one batched call per decision (the default for API judges) holding the model criteria only: checks never reach the model
        assert len(server.requests) == 5
        asked = server.requests[0]["body"]["response_format"]["json_schema"]["schema"]["properties"]
        assert len(asked) == model_criteria_on_decisions and not {c.id for c in RUBRIC.criteria if c.check} & set(asked)
    with Store(db) as store:
        judged = list(store.judgments("c"))
    checks = [j for j in judged if j.judge.startswith("check:")]
    assert len(checks) == 5 * len(CHECKED) and all(j.passed for j in checks)


BUNDLED = ROOT / "chainjudge" / "packs" / "cep" / "traces" / "traces.jsonl"
FIELD_OF_CHECK = {
    "suppression_honoured": {"action"},
    "consent_respected": {"channel", "action"},
    "quiet_hours_respected": {"action"},
    "channel_constraints": {"channel", "action"},
    "frequency_cap_respected": {"action"},
    "language_match": {"content_language", "action"},
}


def test_checks_agree_with_the_policy_engine_on_every_bundled_trace():
    from chainjudge.packs.cep.decisions import final_decision, load_scenarios

    scenarios = load_scenarios(ROOT / "chainjudge" / "packs" / "cep" / "traces" / "scenarios.jsonl")
    traces = [Trace.model_validate_json(line) for line in BUNDLED.read_text().splitlines() if line.strip()]
    checked = 0
    for t in traces:
        if t.metadata["status"] != "ok":
            continue
        expected = scenarios[t.metadata["scenario_id"]].expected
        decided = final_decision(t)
        for j in run_checks([t], RUBRIC, "r"):
            assert j.error is None, j.error  # only the harness's own faults are errors
            if decided is None:  # no usable decision: every check fails, saying why
                assert j.passed is False and j.verdict.rationale.startswith("no usable agent output")
                continue
            checked += 1
            if j.passed is False:  # no false alarm: the policy's own answer differs where the check looked
                wrong = {f for f in FIELD_OF_CHECK[j.criterion_id] if decided.text(f) != (getattr(expected, f) or None)}
                assert wrong, (t.id, j.criterion_id, j.verdict.rationale, decided, expected)
            if decided and all(decided.text(f) == (getattr(expected, f) or None) for f in ("action", "channel", "content_language")):
                assert j.passed, (t.id, j.criterion_id, j.verdict.rationale)  # the right decision passes every check
    assert checked >= 6 * 45  # 49 of the 69 recorded decisions hold a JSON decision; the rest fail every check


def test_a_checks_only_rubric_needs_no_judge_at_all(tmp_path):
    import yaml

    rubric = tmp_path / "checks.yaml"
    rubric.write_text(
        yaml.safe_dump(
            {
                "id": "checks",
                "criteria": [{"id": "consent_respected", "question": "q", "applies_to": ["decision"], "check": "consent_respected"}],
            }
        )
    )
    db = tmp_path / "c.db"
    result = CliRunner().invoke(app, ["judge", str(BUNDLED), "--rubric", str(rubric), "--db", str(db), "--run", "r"])
    assert result.exit_code == 0, result.output  # no --judge: the local model is neither needed nor started
    with Store(db) as store:
        run = store.get_run("r")
        judged = list(store.judgments("r"))
    assert run.judge.model == "checks-only" and len(judged) == 69 and all(j.judge == "check:consent_respected" for j in judged)
