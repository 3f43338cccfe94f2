"""Failure attribution on the Who&When hand-crafted logs (58 failed Magentic-One runs, MIT): agents kept on
steps, annotations read as labels and never as trace content, the benchmark's random baseline reproduced
from the logs, and the strategies scored against the annotations through the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from chainjudge.analysis.attribution import agent_at_annotated_step, annotated_attributions, random_baseline, score
from chainjudge.cli import app
from chainjudge.core.store import Store
from chainjudge.pipeline import load_traces
from chainjudge.testing.fakejudge import FakeJudgeServer

LOGS = Path(__file__).resolve().parent / "data" / "who-and-when" / "hand-crafted"


@pytest.fixture(scope="module")
def loaded():
    return load_traces([LOGS])


def test_every_log_is_one_trace_with_its_agents_and_no_answer_key(loaded):
    assert len(loaded.traces) == 58 and len({t.id for t in loaded.traces}) == 58 and not loaded.errors
    first = next(t for t in loaded.traces if t.id.startswith("1:"))
    assert first.steps[0].kind.value == "user" and first.steps[0].agent_kind == "human"
    thought = first.steps[1]
    assert (thought.agent, thought.agent_kind, thought.kind.value) == ("Orchestrator", "orchestrator", "reasoning")
    instruction = first.steps[3]
    assert instruction.metadata == {"role": "Orchestrator (-> WebSurfer)", "to": "WebSurfer"}
    assert first.steps[4].agent == "WebSurfer" and first.steps[4].agent_kind == "worker"
    for trace in loaded.traces:  # who failed, where and why are labels, never something a judge could read
        assert not {"mistake_agent", "mistake_step", "mistake_reason"} & set(trace.metadata)
        assert "question" in trace.metadata and "ground_truth" in trace.metadata


def test_a_single_agent_history_keeps_no_agent_fields_and_its_version():
    """Plain chats are untouched: no agent fields, so their stored JSON (and content version) is unchanged."""
    from chainjudge.reading import conversation as history

    trace = history.parse({"history": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}, "x.json", "item-0")
    assert all(s.agent is None for s in trace.steps)
    assert '"agent"' not in trace.model_dump_json()


def test_the_random_baseline_is_reproduced_from_the_logs(loaded):
    """The benchmark's random baseline: mean of 1/#agents and of 1/#steps over the 58 logs.  Counting each
    role string as the log writes it gives the published 19.06 agent-level; step-level 4.16."""
    baseline = random_baseline(loaded.traces)
    assert round(100 * baseline.agent_by_role, 2) == 19.06
    assert round(100 * baseline.step, 2) == 4.16
    assert round(100 * baseline.agent_by_agent, 2) == 29.20


def _store(tmp_path, logs: list[Path]) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    for log in logs:
        shutil.copy(log, folder / log.name)
    db = tmp_path / "a.db"
    cli = CliRunner()
    imported = cli.invoke(app, ["labels", "import", str(folder), "--db", str(db)])
    assert imported.exit_code == 0, imported.output
    return folder, db


def _judged_run(tmp_path, logs: list[Path], applies_to: list[str], answer) -> Path:
    """The logs stored with their annotations and judged as run "ma" by a scripted judge; the store."""
    folder, db = _store(tmp_path, logs)
    rubric = tmp_path / "r.yaml"
    rubric.write_text(yaml.safe_dump({"id": "ma", "criteria": [{"id": "ok", "question": "Is this step right?", "applies_to": applies_to}]}))
    with FakeJudgeServer(answer=answer) as server:
        judged = CliRunner().invoke(
            app,
            [
                "judge",
                str(folder),
                "--rubric",
                str(rubric),
                "--judge",
                "openai/fake",
                "--api-base",
                server.url,
                "--run",
                "ma",
                "--db",
                str(db),
            ],
        )
    assert judged.exit_code == 0, judged.output
    return db


def _fails_web_actions(body) -> dict:
    """A scripted verdict: steps where the web surfer typed or clicked fail."""
    step = body["messages"][-1]["content"]
    return {"rationale": "r", "label": "fail" if "I typed" in step or "clicked" in step else "pass"}


def test_annotations_are_imported_as_labels_and_match_the_agents_at_their_steps(tmp_path, loaded):
    folder, db = _store(tmp_path, sorted(LOGS.glob("*.json")))
    with Store(db) as store:
        truth = annotated_attributions(store.labels(criterion="attribution"))
    assert len(truth) == 58
    one = truth["1:item-0"]
    assert (one.agent, one.step) == ("WebSurfer", 12)
    hits, checked = agent_at_annotated_step({t.id: t for t in loaded.traces}, truth)
    assert (hits, checked) == (55, 58)  # three annotations name another agent than the one at their step


def test_all_at_once_asks_one_call_per_trace_with_the_fenced_log_and_scores_it(tmp_path):
    logs = [LOGS / f"{i}.json" for i in range(1, 9)]
    folder, db = _store(tmp_path, logs)
    truth = {json.loads(p.read_text())["mistake_agent"]: 0 for p in logs}
    answers = {"agent": "WebSurfer", "step": 12, "reason": "it clicked the wrong link"}
    out = tmp_path / "attribution.json"
    with FakeJudgeServer(answer=lambda body: answers) as server:
        result = CliRunner().invoke(
            app,
            ["attribute", "--judge", "openai/fake", "--api-base", server.url, "--traces", str(folder), "--db", str(db), "--out", str(out)],
        )
        prompts = [" ".join(m["content"] for m in r["body"]["messages"]) for r in server.requests]
    assert result.exit_code == 0, result.output
    assert len(prompts) == 8 and all("<<<DATA-" in p and "[step 0] human" in p for p in prompts)
    assert not any("mistake" in p.lower() and "WebSurfer clicks" in p for p in prompts)  # the reasons never reach the judge
    assert not any("The correct answer to the task" in p for p in prompts)  # without --ground-truth
    data = json.loads(out.read_text())
    strategy = next(iter(data["strategies"].values()))
    expected_agent = sum(json.loads(p.read_text())["mistake_agent"].lower() == "websurfer" for p in logs)
    expected_step = sum(int(json.loads(p.read_text())["mistake_step"]) == 12 for p in logs)
    assert strategy["agent_accuracy"]["value"] == pytest.approx(expected_agent / 8) and strategy["agent_accuracy"]["n"] == 8
    assert strategy["step_accuracy"]["value"] == pytest.approx(expected_step / 8)
    assert strategy["calls"] == 8 and strategy["prompt_tokens"] > 0
    assert truth  # the logs carry annotations the test knows


def test_the_first_failing_step_of_a_judged_run_names_its_agent(tmp_path):
    """A run whose judge fails every step by WebSurfer: its first failing step per trace is the first
    WebSurfer step, and the strategy is scored against the annotations."""

    def answer(body):
        step = body["messages"][-1]["content"]
        return {"rationale": "r", "label": "fail" if "Address:" in step or "I typed" in step or "clicked" in step else "pass"}

    db = _judged_run(tmp_path, [LOGS / f"{i}.json" for i in range(1, 6)], ["message", "decision"], answer)
    result = CliRunner().invoke(app, ["attribute", "--run", "ma", "--db", str(db), "--out", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    with Store(db) as store:
        traces = {t: store.get_trace(t) for t in annotated_attributions(store.labels(criterion="attribution"))}
        failed = [j for j in store.judgments("ma") if j.passed is False]
        truth = annotated_attributions(store.labels(criterion="attribution"))
    first = {}
    for j in failed:
        first[j.trace_id] = min(first.get(j.trace_id, 10**9), j.step_index)
    assert first  # the scripted judge failed something
    data = json.loads((tmp_path / "a.json").read_text())
    predictions = next(iter(data["strategies"].values()))["predictions"]
    for trace_id, index in first.items():
        assert predictions[trace_id] == {"agent": traces[trace_id].steps[index].agent, "step": index}
    from chainjudge.analysis.attribution import Attribution

    expected = score("x", {t: Attribution(t, p["agent"], p["step"]) for t, p in predictions.items()}, truth)
    assert next(iter(data["strategies"].values()))["agent_accuracy"]["value"] == expected.agent_accuracy.value


def test_a_run_with_probabilities_also_names_its_highest_p_fail_step(tmp_path):
    """Judgments carrying label probabilities (a verifier's P(fail)): the step with the highest P(fail) per
    trace, scored beside the first failing step; placed at each annotated step, it scores 100%."""
    from chainjudge.core.schema import Judgment, Verdict

    logs = [LOGS / f"{i}.json" for i in range(1, 4)]
    db = _judged_run(tmp_path, logs, ["message"], lambda body: {"rationale": "r", "label": "pass"})
    with Store(db) as store:
        truth = annotated_attributions(store.labels(criterion="attribution"))
        extra = []
        for trace_id, want in truth.items():
            trace = store.get_trace(trace_id)
            for step in trace.steps:
                p_fail = 0.9 if step.index == want.step else 0.2
                extra.append(
                    Judgment(
                        run="ma",
                        trace_id=trace_id,
                        step_index=step.index,
                        step_ref=step.ref,
                        criterion_id="verified",
                        verdict=Verdict(rationale="v", label="pass"),
                        passed=True,
                        judge="verifier:v@1",
                        rubric_id="ma",
                        rubric_hash="h",
                        prompt_hash="p",
                        cache_key=f"v-{trace_id}-{step.index}",
                        label_probs={"fail": p_fail, "pass": 1 - p_fail},
                    )
                )
        store.add_judgments(extra)
    out = tmp_path / "a.json"
    result = CliRunner().invoke(app, ["attribute", "--run", "ma", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    strategies = json.loads(out.read_text())["strategies"]
    likeliest = strategies["highest P(fail) step of run ma"]
    assert likeliest["step_accuracy"]["value"] == 1.0 and likeliest["step_accuracy"]["n"] == 3
    assert likeliest["agent_accuracy"]["value"] == pytest.approx(
        sum(t.steps[truth[t.id].step].agent == truth[t.id].agent for t in load_traces([*logs]).traces) / 3
    )


def test_attribute_without_annotations_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["attribute", "--db", str(tmp_path / "empty.db")])
    assert result.exit_code == 2 and "no 'attribution' labels" in result.output and "Traceback" not in result.output


def test_group_chat_speakers_and_otel_agent_spans_are_agents():
    """AutoGen-style group chats (every agent as role user/assistant with a name) and OpenTelemetry agent
    spans keep who spoke: not "user" steps that no rubric judges."""
    from chainjudge.reading import conversation as history

    chat = history.parse(
        {
            "history": [
                {"role": "user", "name": "user_proxy", "content": "Plan a win-back campaign."},
                {"role": "user", "name": "segment_analyst", "content": "Lapsed VIPs: 1,204 users."},
                {"role": "assistant", "name": "content_writer", "content": "Draft: we miss you."},
                {"role": "user", "name": "channel_router", "content": "Send by email at 10:00 local."},
            ]
        },
        "chat.json",
        "item-0",
    )
    assert [(s.agent, s.agent_kind, s.kind.value) for s in chat.steps] == [
        ("user_proxy", "human", "user"),
        ("segment_analyst", "worker", "message"),
        ("content_writer", "worker", "message"),
        ("channel_router", "orchestrator", "decision"),
    ]
    spans = load_traces([Path(__file__).resolve().parent / "data" / "trace-formats" / "otel-genai" / "any-agent_OPENAI_trace.json"])
    assert {s.agent for s in spans.traces[0].steps} == {"any_agent"}


def test_step_by_step_stops_at_the_first_yes_and_binary_search_halves(tmp_path):
    """Step by step asks about each step in order and stops at the first the judge calls decisive (here
    step 5: six calls per trace); binary search asks which half, about log2(steps) times (here always the
    first half: it ends at step 0)."""
    import math
    import re

    logs = [LOGS / f"{i}.json" for i in range(1, 5)]
    folder, db = _store(tmp_path, logs)

    def answer(body):
        prompt = body["messages"][-1]["content"]
        asked = re.search(r"Is step (\d+) the decisive", prompt)
        if asked:
            return {"reason": "r", "decisive": int(asked.group(1)) == 5}
        return {"reason": "r", "half": "first"}

    out = tmp_path / "a.json"
    with FakeJudgeServer(answer=answer) as server:
        result = CliRunner().invoke(
            app,
            [
                "attribute",
                "--judge",
                "openai/fake",
                "--api-base",
                server.url,
                "--strategy",
                "step-by-step",
                "--strategy",
                "binary-search",
                "--traces",
                str(folder),
                "--db",
                str(db),
                "--out",
                str(out),
            ],
        )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())["strategies"]
    steps = next(v for k, v in data.items() if k.startswith("step-by-step"))
    halves = next(v for k, v in data.items() if k.startswith("binary-search"))
    with Store(db) as store:
        traces = {t.id: t for t in (store.get_trace(i) for i in steps["predictions"])}
    assert steps["calls"] == 6 * 4 and all(
        p["step"] == 5 and p["agent"] == traces[t].steps[5].agent for t, p in steps["predictions"].items()
    )
    assert halves["calls"] == sum(math.ceil(math.log2(len(t.steps))) for t in traces.values())
    assert all(p["step"] == 0 for p in halves["predictions"].values())


def test_failure_modes_of_a_multi_agent_run_know_their_agents(tmp_path):
    """Clustering a multi-agent run's failing steps: each mode records the agents whose steps failed in it."""
    from chainjudge.workflows.modes import load_catalogue

    db = _judged_run(
        tmp_path,
        [LOGS / f"{i}.json" for i in range(1, 13)],
        ["message", "reasoning"],
        lambda body: {"rationale": "the web page did not load the requested page", "label": "fail"},
    )
    catalogue = tmp_path / "modes.yaml"
    clustered = CliRunner().invoke(app, ["cluster", "ma", "--catalogue", str(catalogue), "--db", str(db)])
    assert clustered.exit_code == 0, clustered.output
    modes = load_catalogue(catalogue).modes
    assert modes and all(mode.agents for mode in modes)
    with Store(db) as store:
        failed_agents = {store.get_trace(j.trace_id).steps[j.step_index].agent for j in store.judgments("ma") if j.passed is False}
    assert set().union(*(m.agents for m in modes)) <= failed_agents and "agents:" in " ".join(clustered.output.split())


def test_the_go_live_report_shows_each_agents_failure_rate(tmp_path):
    """A multi-agent run's report (JSON, Markdown, HTML) has a row per agent: judged steps, failed steps and
    the failure rate with its interval, counted from the run's judgments and the steps' agents."""
    db = _judged_run(tmp_path, [LOGS / f"{i}.json" for i in range(1, 6)], ["message", "reasoning"], _fails_web_actions)
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", "ma", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    agents = {a["agent"]: a for a in json.loads((out / "report.json").read_text())["agents"]}
    with Store(db) as store:
        expected: dict[str, list[int]] = {}
        for j in store.judgments("ma"):
            agent = store.get_trace(j.trace_id).steps[j.step_index].agent
            expected.setdefault(agent, [0, 0])
            expected[agent][0] += 1
            expected[agent][1] += j.passed is False
    assert {a: [row["judged"], row["failed"]] for a, row in agents.items()} == expected
    assert any(row["failed"] for row in agents.values()) and all(row["failure_rate"]["low"] is not None for row in agents.values())
    assert "| agent | kind |" in (out / "summary.md").read_text() and "Agents (multi-agent run)" in (out / "report.html").read_text()


def test_langfuse_agent_observations_name_the_agent_of_every_step_under_them():
    """A Langfuse export of a supervisor and two sub-agents (AGENT observations, each with a GENERATION):
    every step carries the agent above it; an export without AGENT observations keeps no agent fields."""
    from chainjudge.reading import langfuse

    def generation(id_, parent, text):
        return {
            "id": id_,
            "type": "GENERATION",
            "parentObservationId": parent,
            "name": "ChatOpenAI",
            "startTime": f"2026-01-01T00:00:0{id_[-1]}Z",
            "input": [{"role": "user", "content": "plan the campaign"}],
            "output": {"role": "assistant", "content": text},
        }

    export = {
        "trace": {"id": "lf-1"},
        "observations": [
            {"id": "a1", "type": "AGENT", "name": "supervisor", "startTime": "2026-01-01T00:00:00Z"},
            generation("g1", "a1", "route to the segment analyst"),
            {
                "id": "a2",
                "type": "AGENT",
                "name": "segment_analyst",
                "parentObservationId": "a1",
                "startTime": "2026-01-01T00:00:02Z",
                "metadata": {"attributes": {"gen_ai.agent.name": "segment-analyst"}},
            },
            generation("g3", "a2", "lapsed VIPs in TH"),
            {"id": "a4", "type": "AGENT", "name": "content_writer", "parentObservationId": "a1", "startTime": "2026-01-01T00:00:04Z"},
            generation("g5", "a4", "draft the LINE message in Thai"),
        ],
    }
    [trace] = [t for t in langfuse.parse_many([("r0", export)], "lf.json") if not hasattr(t, "reason")]
    by_text = {s.text: s.agent for s in trace.steps if s.text}
    assert by_text["route to the segment analyst"] == "supervisor"
    assert by_text["lapsed VIPs in TH"] == "segment-analyst"  # gen_ai.agent.name wins over the observation name
    assert by_text["draft the LINE message in Thai"] == "content_writer"
    plain = {"trace": {"id": "lf-2"}, "observations": [generation("g1", None, "hello")]}
    [single] = [t for t in langfuse.parse_many([("r0", plain)], "lf.json") if not hasattr(t, "reason")]
    assert all(s.agent is None for s in single.steps)
