"""A verifier learned from people's labels: it learns from the tune split only (never a test trace, never a
trace of a task that has one on the test side), it learns nothing from shuffled labels, its selective
guarantee holds at its nominal rate, and it works end to end through the CLI on the real AgentProcessBench
HotPotQA file (250 trajectories, 50 questions x 5, human step labels)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from conftest import HOTPOTQA
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from chainjudge.analysis.selective import choose_cut
from chainjudge.analysis.splits import assign_split, task_group
from chainjudge.cli import app
from chainjudge.core.schema import Label, Step, Trace
from chainjudge.core.store import Store

cli = CliRunner()
LABEL_ARGS = [
    "--annotator",
    "apb-human",
    "--kind",
    "human",
    "--criterion",
    "step",
    "--map",
    "1=correct",
    "--map",
    "0=neutral",
    "--map",
    "-1=error",
]


@pytest.fixture(scope="module")
def hotpotqa_store(tmp_path_factory):
    db = tmp_path_factory.mktemp("verifier") / "v.db"
    assert cli.invoke(app, ["labels", "import", str(HOTPOTQA), *LABEL_ARGS, "--db", str(db)]).exit_code == 0
    assert cli.invoke(app, ["labels", "split", "--test-share", "0.3", "--seed", "7", "--db", str(db)]).exit_code == 0
    return db


def test_the_split_keeps_every_question_on_one_side(hotpotqa_store):
    with Store(hotpotqa_store) as store:
        split = store.split()
    sides: dict[str, set[str]] = {}
    for trace, side in split.items():
        sides.setdefault(task_group(trace), set()).add(side)
    assert len(sides) == 50 and all(len(s) == 1 for s in sides.values())


def test_train_and_test_through_the_cli(hotpotqa_store, tmp_path):
    copy = tmp_path / "v.db"
    with Store(hotpotqa_store) as store:
        store.copy_to(copy)
    trained = cli.invoke(app, ["verifier", "train", "--criterion", "step", "--name", "apb", "--traces", str(HOTPOTQA), "--db", str(copy)])
    assert trained.exit_code == 0, trained.output
    assert "250 traces stored" in trained.output
    assert "in 36 tasks" in trained.output  # 50 questions, 14 of them (70 traces) kept for test by seed 7
    tested = cli.invoke(app, ["verifier", "test", "apb", "--db", str(copy), "--bootstrap", "300"])
    assert tested.exit_code == 0, tested.output
    text = " ".join(tested.output.split())
    kappa = float(text.split("Cohen's kappa (fail vs pass) │ ")[1].split()[0])
    assert kappa > 0.3  # measured 0.528 [0.373, 0.679] (README); always-pass is 0
    assert "baseline: always pass" in text and "looked at 1 time" in text
    again = cli.invoke(app, ["verifier", "test", "apb", "--db", str(copy), "--bootstrap", "50"])
    assert "looked at 2 time" in " ".join(again.output.split()) and "no longer an unbiased test" in again.output
    listed = cli.invoke(app, ["verifier", "list", "--db", str(copy)])
    assert "apb@" in listed.output


def test_training_needs_a_split_and_labels(tmp_path):
    result = cli.invoke(app, ["verifier", "train", "--criterion", "step", "--name", "x", "--db", str(tmp_path / "e.db")])
    assert result.exit_code == 2 and "labels split" in result.output


# ---------------------------------------------------------------- no test label reaches training


def _random_store(db, rows, share, seed):
    labels = [
        Label(trace_id=f"src:{q}:{t}", step_ref=str(s), criterion="step", value=v, annotator="h", kind="human") for q, t, s, v in rows
    ]
    ids = sorted({label.trace_id for label in labels})
    traces = [
        Trace(
            id=i,
            metadata={"query_index": int(i.split(":")[1]), "data_source": "src"},
            steps=[Step(index=k, ref=str(k), kind="decision" if k % 2 else "tool_call", text=f"{i} step {k} answer") for k in range(4)],
        )
        for i in ids
    ]
    store = Store(db)
    store.save_traces(traces)
    store.add_labels(labels)
    split = assign_split(labels, share, seed, {"error"}, group_of=lambda t: task_group(t))
    store.save_split(split, seed, share)
    return store, split


@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 4), st.integers(0, 3), st.sampled_from(["correct", "error"])), min_size=4, max_size=80
    ),
    st.floats(0.2, 0.8),
    st.integers(0, 1000),
)
@settings(max_examples=40, deadline=None)
def test_no_test_label_or_trace_of_a_test_task_ever_reaches_training(tmp_path_factory, rows, share, seed):
    from chainjudge.workflows.verifier import gather

    store, split = _random_store(tmp_path_factory.mktemp("leak") / "p.db", rows, share, seed)
    with store:
        gathered = gather(store, "step", "tune", True, ["error"])
    test_tasks = {task_group(t) for t, side in split.items() if side == "test"}
    for trace_id, _ in (r.item for r in gathered.rows):
        assert split[trace_id] == "tune"
        assert task_group(trace_id) not in test_tasks
    assert {r.group for r in gathered.rows}.isdisjoint(test_tasks)


def test_a_later_trace_of_a_placed_task_joins_its_side():
    first = [
        Label(trace_id=f"src:{q}:0", step_ref="0", criterion="step", value="error" if q % 2 else "correct", annotator="h")
        for q in range(10)
    ]
    split = assign_split(first, 0.3, 1, {"error"}, group_of=task_group)
    later = first + [Label(trace_id=f"src:{q}:1", step_ref="0", criterion="step", value="correct", annotator="h") for q in range(10)]
    grown = assign_split(later, 0.3, 1, {"error"}, existing=split, group_of=task_group)
    assert all(grown[f"src:{q}:1"] == split[f"src:{q}:0"] for q in range(10))


# ---------------------------------------------------------------- a negative control


def test_a_verifier_trained_on_shuffled_labels_learns_nothing(hotpotqa_store, tmp_path):
    """Shuffle the tune labels among tune steps (test labels untouched): the verifier must refuse to be
    stored (its out-of-fold kappa shows no skill), or, if stored, its test kappa's interval must contain 0.
    (A verifier fitted to noise once reached test kappa -0.085 [-0.165, -0.028]: a fixed rule fitted to noise
    can anti-correlate with the truth, so skill is now required out of fold before it is stored.)"""
    copy = tmp_path / "shuffled.db"
    with Store(hotpotqa_store) as store:
        store.copy_to(copy)
    with Store(copy) as store:
        split = store.split()
        labels = store.labels()
        tune = [label for label in labels if split.get(label.trace_id) == "tune"]
        rest = [label for label in labels if split.get(label.trace_id) != "tune"]
        values = [label.value for label in tune]
        random.Random(3).shuffle(values)
        store._db.execute("DELETE FROM labels")
        store.add_labels([label.model_copy(update={"value": v}) for label, v in zip(tune, values, strict=True)] + rest)
    trained = cli.invoke(
        app, ["verifier", "train", "--criterion", "step", "--name", "control", "--traces", str(HOTPOTQA), "--db", str(copy)]
    )
    if trained.exit_code == 2:  # refused: no skill out of fold, so nothing stored to decide anything
        assert "no better than chance" in trained.output
        with Store(copy) as store:
            assert store.verifier("control") is None
        return
    assert trained.exit_code == 0, trained.output
    from chainjudge.workflows.verifier import evaluate

    with Store(copy) as store:
        result = evaluate(store, "control", bootstrap=500)
    kappa = result.report.cohen_kappa
    assert kappa.low is not None and kappa.low <= 0 <= kappa.high, kappa


# ---------------------------------------------------------------- the guarantee, in simulation


def test_the_selective_guarantee_holds_at_its_nominal_rate():
    """Calibration and fresh items from one distribution where confident items are more often right; over
    300 simulated calibrations the chosen cut's agreement on fresh items falls below the target in at most
    `risk` of them (plus sampling slack)."""
    rng = np.random.default_rng(0)
    target, risk, trials, misses, decided = 0.85, 0.1, 300, 0, []

    def draw(n):
        conf = rng.uniform(0.5, 1.0, n)
        correct = rng.uniform(0, 1, n) < 0.55 + 0.45 * (conf - 0.5) / 0.5 * 0.95
        return conf, correct

    for _ in range(trials):
        conf, correct = draw(400)
        cut = choose_cut(conf.tolist(), correct.tolist(), target, risk)
        if cut.confidence is None:
            continue
        fresh_conf, fresh_correct = draw(20_000)
        chosen = fresh_conf >= cut.confidence
        decided.append(chosen.mean())
        misses += fresh_correct[chosen].mean() < target
    assert decided and np.mean(decided) > 0.2  # it does decide
    assert misses / trials <= risk + 0.03, misses / trials


# ---------------------------------------------------------------- judging with the verifier: alone, and the cascade

RUBRIC_YAML = """\
id: apb-step
criteria:
  - id: step
    applies_to: [tool_call, decision, message]
    question: Is this step a correct move toward answering the user's question?
    scale: {type: labels, labels: [correct, neutral, error], failing: [error]}
