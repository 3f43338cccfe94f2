"""Real runs on a judge server that works one call at a time: calls in flight never exceed its slots,
timeouts back the concurrency off like 429s, the steps of a trace run one after another (prefix cache),
progress is printed as plain lines when nobody watches a terminal, and the demo states the expected time
of the rest from the measured rate."""

from __future__ import annotations

import asyncio
import io

from rich.console import Console
from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.core.engine import Progress, plan
from chainjudge.core.judges.litellm_judge import LiteLLMJudge
from chainjudge.core.judges.retry import RetryPolicy
from chainjudge.core.limiter import AdaptiveLimiter
from chainjudge.core.progress import live_progress
from chainjudge.core.schema import JudgeSettings, Trace
from chainjudge.pipeline import judge_traces
from chainjudge.testing.fakejudge import Action, FakeJudgeServer
from chainjudge.testing.mock import MockJudge


def traces(n: int, steps: int = 3) -> list[Trace]:
    return [
        Trace(
            id=f"t{k}",
            steps=[
                {"index": i, "ref": str(i), "kind": "decision" if i == steps - 1 else "tool_call", "text": f"trace {k} step {i}"}
                for i in range(steps)
            ],
        )
        for k in range(n)
    ]


class OneSlotJudge(MockJudge):
    """A judge whose server works on one call at a time; records the most calls it ever had in flight."""

    max_in_flight = 1

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = self.peak = 0

    async def judge(self, item, limiter=None):
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        return await super().judge(item, limiter)


def test_calls_in_flight_never_exceed_the_servers_slots(store, rubric):
    judge = OneSlotJudge()
    outcome = judge_traces(traces(4), rubric, JudgeSettings(model="mock/one-slot"), judge, store, "r", concurrency=8)
    assert judge.peak == 1 and outcome.capped and outcome.concurrency == 1 and outcome.asked_concurrency == 8
    assert len(judge.calls) == outcome.planned


def test_the_local_judge_declares_one_slot():
    from chainjudge.core.judges.local import LocalServer

    assert LocalServer(model_path=None).slots == 1  # llama-cpp-python's server: one request at a time


def test_the_local_server_keeps_every_tokens_logits_only_when_label_probabilities_are_wanted(monkeypatch, tmp_path):
    """llama-cpp-python keeps every token's logits by default (a 2.5 GB array at 4096 tokens, and the output
    layer run on every prompt token); only token log-probabilities need them, so plain judging turns it off."""
    import chainjudge.core.judges.local as local
    from chainjudge.core.judges.resolve import open_judge

    started = []

    class Recorded(local.LocalServer):
        def __enter__(self):
            started.append(self.command())
            return self

        def __exit__(self, *exc):
            return None

    monkeypatch.setattr(local, "LocalServer", Recorded)
    monkeypatch.setattr(local, "ensure_model", lambda: tmp_path / "model.gguf")
    for thresholds, label_probs in ((None, None), ({"step": 0.3}, None), (None, True)):
        with open_judge("local", thresholds=thresholds, label_probs=label_probs):
            pass
    flags = [command[command.index("--logits_all") + 1] for command in started]
    assert flags == ["false", "true", "true"]


def test_the_cli_says_when_it_caps_concurrency(tmp_path, fake_judge, monkeypatch):
    import chainjudge.core.judges.resolve as resolve

    real = resolve.LiteLLMJudge
    monkeypatch.setattr(resolve, "LiteLLMJudge", lambda *a, **k: real(*a, **{**k, "max_in_flight": 2}))
    path = tmp_path / "t.jsonl"
    path.write_text("".join(t.model_dump_json() + "\n" for t in traces(2)))
    result = CliRunner().invoke(
        app,
        [
            "judge",
            str(path),
            "--rubric",
            "rubrics/step-quality.yaml",
            "--judge",
            "openai/fake",
            "--api-base",
            fake_judge.url,
            "--db",
            str(tmp_path / "x.db"),
            "--concurrency",
            "8",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "--concurrency 8 capped to 2" in " ".join(result.output.split())


def test_timeouts_back_off_the_calls_in_flight_and_are_retried():
    limiter = AdaptiveLimiter(8, cooldown_s=0)
    limiter.on_timeout()
    assert limiter.limit == 4 and limiter.timed_out == 1 and limiter.rate_limited == 0
    import pathlib
    import tempfile

    from chainjudge.core.engine import execute
    from chainjudge.core.rubric import parse_rubric
    from chainjudge.core.store import Store

    rubric = parse_rubric({"id": "r", "criteria": [{"id": "ok", "question": "OK?", "applies_to": ["decision"]}]})
    with FakeJudgeServer() as server, Store(pathlib.Path(tempfile.mkdtemp()) / "t.db") as store:
        server.enqueue(Action(delay_s=1.5), Action(delay_s=1.5))  # the first two answers come too late
        settings = JudgeSettings(model="openai/fake", api_base=server.url, batch=True)
        judge = LiteLLMJudge(settings, retry=RetryPolicy(initial_wait_s=0, jitter_s=0, max_wait_s=0, request_timeout_s=0.5), api_key="x")
        from chainjudge.core.rubric import rubric_hash
        from chainjudge.core.schema import Run

        store.save_run(Run(name="r", rubric_id="r", rubric_hash=rubric_hash(rubric), rubric=rubric, judge=settings))
        items = plan(traces(4, steps=1), rubric, settings, "r")
        progress = asyncio.run(execute(items, judge, store, concurrency=4))
        stored = list(store.judgments("r"))
    assert progress.timed_out >= 1 and progress.lowest_concurrency < 4  # backed off ...
    assert len(stored) == 4 and all(j.error is None for j in stored)  # ... and every item still judged


def test_the_steps_of_one_trace_are_planned_one_after_another(rubric):
    items = plan(traces(5), rubric, JudgeSettings(model="m"), "r")
    order = [i.trace_id for i in items]
    assert order == sorted(order, key=lambda t: int(t[1:]))  # contiguous per trace: the shared prefix stays cached


def test_off_a_terminal_progress_is_printed_as_plain_lines():
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=60)  # narrower than a line: never wrapped
    now = [0.0]
    with live_progress(console, "judging", every_s=30, clock=lambda: now[0]) as (on_start, on_progress):
        on_start(100)
        p = Progress(total=100)
        on_progress(p)  # as the engine does once, before any call (items already stored are done)
        for done in range(1, 61):
            now[0] += 1.0  # 60 items in 60 s
            p.done = done
            on_progress(p)
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "judging: 100 work items"
    assert len([label for label in lines if "done" in label]) == 3  # at 30 s, at 60 s, and at the end
    last = lines[-1]
    assert "60/100 done (60%)" in last and "60.0/min" in last and "ETA 00m40s" in last and "errors 0" in last


def test_the_demo_states_the_expected_time_of_the_rest():
    from chainjudge.core.schema import Judgment
    from chainjudge.packs.cep.commands.demo_run import expected_time

    judged = [
        Judgment(
            run="r",
            cache_key="k",
            trace_id="t",
            step_index=0,
            step_ref="0",
            criterion_id="c",
            judge="local",
            rubric_id="r",
            rubric_hash="h",
            prompt_hash="p",
            latency_s=s,
        )
        for s in (10.0, 20.0)
    ]
    assert expected_time(judged, 345) == "~15 s each as measured on the sample, so about 1 h 26 min"
    assert "unknown" in expected_time([], 345)
