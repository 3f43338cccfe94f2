"""The contact policy: user state -> the expected next action, from rules written as data.

The rules live in `rubrics/cep/policy.yaml`, which a CRM strategist can read and change; this module
only applies them, in the file's order, and records which rules decided.
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel

from chainjudge.core.bundled import bundled
from chainjudge.packs.cep.scenario import ExpectedAction, UserState

DEFAULT_POLICY = bundled("rubrics", "cep", "policy.yaml")


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
    policy = policy or load_policy()
    now = local_now(user)
    quiet = policy.quiet_hours.get(user.market) or policy.quiet_hours["default"]
    chosen: str | None = None
    language: str | None = None
    offer: str | None = None
    for rule in policy.order:
        if rule == "suppression":
            if user.global_unsubscribe:
                return ExpectedAction(action="suppress", reason="user unsubscribed from everything", rules=["suppression"])
            if user.recent_complaint:
                return ExpectedAction(action="suppress", reason="recent complaint", rules=["suppression"])
            if user.converted_in_window and user.campaign.kind != "transactional":
                return ExpectedAction(action="suppress", reason="already converted through another channel", rules=["suppression"])
            if user.campaign.ends_at is not None and user.now >= user.campaign.ends_at:
                return ExpectedAction(action="suppress", reason="the campaign window has closed", rules=["suppression"])
            if user.campaign.starts_at is not None and user.now < user.campaign.starts_at:
                return ExpectedAction(action="wait", reason="the campaign window has not opened yet", rules=["suppression"])
        elif rule == "lifecycle":
            if user.lifecycle == "churned" and user.days_since_active > policy.churned_max_days:
                return ExpectedAction(action="suppress", reason=f"churned over {policy.churned_max_days} days ago", rules=["lifecycle"])
        elif rule == "frequency_cap":
            caps = policy.frequency_caps
            if user.campaign.kind not in caps.get("exempt_kinds", []) and (
                user.sent_today >= caps["per_day"] or user.sent_this_week >= caps["per_week"]
            ):
                if user.sent_this_week >= caps["per_week"]:
                    return ExpectedAction(action="suppress", reason="weekly frequency cap reached", rules=["frequency_cap"])
                return ExpectedAction(
                    action="wait",
                    reason="daily frequency cap reached; wait for tomorrow",
                    send_window=(quiet.end, quiet.start),
                    rules=["frequency_cap"],
                )
        elif rule == "channel":
            for channel in policy.channel_preference[user.market]:
                if not channel_blockers(user, channel, policy):
                    chosen = channel
                    break
            if chosen is None:
                return ExpectedAction(action="suppress", reason="no channel with consent and reach for this message", rules=["channel"])
        elif rule == "language":
            if user.campaign.content_language in user.languages:
                language = user.campaign.content_language
            else:
                language = next((label for label in user.languages if label in user.campaign.available_languages), None)
                if language is None:
                    return ExpectedAction(action="suppress", reason="no content in a language the user reads", rules=["language"])
        elif rule == "quiet_hours":
            if in_quiet_hours(now.time(), quiet):
                return ExpectedAction(
                    action="wait",
                    channel=chosen,
                    content_language=language,  # type: ignore[arg-type]
                    send_window=(quiet.end, quiet.start),
                    reason="inside local quiet hours",
                    rules=["channel", "language", "quiet_hours"],
                )
        elif rule == "offer":
            winback = policy.winback
            if user.lifecycle in ("lapsed", "churned") and user.days_since_active >= winback["min_days_lapsed"]:
                offer = winback["offers"].get(user.ltv_segment)
        else:
            raise ValueError(f"policy.order names an unknown rule {rule!r}")
    return ExpectedAction(
        action="send",
        channel=chosen,
        content_language=language,  # type: ignore[arg-type]
        send_window=(now.strftime("%H:%M"), quiet.start),
        offer=offer,
        reason=f"send on {chosen}" + (f" with {offer}" if offer else ""),
        rules=[r for r in ("channel", "language", "offer") if r in policy.order],
    )
