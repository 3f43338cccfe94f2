"""Off-policy evaluation: the estimators against a simulator whose truth is known, their diagnostics
against a direct computation, and a real check on the Open Bandit Dataset (Thompson sampling estimated
from uniform-random logs against the click rate it got in its own logs)."""

from __future__ import annotations

import numpy as np
import pytest

from chainjudge.analysis.ope import Logged, OpeDataError, diagnostics, estimate
from chainjudge.testing import ope_sim


def logged_from(sim: ope_sim.SimLogs, target_probs: np.ndarray, exact_model: bool = False) -> Logged:
    rows = np.arange(len(sim.reward))
    q = ope_sim.response(sim.x) if exact_model else None
    return Logged(
        reward=sim.reward,
        propensity=sim.propensity,
        target=target_probs[rows, sim.actions],
        groups=sim.users,
        q_logged=None if q is None else q[rows, sim.actions],
        q_target=None if q is None else (target_probs * q).sum(axis=1),
    )


def test_unbiased_estimators_cover_the_truth_at_their_nominal_rate():
    """Over 200 simulated logs, the 95% intervals of IPS, SNIPS and DR (with the true reward model) cover
    the agent policy's true conversion rate in at least 90% of them (nominal 95%, binomial slack)."""
    truth = ope_sim.true_value(ope_sim.agent_policy)
    covered = {"ips": 0, "snips": 0, "dr": 0}
    for seed in range(200):
        sim = ope_sim.simulate(1500, seed)
        result = estimate(logged_from(sim, ope_sim.agent_policy(sim.x), exact_model=True), bootstrap=200, seed=seed)
        for name in covered:
            value = result.estimate(name).value
            covered[name] += value.low <= truth <= value.high
    for name, hits in covered.items():
        assert hits / 200 >= 0.90, (name, hits)


def test_dr_is_exact_when_the_reward_model_is_right():
    """With the true reward model and rewards equal to their expectation, DR has nothing to correct: it
    equals the policy's value on those users exactly; IPS does not."""
    sim = ope_sim.simulate(3000, 1)
    target = ope_sim.agent_policy(sim.x)
    mu = ope_sim.response(sim.x)
    exact = ope_sim.SimLogs(
        x=sim.x,
        actions=sim.actions,
        propensity=sim.propensity,
        logging_probs=sim.logging_probs,
        reward=mu[np.arange(3000), sim.actions],
        users=sim.users,
    )
    result = estimate(logged_from(exact, target, exact_model=True), bootstrap=0)
    on_these_users = float((target * mu).sum(axis=1).mean())
    assert result.estimate("dr").value.value == pytest.approx(on_these_users, abs=1e-12)
    assert result.estimate("dm").value.value == pytest.approx(on_these_users, abs=1e-12)
    assert abs(result.estimate("ips").value.value - on_these_users) > 1e-6


def test_weights_and_effective_sample_size_match_a_direct_computation():
    rng = np.random.default_rng(3)
    propensity = rng.uniform(0.05, 1.0, 500)
    target = rng.uniform(0, 1, 500)
    logged = Logged(reward=rng.integers(0, 2, 500).astype(float), propensity=propensity, target=target, groups=np.arange(500))
    w = [t / p for t, p in zip(target, propensity, strict=True)]
    ess = sum(w) ** 2 / sum(x * x for x in w)
    d = diagnostics(logged)
    assert d.ess == pytest.approx(ess) and d.max_weight == pytest.approx(max(w))
    clipped = diagnostics(logged, clip=2.0)
    assert clipped.max_weight <= 2.0 and clipped.ess >= d.ess - 1e-9  # clipping trades bias for variance
    r = logged.reward
    result = estimate(logged, bootstrap=0)
    assert result.estimate("ips").value.value == pytest.approx(sum(x * y for x, y in zip(w, r, strict=True)) / 500)
    assert result.estimate("snips").value.value == pytest.approx(sum(x * y for x, y in zip(w, r, strict=True)) / sum(w))
    assert result.incumbent.value == pytest.approx(r.mean())


