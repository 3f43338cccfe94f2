"""The simulated customer: how a user answers the agent's messages along a journey.

A response model gives the chance that a delivered message is opened, clicked, converts or makes the
user unsubscribe, by channel and segment, lower inside quiet hours and with every message of the past
week (fatigue).  It can be fitted from a team's logged outcomes (`fit_response_model`).

The customer never contradicts the state: nothing is opened that was not delivered, nothing is
delivered on a channel without consent and reach or to a user who unsubscribed, a click needs an open,
a conversion a click, and nobody converts twice.  Those rules are checked again, independently, over
every recorded journey (`inconsistencies`), and the rate is reported apart from the agent's failures:
a simulator that breaks them would blame the agent for its own mistakes.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from chainjudge.packs.cep.scenario import UserState

CHANNELS = ("push", "email", "in_app", "sms", "line", "whatsapp")


def is_send(action: object) -> bool:
    """Whether a decision's action sends now ("send", "send_now", "Send"): the one reading the simulator,
    its consistency check and the journey checks share, so they cannot disagree on what was sent."""
    return str(action or "").strip().lower().startswith("send")


class ResponseModel(BaseModel):
    """Rates per delivered message; defaults are round figures, not any platform's benchmarks."""

    open_rate: dict[str, float] = Field(
        default_factory=lambda: {"push": 0.08, "email": 0.2, "in_app": 0.3, "sms": 0.35, "line": 0.4, "whatsapp": 0.55}
    )
    click_given_open: float = Field(0.25, ge=0, le=1)
    convert_given_click: float = Field(0.2, ge=0, le=1)
    unsubscribe_rate: float = Field(0.01, ge=0, le=1)
    segment_factor: dict[str, float] = Field(default_factory=lambda: {"low": 0.8, "mid": 1.0, "high": 1.15, "vip": 1.3})
    quiet_hours_factor: float = Field(0.5, ge=0, description="Opens are rarer, unsubscribes likelier, for a message sent at night.")
    fatigue: float = Field(
        0.15, ge=0, le=1, description="Each message of the past 7 days lowers opens by this share and raises unsubscribes."
    )
    source: str = "defaults"

    def open_probability(self, channel: str, segment: str, at_night: bool, sent_past_week: int) -> float:
        p = self.open_rate.get(channel, 0.1) * self.segment_factor.get(segment, 1.0)
        p *= self.quiet_hours_factor if at_night else 1.0
        return min(1.0, p * (1 - self.fatigue) ** sent_past_week)

    def unsubscribe_probability(self, at_night: bool, sent_past_week: int) -> float:
        p = (
            self.unsubscribe_rate
            * (1 + self.fatigue * 4 * sent_past_week)
            * (1 / self.quiet_hours_factor if at_night and self.quiet_hours_factor else 1)
        )
        return min(1.0, p)


class Reaction(BaseModel):
    """What the customer did with one decision of the agent."""

    sent: bool = False
    channel: str | None = None
    delivered: bool = False
    opened: bool = False
    clicked: bool = False
    converted: bool = False
    unsubscribed: bool = False
    why_not_delivered: str | None = None


def react(
    user: UserState, action: str, channel: str | None, at_night: bool, sent_past_week: int, model: ResponseModel, rng: random.Random
) -> Reaction:
    """The customer's answer to one decision.  `user` is the state the agent decided on; draws are made
    in a fixed order from `rng` so a journey replays exactly for the same seed and decisions."""
    draws = [rng.random() for _ in range(4)]  # always four: a decision's draws never shift the next one's
    if action != "send":
        return Reaction()
    if not channel or channel not in user.channels:
        return Reaction(sent=True, channel=channel, why_not_delivered=f"unknown channel {channel!r}")
    state = user.channels[channel]  # type: ignore[index]
    blocked = (
        "the user unsubscribed from everything"
        if user.global_unsubscribe
        else "no consent on this channel"
        if not state.consent
        else "the user cannot be reached on this channel"
        if not state.reachable
        else None
    )
    if blocked:
        return Reaction(sent=True, channel=channel, why_not_delivered=blocked)
    opened = draws[0] < model.open_probability(channel, user.ltv_segment, at_night, sent_past_week)
    clicked = opened and draws[1] < model.click_given_open
    converted = clicked and not user.converted_in_window and draws[2] < model.convert_given_click
    unsubscribed = not converted and draws[3] < model.unsubscribe_probability(at_night, sent_past_week)
    return Reaction(
        sent=True, channel=channel, delivered=True, opened=opened, clicked=clicked, converted=converted, unsubscribed=unsubscribed
    )


def _reaction_problems(point: object, reaction: Mapping, decision: Mapping, state: Mapping, unsubscribed: bool) -> list[str]:
    """What one reaction contradicts: the send it records against the decision, a delivery without a send,
    consent and reach, or to an unsubscribed customer, and the funnel (opened, clicked, converted) out of order."""
    problems = []
    sent = reaction.get("sent", False)
    if sent != is_send(decision.get("action")):
        problems.append(f"decision {point}: the customer's record says sent={sent} for action {decision.get('action')!r}")
    channel = reaction.get("channel")
    channel_state = (state.get("channels") or {}).get(channel) or {}
    if reaction.get("delivered") and not sent:
        problems.append(f"decision {point}: delivered without a send")
    if reaction.get("delivered") and (unsubscribed or state.get("global_unsubscribe")):
        problems.append(f"decision {point}: delivered to a customer who had unsubscribed")
    if reaction.get("delivered") and not (channel_state.get("consent") and channel_state.get("reachable")):
        problems.append(f"decision {point}: delivered on {channel} without consent and reach")
    for later, earlier in (("opened", "delivered"), ("clicked", "opened"), ("converted", "clicked")):
        if reaction.get(later) and not reaction.get(earlier):
            problems.append(f"decision {point}: {later} without being {earlier}")
    return problems


