"""The contact policy: user state -> the expected next action, from rules written as data.

The rules live in the pack's `rubrics/policy.yaml`, which a CRM strategist can read and change; this module
only applies them, in the file's order, and records which rules decided.
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel

from chainjudge.packs.cep.files import pack_file
from chainjudge.packs.cep.scenario import ExpectedAction, UserState

DEFAULT_POLICY = pack_file("rubrics", "policy.yaml")


class Window(BaseModel):
    start: str
    end: str


class Policy(BaseModel):
    order: list[str]
    churned_max_days: int
    frequency_caps: dict
    quiet_hours: dict[str, Window]
    channel_preference: dict[str, list[str]]
    line_markets: list[str]
    whatsapp_needs_window_or_template: bool = True
    length_limits: dict[str, int]
    winback: dict


def load_policy(path: str | Path = DEFAULT_POLICY) -> Policy:
    return Policy.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


def _hm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def local_now(user: UserState) -> datetime:
    return user.now.astimezone(ZoneInfo(user.timezone))


def in_quiet_hours(moment: time, window: Window) -> bool:
    start, end = _hm(window.start), _hm(window.end)
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end  # the window crosses midnight


def channel_blockers(user: UserState, channel: str, policy: Policy) -> list[str]:
    """Why this channel cannot carry the message now (empty: it can)."""
    state = user.channels.get(channel)  # type: ignore[call-overload]
    reasons = []
    if state is None or not state.consent:
        reasons.append("no consent")
    if state is None or not state.reachable:
        reasons.append(
            {
                "push": "no push token",
                "in_app": "app not installed",
                "line": "not a LINE friend",
                "email": "no e-mail address",
                "sms": "no phone number",
                "whatsapp": "no WhatsApp number",
            }[channel]
        )
    if channel == "line" and user.market not in policy.line_markets:
        reasons.append(f"LINE is not offered in {user.market}")
    if channel == "whatsapp" and policy.whatsapp_needs_window_or_template and state is not None:
        if not state.window_open and not user.campaign.whatsapp_template_approved:
            reasons.append("WhatsApp outside the 24-hour window without an approved template")
    if user.campaign.message_length > policy.length_limits.get(channel, 10**9):
        reasons.append(
            f"message of {user.campaign.message_length} characters is over the {channel} limit of {policy.length_limits[channel]}"
        )
    return reasons


def expected_action(user: UserState, policy: Policy | None = None) -> ExpectedAction:
    """The action the contact policy derives for a state: its rules in the policy's order, the first that
    decides (suppress or wait) ends it; otherwise a send on the chosen channel, language and offer."""
    d = _Deriving(user, policy or load_policy())
    for rule in d.policy.order:
        step = _RULES.get(rule)
        if step is None:
            raise ValueError(f"policy.order names an unknown rule {rule!r}")
        decided = step(d)
        if decided is not None:
            return decided
    return ExpectedAction(
        action="send",
        channel=d.chosen,
        content_language=d.language,  # type: ignore[arg-type]
        send_window=(d.now.strftime("%H:%M"), d.quiet.start),
        offer=d.offer,
        reason=f"send on {d.chosen}" + (f" with {d.offer}" if d.offer else ""),
        rules=[r for r in ("channel", "language", "offer") if r in d.policy.order],
    )


class _Deriving:
    """What the rules read (the state, the policy, the local time, the market's quiet hours) and what the
    earlier rules chose (channel, language, offer)."""

    def __init__(self, user: UserState, policy: Policy) -> None:
        self.user, self.policy = user, policy
        self.now = local_now(user)
        self.quiet = policy.quiet_hours.get(user.market) or policy.quiet_hours["default"]
        self.chosen: str | None = None
        self.language: str | None = None
        self.offer: str | None = None


def _suppression(d: _Deriving) -> ExpectedAction | None:
    user = d.user
    reason = (
        "user unsubscribed from everything"
        if user.global_unsubscribe
        else "recent complaint"
        if user.recent_complaint
        else "already converted through another channel"
        if user.converted_in_window and user.campaign.kind != "transactional"
        else "the campaign window has closed"
        if user.campaign.ends_at is not None and user.now >= user.campaign.ends_at
        else None
    )
    if reason is not None:
        return ExpectedAction(action="suppress", reason=reason, rules=["suppression"])
    if user.campaign.starts_at is not None and user.now < user.campaign.starts_at:
        return ExpectedAction(action="wait", reason="the campaign window has not opened yet", rules=["suppression"])
    return None


def _lifecycle(d: _Deriving) -> ExpectedAction | None:
    if d.user.lifecycle == "churned" and d.user.days_since_active > d.policy.churned_max_days:
        return ExpectedAction(action="suppress", reason=f"churned over {d.policy.churned_max_days} days ago", rules=["lifecycle"])
    return None


def _frequency_cap(d: _Deriving) -> ExpectedAction | None:
    caps, user = d.policy.frequency_caps, d.user
    if user.campaign.kind in caps.get("exempt_kinds", []):
        return None
    if user.sent_this_week >= caps["per_week"]:
        return ExpectedAction(action="suppress", reason="weekly frequency cap reached", rules=["frequency_cap"])
    if user.sent_today >= caps["per_day"]:
        return ExpectedAction(
            action="wait",
            reason="daily frequency cap reached; wait for tomorrow",
            send_window=(d.quiet.end, d.quiet.start),
            rules=["frequency_cap"],
        )
    return None


def _channel(d: _Deriving) -> ExpectedAction | None:
    d.chosen = next((c for c in d.policy.channel_preference[d.user.market] if not channel_blockers(d.user, c, d.policy)), None)
    if d.chosen is None:
        return ExpectedAction(action="suppress", reason="no channel with consent and reach for this message", rules=["channel"])
    return None


def _language(d: _Deriving) -> ExpectedAction | None:
    campaign = d.user.campaign
    if campaign.content_language in d.user.languages:
        d.language = campaign.content_language
        return None
    d.language = next((label for label in d.user.languages if label in campaign.available_languages), None)
    if d.language is None:
        return ExpectedAction(action="suppress", reason="no content in a language the user reads", rules=["language"])
    return None


def _quiet_hours(d: _Deriving) -> ExpectedAction | None:
    if not in_quiet_hours(d.now.time(), d.quiet):
        return None
    return ExpectedAction(
        action="wait",
        channel=d.chosen,
        content_language=d.language,  # type: ignore[arg-type]
        send_window=(d.quiet.end, d.quiet.start),
        reason="inside local quiet hours",
        rules=["channel", "language", "quiet_hours"],
    )


def _offer(d: _Deriving) -> ExpectedAction | None:
    winback = d.policy.winback
    if d.user.lifecycle in ("lapsed", "churned") and d.user.days_since_active >= winback["min_days_lapsed"]:
        d.offer = winback["offers"].get(d.user.ltv_segment)
    return None


_RULES = {
    "suppression": _suppression,
    "lifecycle": _lifecycle,
    "frequency_cap": _frequency_cap,
    "channel": _channel,
    "language": _language,
    "quiet_hours": _quiet_hours,
    "offer": _offer,
}
