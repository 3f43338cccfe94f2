"""The failure-seeking search: its proposal, the unbiased estimate, and the search over journeys."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from chainjudge.analysis.search import importance_estimate, rate_ratio_interval, thompson_proposal, uniform
from chainjudge.cli import app
from chainjudge.packs.cep.journey_generator import cells
from chainjudge.packs.cep.journey_search import SearchState, resume, search
from chainjudge.packs.cep.recording import LLMConfig
from chainjudge.packs.cep.rule_agent import agent as example_agent

cli = CliRunner()
LLM = LLMConfig(model="none")


def test_the_proposal_leans_to_failing_cells_and_keeps_its_floor():
    counts = {"a": (9, 10), "b": (0, 10), "c": (1, 10), "d": (0, 0)}
    q = thompson_proposal(counts, np.random.default_rng(0), floor=0.2)
    assert sum(q.values()) == pytest.approx(1.0)
    assert min(q.values()) >= 0.2 / 4 - 1e-12
    assert q["a"] > 0.5 > q["b"]
    for bad in ({"a": (3, 2)}, {}):
        with pytest.raises(ValueError):
            thompson_proposal(bad, np.random.default_rng(0))


def test_the_importance_weighted_estimate_is_unbiased_under_adaptive_sampling():
    """Draws made by the Thompson proposal from cells with known failure rates: the weighted estimate
    averages to the uniform mean rate, and its interval covers it about 95% of the time."""
    rates = np.array([0.02, 0.05, 0.1, 0.6, 0.9, 0.0, 0.3, 0.05])
    truth = rates.mean()
    keys = list(range(len(rates)))
    estimates, covered = [], 0
    for run in range(300):
        rng = np.random.default_rng(run)
        counts = {k: [0, 0] for k in keys}
        failed, target, proposal = [], [], []
        for n in range(120):
            q = uniform(keys) if n < 30 else thompson_proposal({k: tuple(v) for k, v in counts.items()}, rng, floor=0.2, draws=500)
            cell = int(rng.choice(len(keys), p=[q[k] for k in keys]))
            fail = bool(rng.random() < rates[cell])
            counts[cell][0] += fail
            counts[cell][1] += 1
            failed.append(fail)
            target.append(1 / len(keys))
            proposal.append(q[cell])
        estimate, low, high = importance_estimate(failed, target, proposal)
        estimates.append(estimate)
        covered += low <= truth <= high
    assert abs(np.mean(estimates) - truth) < 0.01
    assert covered / 300 >= 0.93


def test_with_the_target_as_proposal_the_estimate_is_the_plain_rate_with_wilson():
    from chainjudge.analysis.stats import wilson_interval

    estimate, low, high = importance_estimate([True, False, False, False], [0.25] * 4, [0.25] * 4)
    assert (estimate, low, high) == (0.25, *wilson_interval(1, 4))
    with pytest.raises(ValueError):
        importance_estimate([True], [0.5], [0.0])


def test_the_ratio_interval_resamples_seeds():
    ratio, low, high = rate_ratio_interval([40, 42, 38], [20, 22, 18], np.random.default_rng(0))
    assert ratio == pytest.approx(2.0) and low < 2.0 < high
    assert rate_ratio_interval([1.0], [0.0], np.random.default_rng(0))[0] == float("inf")


def _run(strategy: str, budget: int, seed: int = 1, state: SearchState | None = None):
    state = state or SearchState(cells())
    traces = list(search(example_agent, LLM, budget, strategy=strategy, seed=seed, state=state))
    return state, traces


def test_search_finds_more_failures_than_uniform_sampling_and_both_estimates_agree():
    uniform_state, _ = _run("uniform", 120)
    search_state, traces = _run("thompson", 120)
    found = lambda state: sum(o.failed for o in state.outcomes)  # noqa: E731
    assert found(search_state) > 1.3 * found(uniform_state)
    u, s = uniform_state.estimate(), search_state.estimate()
    assert s[1] <= u[2] and u[1] <= s[2]  # the intervals overlap
    phases = [t.metadata["search_phase"] for t in traces]
    assert phases[:36] == ["uniform"] * 36 and set(phases[36:]) == {"search"}
    weights = [t.metadata["search_weight"] for t in traces]
    assert all(w == pytest.approx(t.metadata["search_p"] / t.metadata["search_q"]) for w, t in zip(weights, traces, strict=True))
    assert max(weights) <= 1 / 0.2 + 1e-9  # the floor bounds every weight


def test_a_resumed_search_makes_the_same_draws_as_an_uninterrupted_one():
    import itertools

    whole, whole_traces = _run("thompson", 40, seed=3)
    part = SearchState(cells())
    part_traces = list(itertools.islice(search(example_agent, LLM, 40, seed=3, state=part), 25))  # stopped mid-batch
    rebuilt = resume(part_traces, cells())
    assert rebuilt.counts == part.counts
    _, rest = _run("thompson", 40, seed=3, state=rebuilt)
    assert [t.id for t in part_traces + rest] == [t.id for t in whole_traces]
    assert [t.metadata["search_cell"] for t in part_traces + rest] == [t.metadata["search_cell"] for t in whole_traces]


def test_search_from_the_command_line_resumes_and_says_where_it_looked(tmp_path, monkeypatch):
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    out = tmp_path / "search.jsonl"
    args = ["journeys", "search", "--agent", "examples.journey_agent:agent", "--out", str(out), "--seed", "2", "--batch", "5"]
    first = cli.invoke(app, [*args, "--budget", "15"])
    assert first.exit_code == 0, first.output
    assert "importance-weighted failure rate over the uniform space" in first.output and "where the search looked" in first.output
    second = cli.invoke(app, [*args, "--budget", "20"])
    assert "15 journeys already in" in second.output
    lines = out.read_text().splitlines()
    assert len(lines) == 20 and json.loads(lines[-1])["metadata"]["search_draw"] == 19
    checked = cli.invoke(app, ["journeys", "check", str(out)])
    assert "simulator inconsistencies (the harness's, not the agent's): 0/20" in checked.output
    bad = cli.invoke(app, [*args, "--strategy", "greedy"])
    assert bad.exit_code == 2 and "--strategy is thompson or uniform" in bad.output


def test_a_searched_run_s_report_states_its_sampling_and_the_weighted_rate(tmp_path, monkeypatch):
    """Judged with the journey checks and reported over the journey space: the go-live report says the
    traces were drawn by a search, gives the importance-weighted failure rate beside the unweighted one,
    and where the search looked."""
    import yaml

    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    traces_file, rubric, db, report = tmp_path / "s.jsonl", tmp_path / "checks.yaml", tmp_path / "s.db", tmp_path / "report"
    full = yaml.safe_load((ROOT / "chainjudge" / "packs" / "cep" / "rubrics" / "journey.yaml").read_text())
    rubric.write_text(yaml.safe_dump({**full, "criteria": [c for c in full["criteria"] if c.get("check")]}))
    _, traces = _run("thompson", 40, seed=4)
    traces_file.write_text("".join(t.model_dump_json() + "\n" for t in traces))
    judged = cli.invoke(app, ["judge", str(traces_file), "--rubric", str(rubric), "--run", "searched", "--db", str(db)])
    assert judged.exit_code == 0, judged.output
    result = cli.invoke(
        app,
        [
            "report",
            "searched",
            "--space",
            str(ROOT / "chainjudge" / "packs" / "cep" / "rubrics" / "journey-space.yaml"),
            "--db",
            str(db),
            "--out",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    sampling = json.loads((report / "report.json").read_text())["sampling"]
    assert sampling["traces"] == 40 and sampling["uniform"] == 12 and sampling["searched"] == 28
    weighted, unweighted = sampling["weighted_failure"], sampling["unweighted_failure"]
    assert weighted["n"] == 40 and weighted["low"] <= weighted["value"] <= weighted["high"]
    assert sum(c["traces"] for c in sampling["cells"]) == 40
    assert weighted["value"] != unweighted["value"]
    markdown = (report / "summary.md").read_text()
    assert "drawn by a failure-seeking search" in markdown and "Where the search looked" in markdown
    assert "Sampling (failure-seeking search)" in (report / "report.html").read_text()
