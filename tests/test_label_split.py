"""The sealed test split: whole traces to tune or test, stratified, reproducible, stored; every look at
test is recorded and a second look by the same judge version is warned about."""

from __future__ import annotations

import pytest
from conftest import HOTPOTQA, SHARED
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from chainjudge.analysis.splits import assign_split
from chainjudge.cli import app
from chainjudge.core.schema import Label

MAP = ["--map", "1=correct", "--map", "0=neutral", "--map", "-1=error"]
FAILING = {"error", "fail"}


def label(trace: str, step: int, value: str) -> Label:
    return Label(trace_id=trace, step_ref=str(step), criterion="step", value=value, annotator="h", kind="human")


labels_strategy = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 5), st.sampled_from(["correct", "neutral", "error"])), min_size=1, max_size=200
)


@given(labels_strategy, st.floats(0.1, 0.9), st.integers(0, 10_000))
@settings(max_examples=200, deadline=None)
def test_whole_traces_stratified_and_reproducible(rows, share, seed):
    labels = [label(f"t{t}", s, v) for t, s, v in rows]
    split = assign_split(labels, share, seed, FAILING)
    assert set(split) == {lab.trace_id for lab in labels}  # every labelled trace, each in exactly one side
    assert split == assign_split(list(reversed(labels)), share, seed, FAILING)  # order of the labels does not matter
    failing = {lab.trace_id for lab in labels if lab.value in FAILING}
    for stratum in (failing, set(split) - failing):
        if len(stratum) >= 2:  # both sides hold traces of each stratum
            assert {split[t] for t in stratum} == {"tune", "test"}


def test_a_bad_share_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        assign_split([label("t", 0, "error")], 1.0, 0, FAILING)


@pytest.fixture
def labelled(tmp_path):
    db = tmp_path / "s.db"
    cli = CliRunner()
    assert (
        cli.invoke(app, ["labels", "import", str(HOTPOTQA), "--annotator", "human", "--kind", "human", *MAP, "--db", str(db)]).exit_code
        == 0
    )
    judge = SHARED / "agentprocessbench" / "judges" / "GPT-5.2-Chat.jsonl"
    assert cli.invoke(app, ["labels", "import", str(judge), "--annotator", "gpt", "--kind", "judge", *MAP, "--db", str(db)]).exit_code == 0
    return db


def test_split_is_stored_listed_and_guarded(labelled):
    cli = CliRunner()
    first = cli.invoke(app, ["labels", "split", "--test-share", "0.3", "--seed", "7", "--db", str(labelled)])
    assert first.exit_code == 0 and "test:" in first.output and "tune:" in first.output
    again = cli.invoke(app, ["labels", "split", "--test-share", "0.3", "--seed", "7", "--db", str(labelled)])
    assert "unchanged" in again.output
    other = cli.invoke(app, ["labels", "split", "--test-share", "0.5", "--seed", "7", "--db", str(labelled)])
    assert other.exit_code == 2 and "--force" in other.output
    listed = cli.invoke(app, ["labels", "list", "--db", str(labelled)])
    assert "split (seed 7, test share 0.3)" in listed.output


def test_agreement_on_the_test_split_counts_every_look(labelled):
    cli = CliRunner()
    assert cli.invoke(app, ["labels", "split", "--test-share", "0.3", "--seed", "7", "--db", str(labelled)]).exit_code == 0
    args = ["agreement", "--reference", "human", "--against", "gpt", "--criterion", "step", "--bootstrap", "50", "--db", str(labelled)]
    whole = cli.invoke(app, args + ["--json"])
    tune = cli.invoke(app, args + ["--split", "tune", "--json"])
    first = cli.invoke(app, args + ["--split", "test"])
    assert whole.exit_code == tune.exit_code == first.exit_code == 0, first.output
    assert "looked at 1 time(s) by gpt" in first.output and "warning" not in first.output
    second = cli.invoke(app, args + ["--split", "test"])
    assert "looked at 2 time(s) by gpt" in second.output and "warning" in second.output
    import json

    items = {name: json.loads(result.output)[0]["reference_items"] for name, result in (("whole", whole), ("tune", tune))}
    assert 0 < items["tune"] < items["whole"]  # the tune side is a part of the labelled items


def test_a_new_aligned_version_is_a_new_judge_for_the_look_count():
    from chainjudge.analysis.splits import judge_version
    from chainjudge.core.schema import JudgeSettings, Run

    def run(aligned):
        return Run(name="r", rubric_id="step-quality", rubric_hash="h1", judge=JudgeSettings(model="openai/m", aligned=aligned))

    plain, first, second = run(None), run("mine@aaaa"), run("mine@bbbb")
    assert len({judge_version(plain), judge_version(first), judge_version(second)}) == 3  # before: all "openai/m@h1"
    assert judge_version(first) == judge_version(run("mine@aaaa"))