"""


@pytest.fixture
def trained(hotpotqa_store, tmp_path):
    copy = tmp_path / "j.db"
    with Store(hotpotqa_store) as store:
        store.copy_to(copy)
    result = cli.invoke(
        app,
        [
            "verifier",
            "train",
            "--criterion",
            "step",
            "--name",
            "ref",
            "--reference-features",
            "--target",
            "0.85",
            "--traces",
            str(HOTPOTQA),
            "--db",
            str(copy),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "decides 0%" not in result.output and "abstains on everything" not in result.output
    rubric = tmp_path / "r.yaml"
    rubric.write_text(RUBRIC_YAML)
    return copy, rubric


def test_the_verifier_alone_decides_in_milliseconds_and_sends_its_abstentions_to_people(trained):
    from chainjudge.review import queue as review

    db, rubric = trained
    result = cli.invoke(app, ["judge", str(HOTPOTQA), "--rubric", str(rubric), "--verifier", "ref", "--run", "v", "--db", str(db)])
    assert result.exit_code == 1, result.output  # abstentions are stored as unscored judgments
    with Store(db) as store:
        judged = list(store.judgments("v"))
        decided = [j for j in judged if j.verdict is not None]
        abstained = [j for j in judged if j.error_kind == "abstained"]
        assert decided and abstained and len(decided) + len(abstained) == len(judged)
        assert all(j.judge.startswith("verifier:ref@") and j.label_probs for j in decided)
        assert {j.verdict.label for j in decided} <= {"correct", "error"}
        review.refresh_queue(store)
        first = review.queue_page(store, size=len(abstained))
    assert first and all(item.kind == "abstained" for item in first)  # people see the abstentions first


def test_the_cascade_asks_the_model_only_where_the_verifier_abstains(trained, fake_judge):
    db, rubric = trained
    result = cli.invoke(
        app,
        [
            "judge",
            str(HOTPOTQA),
            "--rubric",
            str(rubric),
            "--verifier",
            "ref",
            "--judge",
            "openai/fake",
            "--api-base",
            fake_judge.url,
            "--run",
            "c",
            "--db",
            str(db),
        ],
    )
    assert result.exit_code == 0, result.output
    with Store(db) as store:
        judged = list(store.judgments("c"))
    by_verifier = [j for j in judged if j.judge.startswith("verifier:")]
    by_model = [j for j in judged if not j.judge.startswith("verifier:")]
    assert by_verifier and by_model and all(j.verdict is not None for j in judged)
    assert len(fake_judge.requests) == len(by_model)  # no call for what the verifier decided
    assert f"abstained on {len(by_model)}" in " ".join(result.output.split())


def test_a_verifier_for_another_criterion_is_refused(trained, tmp_path):
    db, _ = trained
    other = tmp_path / "other.yaml"
    other.write_text(RUBRIC_YAML.replace("id: step", "id: grounded"))
    result = cli.invoke(app, ["judge", str(HOTPOTQA), "--rubric", str(other), "--verifier", "ref", "--db", str(db)])
    assert result.exit_code == 2 and "does not have" in result.output


# ---------------------------------------------------------------- prediction-powered rates


def test_prediction_powered_intervals_reach_nominal_coverage():
    """A population of 2,000 run items whose true failure rate is 0.2, a machine that misses a third of
    failures and raises false alarms on 5% of passes, and 200 simulated subsets of 150 items people
    labelled: the 95% interval covers the true rate in at least 90% of them, and is narrower than the
    interval of people's labels alone."""
    from chainjudge.analysis.corrected import prediction_powered_rate
    from chainjudge.analysis.stats import wilson_interval

    rng = np.random.default_rng(11)
    covered, narrower, trials = 0, 0, 200
    for _ in range(trials):
        truth = rng.uniform(size=2000) < 0.2
        machine = np.where(truth, rng.uniform(size=2000) < 2 / 3, rng.uniform(size=2000) < 0.05)
        labelled = rng.choice(2000, size=150, replace=False)
        estimate = prediction_powered_rate(machine.tolist(), list(zip(truth[labelled].tolist(), machine[labelled].tolist(), strict=True)))
        covered += estimate.low <= truth.mean() <= estimate.high
        low, high = wilson_interval(int(truth[labelled].sum()), 150)
        narrower += (estimate.high - estimate.low) < (high - low)
    assert covered / trials >= 0.9, covered / trials
    assert narrower / trials >= 0.9


