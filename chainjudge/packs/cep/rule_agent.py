"""A rule-based journey agent with the blind spots real next-best-action code tends to have.

It needs no model, so journeys and the failure-seeking search can be run in seconds (`make demo`, the
tests, `bench/journeys.py`); it ships with the pack so the demo runs from an installed package, and
`examples/journey_agent.py` names it for the command line.  `examples/cep_agent.py:agent` is the
model-driven agent, which takes the same `history` argument.  Each decision follows the contact policy on the state it is given, except
where this agent "remembers" the journey, which is where journey bugs live:

- it keeps the content language of its first message (personalisation cached at the journey's start),
  so a language change or a second person on the account is missed;
- it keeps the channel its last message was opened on (a "channel that works" heuristic), even after
  the customer withdrew consent, switched channel or lost the app;
- it reads a campaign window's start but not its end (the sale keeps going in its head).

These are planted on purpose, written down here, and the checks must find every one of them.
"""

from __future__ import annotations

import json

from chainjudge.core.schema import Step, StepKind, ToolCall
from chainjudge.packs.cep.policy import expected_action, load_policy
from chainjudge.packs.cep.recording import LLMConfig, step
from chainjudge.packs.cep.scenario import UserState


def agent(user: UserState, llm: LLMConfig, history: list[dict] | None = None) -> list[Step]:
    history = history or []
    state = user
    campaign = user.campaign
    if campaign.ends_at is not None:  # blind spot: the end of the window is not read
        state = user.model_copy(update={"campaign": campaign.model_copy(update={"ends_at": None})})
    expected = expected_action(state, load_policy())
    decision: dict[str, object] = {
        "action": expected.action,
        "channel": expected.channel,
        "content_language": expected.content_language,
        "offer": expected.offer,
        "send_window": list(expected.send_window) if expected.send_window else None,
        "reason": expected.reason,
    }
    notes = [f"policy says {expected.action}: {expected.reason}"]
    sent = [h for h in history if (h.get("reaction") or {}).get("sent")]
    if expected.action == "send" and sent:
        notes += _follow_history(decision, sent)
    state_seen = {
        "sent_today": user.sent_today,
        "sent_this_week": user.sent_this_week,
        "journey_step": user.journey_step,
        "previous_decisions": len(history),
    }
    return [
        step(0, StepKind.tool_call, tool_calls=[ToolCall(id="call_state", name="user_state", arguments=json.dumps({"user": user.id}))]),
        step(1, StepKind.tool_result, json.dumps(state_seen), name="user_state", tool_call_id="call_state"),
        step(2, StepKind.reasoning, "; ".join(notes)),
        step(3, StepKind.decision, json.dumps(decision)),
    ]


def _follow_history(decision: dict[str, object], sent: list[dict]) -> list[str]:
    """What the journey so far changes in DECISION (its blind spots included); returns the notes it makes."""
    notes = []
    first_language = (sent[0].get("decision") or {}).get("content_language")
    if first_language and first_language != decision["content_language"]:
        decision["content_language"] = first_language
        notes.append(f"keeping the language of the first message ({first_language})")
    opened = [h for h in sent if (h.get("reaction") or {}).get("opened")]
    if opened:
        channel = opened[-1]["reaction"]["channel"]
        if channel != decision["channel"]:
            decision["channel"] = channel
            notes.append(f"{channel} worked last time: staying on it")
    if any((h.get("decision") or {}).get("offer") for h in sent) and decision["offer"]:
        decision["offer"] = None  # this part it gets right: an offer goes out once per journey
        notes.append("the offer was already made")
    return notes
