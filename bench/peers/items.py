"""The items every tool judges, built once so all tools see the same text.

- item level: 100 CEP decisions.  The 69 bundled scenarios with the decision the recorded agent made,
  plus 31 more scenarios from the same generator (seed 8) with the contact policy's own decision as the
  answer.  Task = the user's state as JSON; answer = the decision.
- step level: 100 four-step CEP-shaped traces (bench/efficiency.py's), 400 judged steps.  Input = the
  earlier steps as chainjudge shows them to its judge; output = the step.

Peers get exactly the text chainjudge puts in its prompt (its context and its step), so prompt sizes
differ only by what each tool adds around the content.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from efficiency import traces as step_traces  # noqa: E402

from chainjudge.core.engine import plan  # noqa: E402
from chainjudge.core.prompts import context_text  # noqa: E402
from chainjudge.core.rubric import parse_rubric  # noqa: E402
from chainjudge.core.schema import JudgeSettings, StepKind, Trace  # noqa: E402
from chainjudge.packs.cep.generator import generate  # noqa: E402
from chainjudge.pipeline import load_traces  # noqa: E402

CRITERIA = [
    {"id": "policy_ok", "question": "Does the step respect consent, quiet hours and frequency caps?"},
    {"id": "grounded", "question": "Is the step supported by the profile and tool results?"},
    {"id": "offer_fits", "question": "Do the channel, language and any offer fit the user's segment and recency?"},
]
KINDS = ["reasoning", "tool_call", "decision", "message"]
SETTINGS = JudgeSettings(model="openai/gpt-4o-mini", max_context_chars=4000)  # a whole user state fits unshortened


def rubric(k: int):
    return parse_rubric({"id": f"peers-k{k}", "criteria": [dict(c, applies_to=KINDS) for c in CRITERIA[:k]]})


def decision_traces() -> list[Trace]:
    recorded = {
        t.id.removeprefix("cep-"): t for t in load_traces([ROOT / "chainjudge" / "packs" / "cep" / "traces" / "traces.jsonl"]).traces
    }
    out = []
    for seed, prefix in ((7, ""), (8, "b-")):
        for scenario in generate(seed=seed):
            if len(out) == 100:
                return out
            user = scenario.user
            trace = recorded.get(user.id) if not prefix else None
            decision = next((s.render() for s in reversed(trace.steps) if s.kind is StepKind.decision), None) if trace else None
            if decision is None:
                decision = scenario.expected.model_dump_json(exclude={"rules"}, exclude_none=True)
            state = user.model_dump_json(exclude_none=True, exclude_defaults=True)
            out.append(
                Trace(
                    id=f"d-{prefix}{user.id}",
                    steps=[
                        {
                            "index": 0,
                            "ref": "0",
                            "kind": "user",
                            "text": f"Decide the next action for this user in campaign '{user.campaign.name}'. User state: {state}",
                        },
                        {"index": 1, "ref": "1", "kind": "decision", "text": decision},
                    ],
                )
            )
    return out


def peer_items(traces: list[Trace]) -> list[dict]:
    """(input, output) per judged step: the context and step text chainjudge's own prompt carries."""
    by_id = {t.id: t for t in traces}
    items = []
    for work in plan(traces, rubric(1), SETTINGS, "items"):
        trace = by_id[work.trace_id]
        items.append(
            {
                "id": f"{work.trace_id}/{work.step.ref}",
                "input": context_text(trace, work.step, SETTINGS.max_context_chars),
                "output": work.step.render(),
            }
        )
    return items


def build(level: str) -> dict:
    traces = decision_traces() if level == "item" else step_traces(400)
    items = peer_items(traces)
    return {"level": level, "criteria": CRITERIA, "items": items, "traces": [t.model_dump(mode="json") for t in traces]}


if __name__ == "__main__":
    for level in ("item", "step"):
        job = build(level)
        print(level, len(job["items"]), "items;", "first:", json.dumps(job["items"][0])[:600])