def test_too_few_labels_give_no_prediction_powered_rate():
    from chainjudge.analysis.corrected import prediction_powered_rate

    assert prediction_powered_rate([True, False] * 50, [(True, True)] * 5) is None


# ---------------------------------------------------------------- another run's verdicts as features


def _simulated_run(db, name: str, agreement: float, seed: int) -> None:
    """A judge run over every human-labelled step, agreeing with people with probability AGREEMENT."""
    import yaml

    from chainjudge.core.judges.resolve import JudgeSettings
    from chainjudge.core.rubric import parse_rubric
    from chainjudge.core.schema import Judgment, Run, Verdict

    rubric = parse_rubric(yaml.safe_load(RUBRIC_YAML))
    rng = random.Random(seed)
    with Store(db) as store:
        store.save_run(Run(name=name, rubric_id=rubric.id, rubric_hash="h", judge=JudgeSettings(model="openai/sim"), rubric=rubric))
        judged = []
        for label in store.labels():
            if not label.step_key:
                continue
            fails = label.value == "error"
            said = fails if rng.random() < agreement else not fails
            judged.append(
                Judgment(
                    run=name,
                    trace_id=label.trace_id,
                    step_index=int(label.step_key),
                    step_ref=label.step_key,
                    criterion_id="step",
                    verdict=Verdict(rationale="simulated", label="error" if said else "correct"),
                    passed=not said,
                    judge="openai/sim",
                    rubric_id=rubric.id,
                    rubric_hash="h",
                    prompt_hash="p",
                    cache_key=f"{name}:{label.trace_id}:{label.step_key}",
                )
            )
        store.add_judgments(judged)