def test_thin_support_or_ess_withholds_the_weighted_estimates_with_a_warning():
    sim = ope_sim.simulate(2000, 2)
    target = ope_sim.agent_policy(sim.x)
    rows = np.arange(2000)
    unsupported = Logged(
        reward=sim.reward, propensity=sim.propensity, target=target[rows, sim.actions], groups=sim.users, supported=np.arange(2000) < 1000
    )
    result = estimate(unsupported, bootstrap=50)
    ips = result.estimate("ips")
    assert ips.value.value is None and "50.0% of rows" in ips.value.warning
    tiny = Logged(reward=sim.reward[:60], propensity=sim.propensity[:60], target=target[rows[:60], sim.actions[:60]], groups=sim.users[:60])
    assert "effective sample size" in estimate(tiny, bootstrap=0).estimate("snips").value.warning


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("propensity", 0.0, "propensity"),
        ("propensity", 1.5, "propensity"),
        ("target", -0.1, "target probability"),
        ("reward", float("nan"), "reward"),
    ],
)
def test_bad_logged_values_are_refused_with_the_row(field, value, message):
    arrays = {"reward": np.zeros(5), "propensity": np.full(5, 0.5), "target": np.full(5, 0.5), "groups": np.arange(5)}
    arrays[field] = arrays[field].copy()
    arrays[field][3] = value
    with pytest.raises(OpeDataError, match=message):
        Logged(**arrays)


def test_resampling_keeps_a_users_rows_together():
    """Ten rows per user with one outcome per user: an interval over users is wider than one that treats
    the rows as independent (which would overstate the evidence tenfold)."""
    rng = np.random.default_rng(4)
    per_user = rng.integers(0, 2, 300).astype(float)
    reward = np.repeat(per_user, 10)
    ones = np.ones(3000)
    by_user = estimate(Logged(reward=reward, propensity=ones * 0.5, target=ones * 0.5, groups=np.repeat(np.arange(300), 10)), bootstrap=300)
    by_row = estimate(Logged(reward=reward, propensity=ones * 0.5, target=ones * 0.5, groups=np.arange(3000)), bootstrap=300)
    width = lambda r: r.incumbent.high - r.incumbent.low  # noqa: E731
    assert width(by_user) > 2 * width(by_row)


def test_thompson_sampling_slate_probabilities_are_a_distribution_per_slot():
    from chainjudge.analysis.ope_policies import thompson_slate_probabilities

    probs = thompson_slate_probabilities(np.array([50.0, 5.0, 5.0, 1.0]), np.array([50.0, 50.0, 50.0, 50.0]), slots=3, samples=20_000)
    assert probs.shape == (4, 3) and np.allclose(probs.sum(axis=0), 1.0)
    assert probs[0, 0] > 0.99  # the action with by far the highest mean is nearly always first
    assert np.all(probs.sum(axis=1) <= 1 + 1e-9)  # an action fills at most one slot of a slate


# ---------------------------------------------------------------- through the command line, on real logs

from pathlib import Path  # noqa: E402

import yaml  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from chainjudge.cli import app  # noqa: E402

OBD = Path(__file__).resolve().parent / "data" / "open-bandit"
OBD_COLUMNS = [
    "--reward",
    "click",
    "--propensity",
    "propensity_score",
    "--action",
    "item_id",
    "--slot",
    "position",
    *[part for i in range(4) for part in ("--feature", f"user_feature_{i}")],
]


def thompson_policy(tmp_path, campaign: str) -> Path:
    prior = yaml.safe_load((OBD / "prior_bts.yaml").read_text())[campaign]
    path = tmp_path / f"bts-{campaign}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "kind": "thompson",
                "actions": list(range(len(prior["alpha"]))),
                "alpha": prior["alpha"],
                "beta": prior["beta"],
                "slots": 3,
                "samples": 100_000,
                "exploration": "uniform",
            }
        )
    )
    return path


