"""Judge efficiency, chainjudge's side of the peer comparison in ../shared/PEERS.md: 400 steps (100
four-step traces) judged on K = 1 and K = 3 criteria against a fake judge with 200 ms latency, batched
(one request per step) and one request per criterion.

Prints per judged criterion: requests, prompt tokens (tiktoken cl100k over the messages; the JSON
schema sent as response_format counted apart), completion tokens, wall / ideal, client CPU, and the
requests a re-run makes.

    python bench/efficiency.py [--steps 400] [--latency 0.2] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import FakeJudgeProcess, machine, timed  # noqa: E402

from chainjudge.core.engine import plan  # noqa: E402
from chainjudge.core.judges.litellm_judge import LiteLLMJudge  # noqa: E402
from chainjudge.core.judges.retry import RetryPolicy  # noqa: E402
from chainjudge.core.judges.verdicts import batch_model, verdict_model  # noqa: E402
from chainjudge.core.rubric import parse_rubric  # noqa: E402
from chainjudge.core.schema import JudgeSettings, Trace  # noqa: E402
from chainjudge.core.store import Store  # noqa: E402
from chainjudge.pipeline import judge_traces  # noqa: E402

CRITERIA = [
    {
        "id": "grounded",
        "question": "Is the step supported by the profile and tool results?",
        "applies_to": ["reasoning", "tool_call", "decision", "message"],
    },
    {
        "id": "policy_ok",
        "question": "Does the step respect consent, quiet hours and frequency caps?",
        "applies_to": ["reasoning", "tool_call", "decision", "message"],
    },
    {
        "id": "offer_fits",
        "question": "Does any offer fit the user's segment and recency?",
        "applies_to": ["reasoning", "tool_call", "decision", "message"],
    },
]


def traces(n_steps: int) -> list[Trace]:
    out = []
    for t in range(n_steps // 4):
        out.append(
            Trace(
                id=f"e{t}",
                steps=[
                    {
                        "index": 0,
                        "ref": "0",
                        "kind": "user",
                        "text": f"Decide the next action for user {t}: lapsed {t % 60} days, TH, LINE friend, email consent.",
                    },
                    {
                        "index": 1,
                        "ref": "1",
                        "kind": "tool_call",
                        "tool_calls": [{"id": "c", "name": "profile_lookup", "arguments": json.dumps({"user": t})}],
                    },
                    {
                        "index": 2,
                        "ref": "2",
                        "kind": "reasoning",
                        "text": f"The user lapsed {t % 60} days ago and reads Thai; 10:{t % 60:02d} local is outside quiet hours.",
                    },
                    {
                        "index": 3,
                        "ref": "3",
                        "kind": "message",
                        "text": f"Plan: LINE message in Thai with WINBACK_{10 + t % 3 * 5} at 10:{t % 60:02d}.",
                    },
                    {
                        "index": 4,
                        "ref": "4",
                        "kind": "decision",
                        "text": json.dumps({"action": "send", "channel": "line", "content_language": "th"}),
                    },
                ],
            )
        )
    return out


def tokens(text: str) -> int:
    import tiktoken

    return len(tiktoken.get_encoding("cl100k_base").encode(text))


def one(k: int, batch: bool, n_steps: int, latency: float, concurrency: int) -> dict:
    rubric = parse_rubric({"id": f"eff{k}", "criteria": CRITERIA[:k]})
    data = traces(n_steps)
    with tempfile.TemporaryDirectory() as tmp, FakeJudgeProcess(latency) as server, Store(Path(tmp) / "e.db") as store:
        settings = JudgeSettings(model="openai/fake-judge", api_base=server.url, batch=batch)
        judge = LiteLLMJudge(settings, retry=RetryPolicy(max_attempts=3, initial_wait_s=0.1))
        items = plan(data, rubric, settings, "eff")
        judged = sum(len(i.criteria) for i in items)
        prompt = sum(tokens(m["content"]) for i in items for m in i.messages)
        schema = sum(
            tokens(json.dumps((batch_model(i.criteria) if len(i.criteria) > 1 else verdict_model(i.criteria[0])).model_json_schema()))
            for i in items
        )
        outcome, wall, cpu = timed(lambda: judge_traces(data, rubric, settings, judge, store, "eff", concurrency=concurrency))
        completion = sum(j.usage.completion_tokens for j in store.judgments("eff"))
        rerun = judge_traces(data, rubric, settings, judge, store, "eff", concurrency=concurrency)
        requests = server.stop()
    calls = outcome.progress.calls
    ideal = calls * latency / concurrency
    return {
        "k": k,
        "mode": "batched" if batch else "per criterion",
        "steps": len({(i.trace_id, i.step.ref) for i in items}),
        "requests_per_step": calls / (n_steps),
        "prompt_per_criterion": prompt / judged,
        "schema_per_criterion": schema / judged,
        "completion_per_criterion": completion / judged,
        "wall_over_ideal": wall / ideal,
        "cpu_ms_per_criterion": 1000 * cpu / judged,
        "rerun_requests": requests - calls + rerun.progress.calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(f"machine: {machine()}; fake judge latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}")
    print(
        "| K | mode | requests / step | prompt tokens / criterion (+ schema) | completion / criterion | wall / ideal | client CPU / "
        "criterion | re-run requests |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for k, batch in ((1, False), (3, False), (3, True)):
        r = one(k, batch, args.steps, args.latency, args.concurrency)
        print(
            f"| {r['k']} | {r['mode']} | {r['requests_per_step']:.2f} | {r['prompt_per_criterion']:.0f} "
            f"(+{r['schema_per_criterion']:.0f}) | "
            f"{r['completion_per_criterion']:.0f} | {r['wall_over_ideal']:.2f} | {r['cpu_ms_per_criterion']:.1f} ms | "
            f"{r['rerun_requests']} |"
        )


if __name__ == "__main__":
    main()