def test_a_judge_runs_verdicts_are_kept_as_features_only_where_they_help(trained):
    db, _ = trained
    _simulated_run(db, "informative", 0.9, 1)
    _simulated_run(db, "noise", 0.5, 2)
    helped = cli.invoke(
        app, ["verifier", "train", "--criterion", "step", "--name", "with-judge", "--from-run", "informative", "--db", str(db)]
    )
    assert helped.exit_code == 0, helped.output
    assert "kept as features (step)" in helped.output
    noise = cli.invoke(app, ["verifier", "train", "--criterion", "step", "--name", "with-noise", "--from-run", "noise", "--db", str(db)])
    assert noise.exit_code == 0, noise.output
    assert "left out" in noise.output
    with Store(db) as store:
        assert store.verifier("with-judge").run_criteria == ["step"] and store.verifier("with-noise").run_criteria == []
    tested = cli.invoke(app, ["verifier", "test", "with-judge", "--db", str(db), "--bootstrap", "100"])
    assert tested.exit_code == 0, tested.output


def test_a_run_of_a_judge_that_learned_from_labels_is_refused_as_features(trained):
    db, rubric = trained
    assert (
        cli.invoke(app, ["judge", str(HOTPOTQA), "--rubric", str(rubric), "--verifier", "ref", "--run", "v", "--db", str(db)]).exit_code
        == 1
    )
    result = cli.invoke(app, ["verifier", "train", "--criterion", "step", "--name", "leaky", "--from-run", "v", "--db", str(db)])
    assert result.exit_code == 2 and "learned from labels" in result.output