@pytest.mark.parametrize("campaign", ["men", "women"])
def test_thompson_sampling_estimated_from_random_logs_is_checked_against_its_own_logs(tmp_path, campaign):
    """The Open Bandit Dataset's production policy, estimated off-policy from the uniform-random logs of the
    same campaign: every weighted estimator's 95% interval covers the click rate Thompson sampling got in
    its own logs; IPS equals the direct computation with the policy's own slate probabilities."""
    import pandas as pd

    from chainjudge.analysis.ope_policies import thompson_slate_probabilities

    out = tmp_path / "ope.json"
    result = CliRunner().invoke(
        app,
        [
            "ope",
            str(OBD / "random" / f"{campaign}.csv"),
            "--policy",
            str(thompson_policy(tmp_path, campaign)),
            *OBD_COLUMNS,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    figures = {e["estimator"]: e["value"] for e in __import__("json").loads(out.read_text())["overall"]["estimates"]}
    on_policy = pd.read_csv(OBD / "bts" / f"{campaign}.csv").click.mean()
    for name in ("ips", "snips", "dr", "switch-dr"):
        assert figures[name]["low"] <= on_policy <= figures[name]["high"], (name, figures[name], on_policy)
    logs = pd.read_csv(OBD / "random" / f"{campaign}.csv")
    prior = yaml.safe_load((OBD / "prior_bts.yaml").read_text())[campaign]
    probs = thompson_slate_probabilities(np.array(prior["alpha"]), np.array(prior["beta"]), 3, 100_000, 0)
    direct = (probs[logs.item_id, logs.position - 1] / logs.propensity_score * logs.click).mean()
    assert figures["ips"]["value"] == pytest.approx(direct)


def test_a_bad_row_is_reported_and_skipped_and_a_missing_column_is_one_line(tmp_path):
    logs = tmp_path / "logs.csv"
    lines = (OBD / "random" / "men.csv").read_text().splitlines()[:2001]
    lines[5] = lines[5].replace(lines[5].split(",")[3], "abc")  # the propensity of data row 4 (line 6)
    logs.write_text("\n".join(lines) + "\n")
    policy = thompson_policy(tmp_path, "men")
    cli = CliRunner()
    result = cli.invoke(app, ["ope", str(logs), "--policy", str(policy), *OBD_COLUMNS, "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "1 rows rejected (first: line 6: column propensity_score: not a probability in (0, 1])" in text
    assert "1999 logged rows" in text
    missing = cli.invoke(app, ["ope", str(logs), "--policy", str(policy), "--reward", "clicks"])
    assert missing.exit_code == 2 and "no column 'clicks'" in missing.output and "Traceback" not in missing.output


def test_an_agents_decisions_per_user_are_evaluated_against_the_simulated_truth(tmp_path):
    """A deterministic agent's decision per user (kind: decisions) on simulated CEP logs: DR with the
    cross-fitted reward model covers the true conversion rate, and the logged policy's value is its mean."""
    import json

    sim = ope_sim.simulate(20_000, 7)
    choice = ope_sim.agent_policy(sim.x).argmax(axis=1)
    logs = tmp_path / "logs.jsonl"
    logs.write_text(
        "\n".join(
            json.dumps(
                {
                    "user": f"u{u}",
                    "channel": ope_sim.ACTIONS[a],
                    "p": float(p),
                    "converted": int(r),
                    "segment": int(x[0]),
                    "recency": float(x[1]),
                    "market": int(x[2]),
                }
            )
            for u, a, p, r, x in zip(sim.users, sim.actions, sim.propensity, sim.reward, sim.x, strict=True)
        )
        + "\n"
    )
    policy = tmp_path / "agent.yaml"
    policy.write_text(
        yaml.safe_dump(
            {
                "kind": "decisions",
                "exploration": "uniform",
                "decisions": [{"group": f"u{u}", "action": ope_sim.ACTIONS[c]} for u, c in zip(sim.users, choice, strict=True)],
            }
        )
    )
    out = tmp_path / "ope.json"
    result = CliRunner().invoke(
        app,
        [
            "ope",
            str(logs),
            "--policy",
            str(policy),
            "--reward",
            "converted",
            "--propensity",
            "p",
            "--action",
            "channel",
            "--group",
            "user",
            "--feature",
            "segment",
            "--feature",
            "recency",
            "--feature",
            "market",
            "--by",
            "market",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    truth = ope_sim.true_value(ope_sim.agent_policy)
    dr = next(e for e in data["overall"]["estimates"] if e["estimator"] == "dr")["value"]
    assert dr["low"] <= truth <= dr["high"]
    assert data["overall"]["incumbent"]["value"] == pytest.approx(sim.reward.mean())
    assert set(data["segments"]["market"]) == {"0", "1", "2"}


# ---------------------------------------------------------------- guardrails in the gate


def test_the_gate_reads_off_policy_guardrails_and_fails_closed(tmp_path):
    """A policy with min_value_ratio: no figures, a lower bound under it, or a withheld estimate each fail
    the gate with the reason; figures whose bound clears it pass.  max_unsubscribe_delta reads the upper
    bound of the difference."""
    from test_golive import CHECK, judged_store

    db, expected = judged_store(tmp_path, {"id": "r", "criteria": [CHECK]})
    value = tmp_path / "value.json"
    result = CliRunner().invoke(
        app,
        ["ope", str(OBD / "random" / "women.csv"), "--policy", str(thompson_policy(tmp_path, "women")), *OBD_COLUMNS, "--out", str(value)],
    )
    assert result.exit_code == 0, result.output
    policy = tmp_path / "gate.yaml"

    def gate(rules: dict, *extra: str):
        policy.write_text(yaml.safe_dump({"min_score": 0.0, "min_high_weight_coverage": 0.0, "max_critical_failures": 100, **rules}))
        done = CliRunner().invoke(app, ["gate", "g", "--db", str(db), "--expected", str(expected), "--policy", str(policy), *extra])
        return done.exit_code, " ".join(done.output.split())

    code, text = gate({})
    assert code == 0, text  # no guardrail asked for: none read
    code, text = gate({"min_value_ratio": 0.95})
    assert code == 1 and "needs off-policy value figures" in text
    code, text = gate({"min_value_ratio": 0.95}, "--ope-value", str(value))
    assert code == 1 and "lower bound" in text and "needs 0.95" in text  # 1.48x, but its bound is below 1
    code, text = gate({"min_value_ratio": 0.5}, "--ope-value", str(value))
    assert code == 0, text
    code, text = gate({"min_value_ratio": 0.5, "max_unsubscribe_delta": 0.0}, "--ope-value", str(value), "--ope-unsubscribe", str(value))
    assert code == 1 and "upper bound" in text and "allowed +0" in text
    thin = tmp_path / "thin.json"
    CliRunner().invoke(
        app,
        [
            "ope",
            str(OBD / "random" / "women.csv"),
            "--policy",
            str(thompson_policy(tmp_path, "women")),
            *OBD_COLUMNS,
            "--min-ess",
            "100000",
            "--out",
            str(thin),
        ],
    )
    code, text = gate({"min_value_ratio": 0.5}, "--ope-value", str(thin))
    assert code == 1 and "is unknown" in text and "effective sample size" in text
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    code, text = gate({"min_value_ratio": 0.5}, "--ope-value", str(broken))
    assert code == 2 and "broken.json" in text and "Traceback" not in text


def test_the_report_shows_the_off_policy_guardrails_with_today_s_value_and_unknown_when_withheld(tmp_path):
    """`report --ope-value --ope-unsubscribe`: the agent's expected value against the logged policy's, with
    the ratio's interval, in HTML, Markdown and JSON; a withheld estimate is shown as unknown with its reason."""
    import json

    from test_golive import CHECK, judged_store

    db, expected = judged_store(tmp_path, {"id": "r", "criteria": [CHECK]})
    value, thin = tmp_path / "value.json", tmp_path / "thin.json"
    base = ["ope", str(OBD / "random" / "women.csv"), "--policy", str(thompson_policy(tmp_path, "women")), *OBD_COLUMNS]
    assert CliRunner().invoke(app, [*base, "--out", str(value)]).exit_code == 0
    CliRunner().invoke(app, [*base, "--min-ess", "100000", "--out", str(thin)])
    out = tmp_path / "report"
    done = CliRunner().invoke(
        app,
        [
            "report",
            "g",
            "--db",
            str(db),
            "--expected",
            str(expected),
            "--out",
            str(out),
            "--ope-value",
            str(value),
            "--ope-unsubscribe",
            str(thin),
        ],
    )
    assert done.exit_code == 0, done.output
    rails = json.loads((out / "report.json").read_text())["guardrails"]
    figures = json.loads(value.read_text())["overall"]
    dr = next(e for e in figures["estimates"] if e["estimator"] == "dr")
    assert rails[0]["kind"] == "value" and rails[0]["agent"]["value"] == pytest.approx(dr["value"]["value"])
    assert rails[0]["ratio"]["low"] == pytest.approx(dr["ratio"]["low"]) and rails[0]["logged"]["value"] == pytest.approx(
        figures["incumbent"]["value"]
    )
    assert rails[1]["kind"] == "harm" and rails[1]["agent"]["value"] is None and "effective sample size" in rails[1]["warning"]
    markdown = (out / "summary.md").read_text()
    assert "Guardrails from logged history" in markdown and "against today's logged policy" in markdown and "unknown (" in markdown
    assert "Guardrails from logged history" in (out / "report.html").read_text()
    broken = tmp_path / "broken.json"
    broken.write_text("[]")
    bad = CliRunner().invoke(
        app, ["report", "g", "--db", str(db), "--expected", str(expected), "--out", str(out), "--ope-value", str(broken)]
    )
    assert bad.exit_code == 2 and "broken.json" in bad.output and "Traceback" not in bad.output


def test_recorded_agent_decisions_are_the_target_policy(tmp_path):
    """`ope --decisions TRACES`: the bundled CEP agent's final decisions (read by the CEP pack) are matched
    to logged rows by user, and IPS equals the direct computation: reward / propensity where the logged
    channel is the agent's, 0 elsewhere."""
    import json

    from chainjudge.core.plugins import decision_of
    from chainjudge.pipeline import load_traces

    traces = Path(__file__).resolve().parents[1] / "chainjudge" / "packs" / "cep" / "traces" / "traces.jsonl"
    agent = {
        t.metadata["scenario_id"]: str(decision_of(t).get("channel") or "none")
        for t in load_traces([traces]).traces
        if decision_of(t) is not None
    }
    channels = ["email", "push", "sms", "whatsapp", "none"]
    rng = np.random.default_rng(5)
    rows = []
    for user in sorted(agent):
        for _ in range(40):  # each user's state logged 40 times under uniform exploration
            logged = channels[rng.integers(0, len(channels))]
            rows.append(
                {
                    "user": user,
                    "channel": logged,
                    "p": 1 / len(channels),
                    "converted": int(rng.uniform() < (0.2 if logged == "email" else 0.05)),
                }
            )
    logs = tmp_path / "logs.jsonl"
    logs.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "ope.json"
    result = CliRunner().invoke(
        app,
        [
            "ope",
            str(logs),
            "--decisions",
            str(traces),
            "--decision-field",
            "channel",
            "--exploration",
            "uniform",
            "--reward",
            "converted",
            "--propensity",
            "p",
            "--action",
            "channel",
            "--group",
            "user",
            "--reward-model",
            "none",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"{len(agent)} recorded agent decisions are the target policy" in " ".join(result.output.split())
    direct = np.mean([r["converted"] / r["p"] if r["channel"] == agent[r["user"]] else 0.0 for r in rows])
    ips = next(e for e in json.loads(out.read_text())["overall"]["estimates"] if e["estimator"] == "ips")["value"]["value"]
    assert ips == pytest.approx(direct)
    neither = CliRunner().invoke(app, ["ope", str(logs)])
    assert neither.exit_code == 2 and "--policy" in neither.output


def test_the_review_app_s_go_live_tab_shows_the_guardrails_it_was_given(fresh_db, tmp_path, monkeypatch):
    """`chainjudge review --ope-value F --ope-unsubscribe G` names the files (the browser never gives a
    path); the Go-live tab shows the agent's expected value against today's, and a withheld one as unknown."""
    import json
    import os

    from streamlit.testing.v1 import AppTest

    from chainjudge.review.server import app_environment
    from tests.conftest import ROOT

    value, harm = tmp_path / "value.json", tmp_path / "harm.json"
    estimate = {
        "estimator": "dr",
        "value": {"value": 0.0123, "low": 0.011, "high": 0.0135},
        "ratio": {"value": 1.2, "low": 1.05, "high": 1.31},
        "difference": {"value": 0.002, "low": 0.0005, "high": 0.0035},
    }
    value.write_text(json.dumps({"overall": {"incumbent": {"value": 0.0103}, "estimates": [estimate], "diagnostics": {"rows": 10000}}}))
    withheld = {"estimator": "dr", "value": {"value": None, "warning": "effective sample size 12 is under 100"}}
    harm.write_text(json.dumps({"overall": {"incumbent": {"value": 0.004}, "estimates": [withheld], "diagnostics": {"rows": 10000}}}))
    env = app_environment(
        fresh_db, tmp_path / "none.yaml", [ROOT / "chainjudge" / "packs" / "cep" / "rubrics" / "space.yaml"], [], value, harm
    )
    for key, text in env.items():
        monkeypatch.setenv(key, text)
    monkeypatch.delenv("CHAINJUDGE_REVIEW_TOKEN", raising=False)
    at = AppTest.from_file(os.path.join(ROOT, "chainjudge", "ui", "app.py"), default_timeout=60).run()
    at.text_input(key="name").input("gil")
    at.button[0].click().run()
    assert not at.exception, at.exception
    tables = [df.value for df in at.dataframe]
    rails = next(t for t in tables if "guardrail" in t.columns)
    assert list(rails["guardrail"]) == ["value (conversions)", "harm (unsubscribes)"]
    assert rails["agent (dr)"][0].startswith("0.0123 [0.0110, 0.0135]") and rails["ratio"][0].startswith("1.200 [1.050, 1.310]")
    assert rails["agent (dr)"][1] == "unknown: effective sample size 12 is under 100"
