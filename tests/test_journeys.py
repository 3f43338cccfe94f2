"""Journeys: the script, the simulated customer, recording, the checks over the journey and the CLI."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.core.schema import StepKind, Trace
from chainjudge.packs.cep.customer import ResponseModel, fit_response_model, inconsistencies
from chainjudge.packs.cep.journey import ScriptEvent, apply_event, load_journeys
from chainjudge.packs.cep.journey_checks import JOURNEY_CHECKS
from chainjudge.packs.cep.journey_findings import evaluate, evaluate_all, summarize
from chainjudge.packs.cep.journey_generator import RISKY_COMBINATIONS, cells, generate_journeys, journey_in_cell
from chainjudge.packs.cep.journey_recording import record_journey, record_journeys
from chainjudge.packs.cep.policy import expected_action
from chainjudge.packs.cep.recording import LLMConfig, step
from chainjudge.packs.cep.rule_agent import agent as example_agent
from chainjudge.packs.cep.scenario import UserState

cli = CliRunner()
LLM = LLMConfig(model="none")
JOURNEYS = generate_journeys(seed=7)


def _decide(decision: dict) -> list:
    return [step(0, StepKind.reasoning, "thinking"), step(1, StepKind.decision, json.dumps(decision))]


def policy_agent(user: UserState, llm: LLMConfig, history: list[dict]) -> list:
    """The contact policy on the current state, never repeating an offer: what a journey-aware agent does."""
    expected = expected_action(user)
    offered = any((h.get("decision") or {}).get("offer") for h in history if (h.get("reaction") or {}).get("sent"))
    return _decide(
        {
            "action": expected.action,
            "channel": expected.channel,
            "content_language": expected.content_language,
            "offer": None if offered else expected.offer,
        }
    )


def reckless_agent(user: UserState, llm: LLMConfig) -> list:
    """Sends on push in Thai with an offer at every decision, whatever happened."""
    return _decide({"action": "send", "channel": "push", "content_language": "th", "offer": "WINBACK_20"})


def random_agent_for(seed: int):
    rng = random.Random(seed)

    def agent(user: UserState, llm: LLMConfig) -> list:
        return _decide(
            {
                "action": rng.choice(["send", "send", "wait", "suppress"]),
                "channel": rng.choice(["push", "email", "in_app", "sms", "line", "whatsapp", "fax", None]),
                "content_language": rng.choice(user.languages + ["xx"]),
                "offer": rng.choice([None, "A", "B"]),
            }
        )

    return agent


# --- the script ---------------------------------------------------------------------------------------


def test_generated_journeys_cover_every_kind_and_perturbation_and_the_risky_combinations():
    covered = {(j.kind, p) for j in JOURNEYS for p in (j.perturbations or ["none"])}
    assert covered == set(cells())
    combos = {tuple(j.perturbations) for j in JOURNEYS if len(j.perturbations) > 1}
    assert combos == set(RISKY_COMBINATIONS)
    assert len({j.id for j in JOURNEYS}) == len(JOURNEYS)
    assert [j.model_dump() for j in generate_journeys(seed=7)] == [j.model_dump() for j in JOURNEYS]  # deterministic


def test_a_journey_that_contradicts_itself_is_rejected_naming_the_field(tmp_path):
    journey = JOURNEYS[5].model_dump(mode="json")
    late = dict(
        journey, events=[{"at": "2026-09-09T00:00:00Z", "kind": "unsubscribe"}, {"at": "2026-09-08T00:00:00Z", "kind": "unsubscribe"}]
    )
    early = dict(journey, decision_points=["2020-01-01T00:00:00Z"])
    incomplete = dict(journey, events=[{"at": "2026-09-09T00:00:00Z", "kind": "consent_change", "channel": "sms"}])
    for bad, words in ((late, "events[1] is earlier than events[0]"), (early, "before the journey starts"), (incomplete, "needs consent")):
        path = tmp_path / "j.jsonl"
        path.write_text(json.dumps(JOURNEYS[0].model_dump(mode="json")) + "\n" + json.dumps(bad) + "\n")
        with pytest.raises(ValueError, match="line 2") as caught:
            load_journeys(path)
        assert words in str(caught.value)


def test_script_events_change_the_state_as_documented():
    start = journey_in_cell("winback", [], random.Random(1), "x").start
    at = start.now + timedelta(hours=1)
    switched = apply_event(start, ScriptEvent(at=at, kind="channel_switch", channel="email", from_channel="push"))
    assert not switched.channels["push"].consent and switched.channels["email"].consent
    assert apply_event(start, ScriptEvent(at=at, kind="language_change", language="en")).languages == ["en"]
    gone = apply_event(start, ScriptEvent(at=at, kind="device_switch"))
    assert not gone.channels["push"].reachable and not gone.channels["in_app"].reachable
    assert apply_event(start, ScriptEvent(at=at, kind="convert")).converted_in_window
    assert start.channels["push"].reachable  # pure: the input state is unchanged


def test_the_contact_policy_honours_a_campaign_window():
    journey = journey_in_cell("sale_campaign", ["sale_window"], random.Random(3), "w")
    campaign = journey.start.campaign
    assert campaign.starts_at and campaign.ends_at
    before = journey.start.model_copy(update={"now": campaign.starts_at - timedelta(minutes=1)})
    after = journey.start.model_copy(update={"now": campaign.ends_at})
    assert expected_action(before).action == "wait"
    assert expected_action(after).action == "suppress" and "window has closed" in expected_action(after).reason
    assert "starts_at" not in JOURNEYS[0].start.campaign.model_dump()  # no window: the stored JSON is unchanged


# --- the simulated customer ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_customer_never_contradicts_the_state_whatever_the_agent_does(seed):
    traces = list(record_journeys(JOURNEYS, random_agent_for(seed), LLM, seed=seed, repeats=2))
    problems = {t.id: inconsistencies(t.metadata["journey_log"]) for t in traces}
    assert not any(problems.values()), {k: v for k, v in problems.items() if v}
    reactions = [e["reaction"] for t in traces for e in t.metadata["journey_log"]]
    assert any(r["opened"] for r in reactions) and any(r["sent"] and not r["delivered"] for r in reactions)


def test_the_consistency_check_catches_a_customer_that_breaks_the_rules():
    good = record_journey(JOURNEYS[0], reckless_agent, LLM, seed=4).metadata["journey_log"]
    assert inconsistencies(good) == []
    tampered = json.loads(json.dumps(good))
    tampered[0]["reaction"].update(delivered=False, opened=True)
    assert any("opened without being delivered" in p for p in inconsistencies(tampered))
    twice = json.loads(json.dumps(good))
    for entry in twice[:2]:
        entry["reaction"].update(sent=True, delivered=True, opened=True, clicked=True, converted=True)
        entry["user_state"]["channels"]["push"] = {"consent": True, "reachable": True}
    assert any("converted twice" in p for p in inconsistencies(twice))
    nothing_sent = json.loads(json.dumps(good))
    nothing_sent[1]["decision"] = {"action": "wait"}
    assert any("sent=True for action 'wait'" in p for p in inconsistencies(nothing_sent))


def test_a_journey_replays_exactly_with_its_seed_and_differs_with_another():
    same = [record_journey(j, random_agent_for(0), LLM, seed=11).metadata["journey_log"] for j in JOURNEYS[:20]]
    again = [record_journey(j, random_agent_for(0), LLM, seed=11).metadata["journey_log"] for j in JOURNEYS[:20]]
    other = [record_journey(j, random_agent_for(0), LLM, seed=12).metadata["journey_log"] for j in JOURNEYS[:20]]
    assert same == again
    assert same != other


def test_fitted_response_rates_follow_the_logs_and_shrink_small_samples():
    rows = [
        {"channel": "email", "opened": "1" if i < 60 else "0", "clicked": "1" if i < 30 else "0", "segment": "vip" if i < 50 else "low"}
        for i in range(100)
    ] + [{"channel": "sms", "opened": "1"}, {"channel": "fax", "opened": "1"}]
    model = fit_response_model(rows)
    assert 0.5 < model.open_rate["email"] < 0.6  # 60/100 shrunk a little towards 0.2
    assert model.open_rate["sms"] < 0.5  # one row does not make it 100%
    assert model.click_given_open > 0.4 and model.segment_factor["vip"] > model.segment_factor["low"]
    assert model.source == "fitted from 101 logged messages"
    with pytest.raises(ValueError, match="no row names a known channel"):
        fit_response_model([{"channel": "fax"}])


# --- recording ------------------------------------------------------------------------------------------


def test_the_agent_sees_the_journey_so_far_and_each_decision_carries_its_state():
    seen = []

    def remembering(user, llm, history):
        seen.append((user.now, len(history), user.sent_today, user.sent_this_week))
        return _decide({"action": "send", "channel": "email", "content_language": user.languages[0]})

    journey = JOURNEYS[0]
    trace = record_journey(journey, remembering, LLM, seed=1)
    assert [n for _, n, _, _ in seen] == [0, 1, 2, 3]
    assert [t for t, *_ in seen] == journey.decision_points
    week = [w for *_, w in seen]
    assert week == sorted(week) and week[-1] >= 3  # every earlier send counts this week
    decisions = [s for s in trace.steps if s.kind is StepKind.decision]
    assert [s.metadata["decision_point"] for s in decisions] == [0, 1, 2, 3]
    assert all(s.metadata["user_state"]["now"] for s in decisions)
    assert [s.name for s in trace.steps if s.kind is StepKind.user].count("customer") == 4
    assert trace.metadata["journey_kind"] == journey.kind and trace.metadata["journey_perturbations"] == ["none"]


def test_an_agent_failure_mid_journey_is_recorded_and_the_next_journey_goes_on():
    calls = {"n": 0}

    def flaky(user, llm):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("model server went away")
        return _decide({"action": "wait"})

    first, second = record_journeys(JOURNEYS[:2], flaky, LLM)
    assert first.metadata["status"] == "failed" and "decision 3" in first.metadata["error"]
    assert len(first.metadata["journey_log"]) == 2
    assert second.metadata["status"] == "ok" and len(second.metadata["journey_log"]) == 4
    assert evaluate(first).failed


# --- the checks -----------------------------------------------------------------------------------------


def test_a_journey_aware_policy_agent_passes_every_check_over_every_generated_journey():
    outcomes, _ = evaluate_all(record_journeys(JOURNEYS, policy_agent, LLM, seed=5))
    findings = [(o.trace_id, f.check, f.rationale) for o in outcomes for f in o.findings]
    assert findings == []


def test_a_reckless_agent_trips_each_journey_check_where_its_perturbation_lives():
    outcomes, _ = evaluate_all(record_journeys(JOURNEYS, reckless_agent, LLM, seed=5))
    failed = {f.check for o in outcomes for f in o.findings}
    assert failed >= {
        "journey_frequency_cap",
        "journey_no_contact_after_exit",
        "journey_consent_current",
        "journey_quiet_hours_local",
        "journey_language_latest",
        "journey_channel_switch",
        "journey_offer_consistent",
        "journey_campaign_window",
    }
    by_cell = summarize(outcomes).by_cell
    assert by_cell["winback/unsubscribes"][0] == by_cell["winback/unsubscribes"][1]
    quiet = [f for o in outcomes for f in o.findings if f.check == "journey_quiet_hours_local"]
    assert all("local" in f.rationale for f in quiet)


def test_the_example_agent_s_planted_blind_spots_are_each_found():
    outcomes, _ = evaluate_all(record_journeys(JOURNEYS, example_agent, LLM, seed=5))
    cells_failing = {(o.kind, p, f.check) for o in outcomes for f in o.findings for p in o.perturbations}
    assert {
        ("onboarding", "language_change", "journey_language_latest"),
        ("sale_campaign", "sale_window", "journey_campaign_window"),
    } <= cells_failing
    assert not any(o.findings for o in outcomes if o.perturbations == ["none"] and o.kind != "winback")


def test_journey_checks_say_when_a_trace_is_not_a_journey():
    from chainjudge.core.checks import CheckInputMissing

    trace = Trace(id="t", steps=[step(0, StepKind.decision, '{"action": "send"}')])
    for check in JOURNEY_CHECKS.values():
        with pytest.raises(CheckInputMissing, match="not a journey trace"):
            check(trace, trace.steps[0])


def test_the_journey_rubric_runs_its_checks_as_judgments():
    from chainjudge.core.checks import run_checks
    from chainjudge.core.rubric import load_rubric
    from tests.conftest import ROOT

    rubric = load_rubric(ROOT / "chainjudge" / "packs" / "cep" / "rubrics" / "journey.yaml")
    traces = list(record_journeys(JOURNEYS[:12], reckless_agent, LLM, seed=5))
    judgments = run_checks(traces, rubric, "r")
    assert {j.criterion_id for j in judgments} == {c.id for c in rubric.criteria if c.check}
    assert not [j for j in judgments if j.error], [j.error for j in judgments if j.error][:3]
    assert any(j.verdict.label == "fail" for j in judgments if j.verdict and j.criterion_id == "journey_no_contact_after_exit")


def test_pass_hat_k_over_repeated_journeys():
    traces = list(record_journeys(JOURNEYS[:6], example_agent, LLM, seed=2, repeats=3))
    summary = summarize(evaluate_all(traces)[0])
    assert [k for k, _ in summary.pass_hat_k] == [1, 2, 3]
    values = [v for _, v in summary.pass_hat_k]
    assert values == sorted(values, reverse=True)


# --- the CLI ----------------------------------------------------------------------------------------------


def test_generate_record_resume_and_check_from_the_command_line(tmp_path, monkeypatch):
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    journeys, traces = tmp_path / "j.jsonl", tmp_path / "t.jsonl"
    assert cli.invoke(app, ["journeys", "generate", "--out", str(journeys)]).exit_code == 0
    args = [
        "record",
        "--agent",
        "examples.journey_agent:agent",
        "--journeys",
        str(journeys),
        "--model",
        "none",
        "--out",
        str(traces),
        "--limit",
        "4",
    ]
    first = cli.invoke(app, [*args, "--repeats", "2"])
    assert first.exit_code == 0, first.output
    assert "8 journey runs to record" in first.output
    again = cli.invoke(app, [*args, "--repeats", "2", "--limit", "4"])
    assert "(8 traces already in" in again.output
    lines = traces.read_text().splitlines()
    assert len(lines) == 16 and len({json.loads(line)["id"] for line in lines}) == 16
    checked = cli.invoke(app, ["journeys", "check", str(traces)])
    assert checked.exit_code == 1, checked.output  # the example agent fails the language-change journey
    assert "journey_language_latest" in checked.output and "simulator inconsistencies" in checked.output
    assert "pass^k over repeated runs: k=1" in checked.output
    as_json = json.loads(cli.invoke(app, ["journeys", "check", str(traces), "--json"]).output)
    assert as_json["summary"]["journeys"] == 16 and as_json["summary"]["simulator_inconsistent"] == 0


def test_record_needs_exactly_one_of_scenarios_or_journeys(tmp_path):
    for extra in ([], ["--scenarios", "a.jsonl", "--journeys", "b.jsonl"]):
        result = cli.invoke(app, ["record", "--agent", "examples.journey_agent:agent", *extra])
        assert result.exit_code == 2 and "give one of --scenarios FILE" in result.output


def test_a_fitted_response_model_drives_the_customer(tmp_path, monkeypatch):
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    logs, model_file = tmp_path / "outcomes.csv", tmp_path / "model.yaml"
    logs.write_text("channel,opened,clicked\n" + "email,1,1\n" * 400 + "line,1,1\n" * 400)
    fitted = cli.invoke(app, ["journeys", "fit-responses", str(logs), "--out", str(model_file)])
    assert fitted.exit_code == 0, fitted.output
    journeys = tmp_path / "j.jsonl"
    journeys.write_text("".join(j.model_dump_json() + "\n" for j in JOURNEYS[:10]))
    out = tmp_path / "t.jsonl"
    result = cli.invoke(
        app,
        [
            "record",
            "--agent",
            "tests.test_journeys:email_agent",
            "--journeys",
            str(journeys),
            "--model",
            "none",
            "--response-model",
            str(model_file),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0 and "fitted from 800 logged messages" in result.output, result.output
    reactions = [e["reaction"] for line in out.read_text().splitlines() for e in json.loads(line)["metadata"]["journey_log"]]
    delivered = [r for r in reactions if r["delivered"]]
    assert delivered and sum(r["opened"] for r in delivered) / len(delivered) > 0.5  # fitted ~0.98 less fatigue; the default is 0.2


def email_agent(user: UserState, llm: LLMConfig) -> list:
    return _decide({"action": "send", "channel": "email", "content_language": user.languages[0]})


def test_default_response_model_is_documented_as_defaults():
    assert ResponseModel().source == "defaults"


def test_the_model_driven_example_agent_reads_the_journey_so_far_through_a_tool(fake_judge):
    """examples/cep_agent.py against a scripted OpenAI-compatible server: from the second decision on, its
    prompt holds the earlier decisions and what the customer did."""
    from chainjudge.testing.fakejudge import Action
    from examples.cep_agent import agent as model_agent

    line = 'DECISION: {"action": "send", "channel": "email", "content_language": "en", "offer": null}'
    fake_judge.enqueue(*[Action(content=f"1. read the tools\n{line}") for _ in range(4)])
    journey = next(j for j in JOURNEYS if j.perturbations == ["unsubscribes"])
    trace = record_journey(journey, model_agent, LLMConfig(model="openai/fake", api_base=fake_judge.url, api_key="k"), seed=1)
    assert trace.metadata["status"] == "ok", trace.metadata.get("error")
    prompts = [r["body"]["messages"][-1]["content"] for r in fake_judge.requests]
    assert len(prompts) == 4 and "journey_history" not in prompts[0]
    assert "journey_history" in prompts[1] and '"action": "send"' in prompts[1].split("journey_history", 1)[1]
    assert "unsubscribe" in prompts[-1].split("journey_history", 1)[1]
    outcome = evaluate(trace)
    assert {f.check for f in outcome.findings} >= {"journey_no_contact_after_exit"}  # it kept sending after the unsubscribe


def test_a_decision_the_checks_cannot_read_is_its_own_finding():
    def mumbling(user, llm):
        return [step(0, StepKind.decision, "1. think about it")]

    outcome = evaluate(record_journey(JOURNEYS[0], mumbling, LLM))
    assert {f.check for f in outcome.findings} == {"no_readable_decision"} and len(outcome.findings) == 4


def test_send_now_is_a_send_for_the_customer_its_consistency_check_and_the_checks_alike():
    """Found on the offline model: it wrote "send_now"; the customer treated it as a send, the consistency
    check did not, and blamed the simulator."""

    def send_now(user, llm):
        return _decide({"action": "Send_Now", "channel": "email", "content_language": user.languages[0]})

    trace = record_journey(next(j for j in JOURNEYS if j.perturbations == ["unsubscribes"]), send_now, LLM, seed=3)
    assert all(e["reaction"]["sent"] for e in trace.metadata["journey_log"])
    assert inconsistencies(trace.metadata["journey_log"]) == []
    assert any(f.check == "journey_no_contact_after_exit" for f in evaluate(trace).findings)


# --- journeys from a team's history ----------------------------------------------------------------------


def test_journeys_import_from_a_cdp_export_and_its_event_log(tmp_path, monkeypatch):
    """The example export and event log (seeded, no real customer): states through `scenarios import`,
    journeys through `journeys import` with the same pseudonym key, then recorded and checked."""
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    db, states, journeys, traces = tmp_path / "h.db", tmp_path / "states.jsonl", tmp_path / "j.jsonl", tmp_path / "t.jsonl"
    cli.invoke(
        app,
        [
            "scenarios",
            "import",
            "examples/cdp-export-sample.csv",
            "--mapping",
            "examples/cdp-mapping.yaml",
            "--out",
            str(states),
            "--db",
            str(db),
        ],
    )
    result = cli.invoke(
        app,
        [
            "journeys",
            "import",
            "examples/cdp-events-sample.csv",
            "--states",
            str(states),
            "--mapping",
            "examples/cdp-events-mapping.yaml",
            "--out",
            str(journeys),
            "--db",
            str(db),
        ],
    )
    assert result.exit_code == 1, result.output  # the log's bad rows are reported
    assert "142 journeys (568 decision points" in result.output
    assert "line 1069: column 'event_time'" in result.output and "'loyalty_tier_up' is not in the mapping's events" in result.output
    rejects = (tmp_path / "j.rejects.jsonl").read_text().splitlines()
    assert len(rejects) == 14 and all(json.loads(r)["line"] > 1 for r in rejects)
    text = journeys.read_text()
    assert "CUST-" not in text  # ids are pseudonymised, as in the states
    imported = list(load_journeys(journeys).values())
    assert all(j.origin == "imported" for j in imported)
    assert {p for j in imported for p in j.perturbations} >= {"converts_elsewhere", "unsubscribes", "consent_revoked", "language_change"}
    recorded = cli.invoke(
        app, ["record", "--agent", "examples.journey_agent:agent", "--journeys", str(journeys), "--model", "none", "--out", str(traces)]
    )
    assert recorded.exit_code == 0 and "simulator error" not in recorded.output, recorded.output
    outcomes, _ = evaluate_all(Trace.model_validate_json(line) for line in traces.read_text().splitlines())
    assert len(outcomes) == 142 and not any(o.simulator_problems for o in outcomes)
    assert all(json.loads(line)["metadata"]["origin"] == "imported" for line in traces.read_text().splitlines())


def test_an_event_the_model_rejects_is_one_rejected_row_and_the_journey_goes_on(tmp_path):
    from chainjudge.packs.cep.journey_history import EventMapping, import_journeys

    start = journey_in_cell("winback", [], random.Random(2), "u-1").start
    log = tmp_path / "log.jsonl"
    rows = [
        {"id": "raw", "t": (start.now + timedelta(hours=h)).isoformat(), "e": e, "ch": ch}
        for h, e, ch in ((1, "call", None), (2, "optout", "fax"), (3, "call", None), (4, "optout", "sms"))
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    mapping = EventMapping(
        id_column="id",
        time_column="t",
        event_column="e",
        channel_column="ch",
        consent_column="c",
        events={"call": "decide", "optout": "consent_change"},
    )
    from chainjudge.packs.cep.state_import import pseudonym

    states = {pseudonym(b"k", "raw"): start.model_copy(update={"id": pseudonym(b"k", "raw")})}
    journeys, report = import_journeys(log, mapping, states, b"k")
    assert {e.line for e in report.errors} == {2, 4}  # an unknown channel; an opt-out without its consent value
    assert len(journeys) == 1 and journeys[0].events == [] and len(journeys[0].decision_points) == 2  # the rest goes on


def test_an_active_customer_turns_lapsed_as_the_journey_passes_30_days_of_silence():
    journey = journey_in_cell("sale_campaign", [], random.Random(4), "long")
    start = journey.start.model_copy(update={"days_since_active": 28})
    trace = record_journey(journey.model_copy(update={"start": start}), reckless_agent, LLM, seed=1)
    states = [e["user_state"]["lifecycle"] for e in trace.metadata["journey_log"]]
    assert trace.metadata["status"] == "ok" and states[0] == "active" and states[-1] == "lapsed"


def test_a_simulator_error_is_the_harness_s_not_the_agent_s(monkeypatch):
    import chainjudge.packs.cep.journey_recording as recording

    def broken(user, event):
        raise ValueError("a state the model rejects")

    monkeypatch.setattr(recording, "apply_event", broken)
    journey = next(j for j in JOURNEYS if j.events)
    outcome = evaluate(record_journey(journey, policy_agent, LLM))
    assert outcome.status == "simulator_error" and not outcome.failed
    assert any("simulated state is invalid" in p for p in outcome.simulator_problems)