def test_the_review_app_shows_an_abstention_with_the_tune_steps_most_alike(trained):
    from test_attacks_review import _all_text, _app

    db, rubric = trained
    assert (
        cli.invoke(app, ["judge", str(HOTPOTQA), "--rubric", str(rubric), "--verifier", "ref", "--run", "v", "--db", str(db)]).exit_code
        == 1
    )
    at = _app(db).run()
    at.text_input(key="name").input("rita")
    at.button[0].click().run()
    assert not at.exception, at.exception
    text = _all_text(at)
    assert "abstained" in text and "most alike" in text
    assert text.count("people said") == 3


def test_show_states_what_the_verifiers_decisions_may_be_trusted_for(trained):
    db, rubric = trained
    assert (
        cli.invoke(app, ["judge", str(HOTPOTQA), "--rubric", str(rubric), "--verifier", "ref", "--run", "v", "--db", str(db)]).exit_code
        == 1
    )
    shown = " ".join(cli.invoke(app, ["show", "v", "--db", str(db)]).output.split())
    assert "agreement >= 85% with people on what it decides, at risk 0.1" in shown
    assert "unknown until people label them" in shown and "chainjudge verifier test ref" in shown


# ---------------------------------------------------------------- abstentions in the go-live score and the gate


def test_unscored_items_of_a_trusted_critical_criterion_count_as_failing_at_the_low_end():
    from chainjudge.analysis.coverage import go_live_score
    from chainjudge.core.schema import CriticalEvidence

    def critical_term(**evidence):
        score = go_live_score(
            decision=(10, 10), critical=CriticalEvidence(criteria=1, **evidence), coverage_weighted=1.0, consistency=1.0, open_modes=[]
        )
        return score, next(t for t in score.terms if t.name == "critical_pass_rate")

    all_decided, decided_term = critical_term(passed=90, total=90)
    with_abstentions, abstained_term = critical_term(passed=90, total=90, unscored_items=60)
    assert decided_term.known and not abstained_term.known
    assert abstained_term.low < 0.7 < decided_term.low  # 90 passed of 150 at the low end, not 90 of 90
    assert abstained_term.high > 0.95 and "60 items of trusted criteria have no verdict" in abstained_term.explanation
    assert with_abstentions.score < all_decided.score


def test_a_verifier_runs_abstentions_are_unknown_evidence_and_its_trust_says_on_how_many_it_decided(trained, tmp_path):
    from chainjudge.core.schema import GatePolicy, ScenarioSpace, TrustPolicy
    from chainjudge.workflows.golive import gather_evidence

    db, rubric = trained
    rubric.write_text(RUBRIC_YAML.replace("    question:", "    severity: critical\n    question:"))
    result = cli.invoke(app, ["judge", str(HOTPOTQA), "--rubric", str(rubric), "--verifier", "ref", "--run", "crit", "--db", str(db)])
    assert result.exit_code == 1, result.output
    space = ScenarioSpace.model_validate(
        {"id": "s", "grid": ["kind"], "dimensions": {"kind": {"field": "source_format", "values": ["agentprocessbench"]}}}
    )
    with Store(db) as store:
        judged = list(store.judgments("crit"))
        abstained = sum(1 for j in judged if j.passed is None)
        # this verifier's TPR lower bound on what it decides is 0.53: trusted under a policy that asks 0.5
        evidence = gather_evidence(store, "crit", space, policy=GatePolicy(trust=TrustPolicy(min_tpr_low=0.5)))
        strict = gather_evidence(store, "crit", space)
    assert 0 < abstained < len(judged)
    assert strict.row("step").trust == "needs review"  # the default policy: abstentions are not misses, TPR decides
    row = evidence.row("step")
    assert row.trust.startswith("trusted") and f"on the {len(judged) - abstained}/{len(judged)} items it decided" in row.trust
    term = next(t for t in evidence.score.terms if t.name == "critical_pass_rate")
    assert not term.known and f"{abstained} items of trusted criteria have no verdict" in term.explanation


