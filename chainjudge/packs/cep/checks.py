"""The CEP pack's deterministic checks: policy rules that need no model to verify.  Each is registered
as a `chainjudge.checks` entry point (pyproject.toml) under its function's name."""

from __future__ import annotations

from functools import lru_cache
from typing import get_args

from chainjudge.core.checks import AgentOutputUnusable, CheckInputMissing, CheckResult
from chainjudge.core.schema import Step, Trace
from chainjudge.packs.cep.decisions import final_decision
from chainjudge.packs.cep.policy import channel_blockers, in_quiet_hours, load_policy, local_now
from chainjudge.packs.cep.scenario import AgentDecision, Channel, UserState


@lru_cache(maxsize=1)
def _policy():
    return load_policy()


def _inputs(trace: Trace, step: Step) -> tuple[UserState, AgentDecision]:
    # a journey's decision step carries the state it was decided on; a single decision's trace carries one
    state = step.metadata.get("user_state") or trace.metadata.get("user_state")
    if not isinstance(state, dict):
        raise CheckInputMissing("the trace carries no user_state in its metadata")
    decision = final_decision(trace.model_copy(update={"steps": trace.steps[: step.index + 1]}))
    if decision is None:
        raise AgentOutputUnusable("the decision step holds no parseable JSON decision")
    return UserState.model_validate(state), decision


def _contacts(decision: AgentDecision) -> bool:
    return (decision.text("action") or "").lower() not in ("suppress", "none", "no_action")


def _sends_now(decision: AgentDecision) -> bool:
    return (decision.text("action") or "").lower().startswith("send")


def suppression_honoured(trace: Trace, step: Step) -> CheckResult:
    user, decision = _inputs(trace, step)
    reasons = [
        r
        for r, on in (
            ("global unsubscribe", user.global_unsubscribe),
            ("recent complaint", user.recent_complaint),
            ("converted elsewhere", user.converted_in_window and user.campaign.kind != "transactional"),
        )
        if on
    ]
    if reasons and _contacts(decision):
        return CheckResult(False, f"decided to {decision.action} although: {', '.join(reasons)}")
    return CheckResult(True, "no suppression was ignored" if reasons else "user not suppressed")


def consent_respected(trace: Trace, step: Step) -> CheckResult:
    user, decision = _inputs(trace, step)
    channel = decision.text("channel")
    if not _contacts(decision) or not channel:
        return CheckResult(True, "no contact planned")
    state = next((s for name, s in user.channels.items() if name == channel), None)
    if state is None or not state.consent:
        return CheckResult(False, f"{channel} chosen without consent")
    if not state.reachable:
        return CheckResult(False, f"{channel} chosen but the user cannot be reached on it")
    return CheckResult(True, f"consent and reach on {channel}")


def quiet_hours_respected(trace: Trace, step: Step) -> CheckResult:
    user, decision = _inputs(trace, step)
    policy = _policy()
    quiet = policy.quiet_hours.get(user.market) or policy.quiet_hours["default"]
    now = local_now(user)
    if _sends_now(decision) and in_quiet_hours(now.time(), quiet):
        return CheckResult(False, f"sends at {now:%H:%M} local, inside quiet hours {quiet.start}-{quiet.end}")
    return CheckResult(True, f"{now:%H:%M} local is outside quiet hours or nothing is sent now")


def channel_constraints(trace: Trace, step: Step) -> CheckResult:
    user, decision = _inputs(trace, step)
    channel = decision.text("channel")
    if not _contacts(decision) or not channel:
        return CheckResult(True, "no channel used")
    if channel not in user.channels and channel not in get_args(Channel):
        return CheckResult(False, f"unknown channel {channel!r}")
    blockers = [b for b in channel_blockers(user, channel, _policy()) if b not in ("no consent",)]
    if blockers:
        return CheckResult(False, f"{channel}: {'; '.join(blockers)}")
    return CheckResult(True, f"{channel} allowed for this market, device and message")


def frequency_cap_respected(trace: Trace, step: Step) -> CheckResult:
    user, decision = _inputs(trace, step)
    caps = _policy().frequency_caps
    over = user.sent_today >= caps["per_day"] or user.sent_this_week >= caps["per_week"]
    if over and user.campaign.kind not in caps.get("exempt_kinds", []) and _sends_now(decision):
        return CheckResult(False, f"sends although {user.sent_today} today / {user.sent_this_week} this week reach the cap")
    return CheckResult(True, "within frequency caps")


def language_match(trace: Trace, step: Step) -> CheckResult:
    user, decision = _inputs(trace, step)
    language = decision.text("content_language")
    if not _contacts(decision):
        return CheckResult(True, "nothing sent")
    if language is None and not _sends_now(decision):
        return CheckResult(True, "no content chosen yet (waiting)")
    if language not in user.languages:
        return CheckResult(False, f"content in {language!r}; the user reads {user.languages}")
    return CheckResult(True, f"content in {language}, which the user reads")
