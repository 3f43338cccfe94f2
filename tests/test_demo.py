"""The demo on the bundled CEP pack, with a scripted judge in place of the local model (the real
local model runs the same demo in test_local_judge.py)."""

from pathlib import Path

from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.core.schema import Trace
from chainjudge.core.store import Store
from chainjudge.packs.cep.decisions import load_scenarios
from chainjudge.testing.fakejudge import FakeJudgeServer

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT / "chainjudge" / "packs" / "cep" / "traces" / "traces.jsonl"
SCENARIOS = ROOT / "chainjudge" / "packs" / "cep" / "traces" / "scenarios.jsonl"


def bundled():
    return [Trace.model_validate_json(line) for line in TRACES.read_text().splitlines() if line.strip()]


def test_bundle_is_recorded_real_and_annotated():
    traces = bundled()
    scenarios = load_scenarios(SCENARIOS)
    assert len(traces) >= 60 and TRACES.stat().st_size < 5_000_000
    assert sum(1 for t in traces if t.metadata["perturbations"]) * 3 >= len(traces) - 3
    for t in traces:
        assert t.metadata["agent_model"] and t.metadata["recorded_at"] and t.metadata["scenario_id"] in scenarios
        if t.metadata["status"] == "ok":
            assert [s.kind.value for s in t.steps[1:9]] == ["tool_call", "tool_result"] * 4
            assert t.steps[-1].kind.value == "decision"


def test_demo_runs_end_to_end_and_resumes(tmp_path):
    db = tmp_path / "demo.db"
    cli = CliRunner()
    with FakeJudgeServer(answer=lambda body: {"rationale": "looks fine", "label": "pass"}) as server:
        first = cli.invoke(app, ["demo", "--judge", "openai/fake", "--api-base", server.url, "--db", str(db), "--sample", "4"])
        assert first.exit_code == 0, first.output
        calls = len(server.requests)
        again = cli.invoke(app, ["demo", "--judge", "openai/fake", "--api-base", server.url, "--db", str(db), "--sample", "4"])
        assert again.exit_code == 0 and len(server.requests) == calls == 4
    text = " ".join(first.output.split())
    for part in (
        "deterministic policy checks",
        "decision correctness",
        "ground truth",
        "queued for people",
        "untrusted",
        "judge the rest",
        "go-live confidence",
    ):
        assert part in text, part
    assert "0 judge calls made, 4 already in the store" in " ".join(again.output.split())
    # step 9: journeys run by the rule-based agent; its planted blind spots show up as findings, and the
    # simulated customer never contradicts itself
    assert "9. journeys: 54 generated journeys" in text and "journey_language_latest" in text
    assert "simulator inconsistencies 0/54" in text
    with Store(db) as store:
        judged = list(store.judgments("demo-cep"))
    ok = [t for t in bundled() if t.metadata["status"] == "ok"]
    assert sum(1 for j in judged if j.judge.startswith("check:")) == 6 * len(ok)  # every decision, every check
    # step 6: a verifier per criterion the ground truth settles, learned from the tune side only, stated with
    # its out-of-fold kappa, lower bound and count, and why it decides nothing yet on so few labels
    assert "verifiers learned from the ground truth's tune side" in text
    assert "kappa 0.588, 95% lower bound" in text and "nothing yet: a 90% guarantee takes >= 44 decided tune steps" in text
    with Store(db) as store:
        verifiers = {v.criterion: v for v in store.verifiers()}
        split = store.split()
    assert set(verifiers) == {"offer_fits", "language_and_tone"}
    tune = {t for t, side in split.items() if side == "tune"}
    assert verifiers["offer_fits"].tune_items == len({t for t in tune}) < len(split)  # the test side was not learned from