def test_the_review_app_retrains_a_verifier_from_new_labels_in_the_background(trained):
    """An adjudication on a tune step changes what the verifier learns from; the Calibration tab's verifier
    panel retrains it with the settings of the version shown, as a child process, and a new version appears."""
    import time

    from test_attacks_review import _app

    db, _ = trained
    with Store(db) as store:
        before = store.verifier("ref")
        split = store.split()
        people = [label for label in store.labels(criterion="step") if split.get(label.trace_id) == "tune"]
        flipped = [
            Label(
                trace_id=label.trace_id,
                step_ref=label.step_ref,
                step_index=label.step_index,
                criterion="step",
                value="correct" if label.value == "error" else "error",
                annotator="review:rita",
                kind="human",
            )
            for label in people[:40]
        ]
        store.add_labels(flipped)
    at = _app(db).run()
    at.text_input(key="name").input("rita")
    at.button[0].click().run()
    assert not at.exception, at.exception
    panel = [d.value for d in at.dataframe if "tune labels now" in d.value.columns]
    assert panel and panel[0].iloc[0]["verifier"] == before.tag
    at.button(key="retrain-ref").click().run()
    assert not at.exception, at.exception
    assert any("Started" in s.value for s in at.success)
    from chainjudge.ui import background_jobs

    deadline = time.monotonic() + 120
    with Store(db) as store:
        while background_jobs.status(store, "ref", "retrain").running and time.monotonic() < deadline:
            time.sleep(0.5)
        after = store.verifier("ref")
        log = background_jobs.status(store, "ref", "retrain").last_line
    assert after.version != before.version, log
    assert after.reference_features and after.selective.target == before.selective.target  # its own settings
    assert after.label_set_hash != before.label_set_hash
    at.run()
    assert any(t.value.startswith("last retraining of ref:") for t in at.text)


def test_several_verifiers_judge_their_own_criteria_in_one_run(trained, tmp_path):
    """`--verifier` is repeatable, one per criterion: each criterion is decided (or abstained on) by its own
    verifier in one run, `show` states each one's guarantee, and two verifiers for one criterion are refused."""
    db, rubric = trained
    with Store(db) as store:
        store.add_labels([label.model_copy(update={"criterion": "step2"}) for label in store.labels(criterion="step")])
    second = cli.invoke(app, ["verifier", "train", "--criterion", "step2", "--name", "plain2", "--target", "0.85", "--db", str(db)])
    assert second.exit_code == 0, second.output
    rubric.write_text(
        RUBRIC_YAML
        + """  - id: step2
    applies_to: [tool_call, decision, message]
    question: The same question, asked of a second criterion.
    scale: {type: labels, labels: [correct, neutral, error], failing: [error]}
"""
    )
    result = cli.invoke(
        app,
        ["judge", str(HOTPOTQA), "--rubric", str(rubric), "--verifier", "ref", "--verifier", "plain2", "--run", "both", "--db", str(db)],
    )
    assert result.exit_code == 1, result.output  # abstentions are unscored
    with Store(db) as store:
        judged = list(store.judgments("both"))
        verifiers = {v.name: v for v in store.verifiers()}
    by = {c: {j.judge for j in judged if j.criterion_id == c and j.verdict is not None} for c in ("step", "step2")}
    assert by["step"] == {f"verifier:{verifiers['ref'].tag}"} and by["step2"] == {f"verifier:{verifiers['plain2'].tag}"}
    assert any(j.error_kind == "abstained" and j.criterion_id == "step2" for j in judged)
    shown = " ".join(cli.invoke(app, ["show", "both", "--db", str(db)]).output.split())
    assert f"verifier {verifiers['ref'].tag} on step:" in shown and f"verifier {verifiers['plain2'].tag} on step2:" in shown
    twice = cli.invoke(
        app, ["judge", str(HOTPOTQA), "--rubric", str(rubric), "--verifier", "ref", "--verifier", "ref", "--run", "twice", "--db", str(db)]
    )
    assert twice.exit_code == 2 and "two verifiers for criterion 'step'" in twice.output