def inconsistencies(log: Sequence[Mapping]) -> list[str]:
    """What a recorded journey's customer did that the rules forbid (empty: consistent).  `log` is the
    trace's `journey_log`: per decision point the state the agent saw, the events before it and the
    customer's reaction.  Written apart from `react` on purpose: it checks the record, not the code."""
    problems = []
    converted = unsubscribed = False
    for entry in log:
        point = entry.get("point")
        for event in entry.get("events") or []:
            if event.get("kind") == "convert" and event.get("applied", True):
                if converted:
                    problems.append(f"decision {point}: the script converted a customer who had already converted")
                converted = True
            if event.get("kind") == "unsubscribe":
                unsubscribed = True
        reaction = entry.get("reaction") or {}
        problems += _reaction_problems(point, reaction, entry.get("decision") or {}, entry.get("user_state") or {}, unsubscribed)
        if reaction.get("converted"):
            if converted:
                problems.append(f"decision {point}: converted twice")
            converted = True
        if reaction.get("unsubscribed"):
            if not reaction.get("delivered"):
                problems.append(f"decision {point}: unsubscribed from a message never delivered")
            unsubscribed = True
    return problems


def fit_response_model(rows: Iterable[Mapping], base: ResponseModel | None = None, prior: float = 20.0) -> ResponseModel:
    """A response model from logged outcomes: rows with `channel` and 0/1 `opened`, `clicked`,
    `converted`, `unsubscribed` (any missing column keeps the base rate), optionally `segment`.  Each rate
    is shrunk towards the base with `prior` pseudo-messages, so a channel with a handful of rows does not
    swing to 0 or 1."""
    base = base or ResponseModel()
    counts = _OutcomeCounts()
    for row in rows:
        counts.add(row)
    if not counts.totals["rows"]:
        raise ValueError("no row names a known channel (push, email, in_app, sms, line, whatsapp)")
    return base.model_copy(update={**counts.rates(base, prior), "source": f"fitted from {int(counts.totals['rows'])} logged messages"})


@dataclass
class _OutcomeCounts:
    """Messages and outcomes counted per channel and overall, the outcome columns the log has, opens by segment."""

    sent: dict[str, float] = field(default_factory=dict)
    opens: dict[str, float] = field(default_factory=dict)
    totals: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("opened", "clicked", "converted", "unsubscribed", "rows"), 0.0))
    seen: set[str] = field(default_factory=set)
    by_segment: dict[str, list[float]] = field(default_factory=dict)

    def add(self, row: Mapping) -> None:
        channel = str(row.get("channel") or "")
        if channel not in CHANNELS:
            return
        flags = {name: _flag(row.get(name)) for name in ("opened", "clicked", "converted", "unsubscribed")}
        self.seen.update(name for name, value in flags.items() if value is not None)
        self.sent[channel] = self.sent.get(channel, 0) + 1
        self.opens[channel] = self.opens.get(channel, 0) + (flags["opened"] or 0)
        self.totals["rows"] += 1
        for name, value in flags.items():
            self.totals[name] += value or 0
        opened = flags["opened"]
        if row.get("segment") and opened is not None:
            self.by_segment.setdefault(str(row["segment"]), []).append(opened)

    def rates(self, base: ResponseModel, prior: float) -> dict[str, Any]:
        """Each rate the log has evidence for, shrunk towards the base; the others stay the base's."""

        def shrink(hits: float, n: float, prior_rate: float) -> float:
            return (hits + prior * prior_rate) / (n + prior)

        t, seen = self.totals, self.seen
        open_rate = dict(base.open_rate)
        if "opened" in seen:
            for channel, n in self.sent.items():
                open_rate[channel] = shrink(self.opens[channel], n, base.open_rate.get(channel, 0.1))
        segment_factor = dict(base.segment_factor)
        overall = t["opened"] / t["rows"] if t["rows"] else 0
        if overall > 0:
            for segment, values in self.by_segment.items():
                segment_factor[segment] = shrink(sum(values), len(values), overall) / overall
        return {
            "open_rate": open_rate,
            "click_given_open": shrink(t["clicked"], t["opened"], base.click_given_open)
            if "clicked" in seen and t["opened"]
            else base.click_given_open,
            "convert_given_click": shrink(t["converted"], t["clicked"], base.convert_given_click)
            if "converted" in seen and t["clicked"]
            else base.convert_given_click,
            "unsubscribe_rate": shrink(t["unsubscribed"], t["rows"], base.unsubscribe_rate)
            if "unsubscribed" in seen
            else base.unsubscribe_rate,
            "segment_factor": segment_factor,
        }


def _flag(value: object) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return float(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y"):
        return 1.0
    if text in ("0", "false", "no", "n"):
        return 0.0
    try:
        return 1.0 if float(text) > 0 else 0.0
    except ValueError:
        return None
