"""A CEP next-best-action agent for recording traces: tools, step-by-step reasoning, a decision.

Its tools (profile lookup, journey state, suppression check, channel rules) are called by the agent's
own code in a fixed order, each recorded as a tool call and its result; the LLM (any litellm model,
the offline local one by default) then reasons step by step over the results and writes the decision.
Small local models do better with this fixed order than with choosing tools themselves.

Record with:  chainjudge record --agent examples.cep_agent:agent --scenarios chainjudge/packs/cep/traces/scenarios.jsonl
"""

from __future__ import annotations

import json

from chainjudge.core.schema import Step, StepKind, ToolCall
from chainjudge.packs.cep.policy import channel_blockers, load_policy, local_now
from chainjudge.packs.cep.recording import LLMConfig, step
from chainjudge.packs.cep.scenario import UserState

SYSTEM = (
    "You are the decision agent of a customer engagement platform. For one user you decide the next "
    "action: send now, wait, or suppress; the channel (push, email, in_app, sms, line, whatsapp); the content "
    "language; the send window in local time; and any win-back offer. Respect unsubscribes, complaints, "
    "conversions, consent, quiet hours (21:00-08:00 local, 22:00 in SG), frequency caps (2 a day, 5 a week), "
    "the market's channel preference, and the user's languages. Think in short numbered steps using only the "
    'tool results, then write one line: DECISION: {"action": ..., "channel": ..., "content_language": ..., '
    '"send_window": ["HH:MM", "HH:MM"], "offer": ..., "reason": ...}'
)


def tools(user: UserState) -> list[tuple[str, dict, dict]]:
    policy = load_policy()
    now = local_now(user)
    profile = {
        "user": user.id,
        "market": user.market,
        "local_time": now.strftime("%Y-%m-%d %H:%M"),
        "lifecycle": user.lifecycle,
        "days_since_active": user.days_since_active,
        "ltv_segment": user.ltv_segment,
        "languages": user.languages,
    }
    journey = {
        "journey": user.journey,
        "step": user.journey_step,
        "last_touch": user.last_touch.model_dump(mode="json") if user.last_touch else None,
        "devices": [d.model_dump(mode="json") for d in user.devices],
        "shared_account": user.shared_account,
    }
    suppression = {
        "global_unsubscribe": user.global_unsubscribe,
        "recent_complaint": user.recent_complaint,
        "converted_in_window": user.converted_in_window,
        "sent_today": user.sent_today,
        "sent_this_week": user.sent_this_week,
    }
    channels = {
        "preference": policy.channel_preference[user.market],
        "campaign": user.campaign.model_dump(mode="json"),
        "channels": {
            c: ("ok" if not channel_blockers(user, c, policy) else "; ".join(channel_blockers(user, c, policy)))
            for c in policy.channel_preference[user.market]
        },
    }
    return [
        ("profile_lookup", {"user": user.id}, profile),
        ("journey_state", {"user": user.id}, journey),
        ("suppression_check", {"user": user.id}, suppression),
        ("channel_rules", {"user": user.id, "market": user.market}, channels),
    ]


def journey_so_far(history: list[dict]) -> dict:
    """Earlier decisions of a journey and what the customer did with each, as the agent's tool reports them."""
    return {
        "earlier_decisions": [
            {
                "at_local": h.get("at_local"),
                "events_before": [e.get("kind") for e in h.get("events") or []],
                "decision": {k: (h.get("decision") or {}).get(k) for k in ("action", "channel", "content_language", "offer")},
                "customer": {k: v for k, v in (h.get("reaction") or {}).items() if v not in (False, None)},
            }
            for h in history
        ]
    }


def agent(user: UserState, llm: LLMConfig, history: list[dict] | None = None) -> list[Step]:
    """One decision; inside a journey (`record --journeys`) `history` holds the journey so far, which
    the agent reads through a `journey_history` tool."""
    import litellm

    litellm.suppress_debug_info = True
    steps: list[Step] = [step(0, StepKind.user, f"Decide the next action for user {user.id} in campaign '{user.campaign.name}'.")]
    results = []
    calls = tools(user)
    if history:
        calls.append(("journey_history", {"user": user.id}, journey_so_far(history)))
    for name, arguments, result in calls:
        call_id = f"call_{name}"
        steps.append(step(len(steps), StepKind.tool_call, tool_calls=[ToolCall(id=call_id, name=name, arguments=json.dumps(arguments))]))
        steps.append(
            step(
                len(steps),
                StepKind.tool_result,
                json.dumps(result, ensure_ascii=False),
                name=name,
                tool_call_id=call_id,
                parent_ref=steps[-1].ref,
            )
        )
        results.append(f"{name}: {json.dumps(result, ensure_ascii=False)}")
    response = litellm.completion(
        model=llm.model,
        api_base=llm.api_base,
        api_key=llm.api_key or "local",
        temperature=llm.temperature,
        max_tokens=llm.max_tokens,
        num_retries=0,
        messages=[
            {"role": "system", "content": SYSTEM},
            {
                "role": "user",
                "content": "Tool results:\n"
                + "\n".join(results)
                + "\n\nFirst write your reasoning as numbered steps (1. 2. 3. ...), one short line each, "
                "then the DECISION line.",
            },
        ],
    )
    text = response.choices[0].message.content or ""
    reasoning, _, decision = text.partition("DECISION:")
    if reasoning.strip():
        steps.append(step(len(steps), StepKind.reasoning, reasoning.strip()))
    body = decision or text
    start, end = body.find("{"), body.rfind("}")  # str methods, not a backtracking regex over model output
    steps.append(step(len(steps), StepKind.decision, body[start : end + 1] if 0 <= start < end else body.strip()))
    return steps
