"""Generated journeys: every journey kind with every perturbation, and the risky combinations.

`journey_in_cell` draws one journey of a kind carrying given perturbations (the search draws journeys
cell by cell with it); `generate_journeys` lays out the whole space once.  Both are deterministic for a
seed.  Perturbation events land between the first and the second decision, so the agent decides at
least once before and once after each one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from chainjudge.packs.cep.generator import LANGUAGES, _channels
from chainjudge.packs.cep.journey import JOURNEY_KINDS, JOURNEY_PERTURBATIONS, Journey, ScriptEvent
from chainjudge.packs.cep.policy import load_policy
from chainjudge.packs.cep.scenario import MARKET_TIMEZONES, UserState

BASE_DAY = date(2026, 9, 7)  # a Monday; a 9.9 sale falls inside the journeys
RISKY_COMBINATIONS: tuple[tuple[str, ...], ...] = (
    ("device_switch", "language_change", "channel_switch"),  # onboarding across two devices, two languages, a channel switch
    ("converts_elsewhere", "sale_window"),
    ("quiet_hours_crossing", "consent_granted"),
    ("unsubscribes", "channel_switch"),
    ("in_app_browser", "device_switch"),
    ("language_change", "shared_account"),
)
_KIND_SETUP = {  # lifecycle, days since active, campaign kind and name
    "onboarding": ("onboarding_partial", 2, "onboarding", "finish sign-up"),
    "winback": ("lapsed", 45, "winback", "we miss you"),
    "sale_campaign": ("active", 3, "sale", "9.9 sale"),
}


def _local(day: int, hour: int, minute: int, zone: str) -> datetime:
    moment = datetime.combine(BASE_DAY + timedelta(days=day), time(hour, minute), tzinfo=ZoneInfo(zone))
    return moment.astimezone(timezone.utc)


def journey_in_cell(kind: str, perturbations: Sequence[str], rng: random.Random, journey_id: str) -> Journey:
    """One journey of `kind` carrying `perturbations`, its other attributes drawn from `rng` (always in the
    same order, so a seed gives the same journeys)."""
    unknown = [p for p in perturbations if p not in JOURNEY_PERTURBATIONS]
    if kind not in JOURNEY_KINDS or unknown:
        raise ValueError(
            f"no journey cell {kind} x {list(perturbations)}: kinds are {list(JOURNEY_KINDS)}, perturbations {list(JOURNEY_PERTURBATIONS)}"
        )
    policy = load_policy()
    market = rng.choice(sorted(MARKET_TIMEZONES))
    segment = rng.choice(["low", "mid", "high", "vip"])
    languages = list(LANGUAGES[market])
    channels = _channels(rng.choice(["all", "all", "push_only", "messaging_apps"]), market)
    channels["email"] = {"consent": True, "reachable": True}  # every journey can fall back to e-mail
    points = _decision_points(rng, market, MARKET_TIMEZONES[market], "quiet_hours_crossing" in perturbations, policy)
    between = points[0] + (points[1] - points[0]) * rng.uniform(0.2, 0.8)
    campaign = _campaign(kind, languages, rng)
    world = _World(market, policy, channels, campaign, languages, points, between)
    events = sorted((e for p in perturbations if (e := _perturb(p, world, rng)) is not None), key=lambda e: e.at)
    start = _start_state(journey_id, kind, world, segment, rng)
    return Journey(
        id=journey_id,
        kind=kind,
        start=start,
        decision_points=points,
        events=events,
        perturbations=list(perturbations),
        seed=rng.randrange(2**31),
    )


@dataclass
class _World:
    """What a journey's perturbations read and change: its market, channels, campaign and decision times."""

    market: str
    policy: Any
    channels: dict[str, dict[str, bool]]
    campaign: dict[str, Any]
    languages: list[str]
    points: list[datetime]
    between: datetime  # when the script's events happen: between the first two decisions

    @property
    def top(self) -> str:
        """The market's most preferred channel the customer consented to (e-mail when none)."""
        preference = [c for c in self.policy.channel_preference[self.market] if self.channels.get(c, {}).get("consent")]
        return preference[0] if preference else "email"


def _decision_points(rng: random.Random, market: str, zone: str, crossing: bool, policy: Any) -> list[datetime]:
    """Four decisions over six days, in the morning or the early evening; with `crossing`, two of them minutes
    either side of the quiet-hours start."""
    quiet_start = (policy.quiet_hours.get(market) or policy.quiet_hours["default"]).start
    quiet_hour, quiet_minute = (int(x) for x in quiet_start.split(":"))
    slots = [
        (0, rng.choice([9, 10, 11]), rng.choice([0, 15, 30, 45])),
        (1, rng.choice([10, 13, 18]), rng.choice([0, 20, 40])),
        (3, rng.choice([9, 12, 17]), rng.choice([5, 25, 50])),
        (5, rng.choice([10, 14, 19]), rng.choice([0, 30])),
    ]
    if crossing:
        slots[1] = (1, quiet_hour - 1 if quiet_minute < 5 else quiet_hour, (quiet_minute - 5) % 60)
        slots[2] = (3, quiet_hour, quiet_minute + 5)
    return [_local(day, hour, minute, zone) for day, hour, minute in slots]


def _campaign(kind: str, languages: list[str], rng: random.Random) -> dict[str, Any]:
    _lifecycle, _days, campaign_kind, campaign_name = _KIND_SETUP[kind]
    return {
        "name": campaign_name,
        "kind": campaign_kind,
        "content_language": languages[0],
        "available_languages": sorted({*languages, "en"}),
        "message_length": rng.choice([90, 140, 400]),
        "whatsapp_template_approved": rng.random() < 0.5,
    }


# perturbations that are one scripted event and change nothing else: (event kind, channel, note)
_PLAIN_EVENTS = {
    "device_switch": ("device_switch", None, "the app was removed from the only phone"),
    "in_app_browser": ("in_app_browser", None, "session inside a super-app's web view"),
    "converts_elsewhere": ("convert", "email", "bought on the web without a message"),
    "unsubscribes": ("unsubscribe", None, "unsubscribe from everything, e-mail footer"),
}


def _perturb(perturbation: str, world: _World, rng: random.Random) -> ScriptEvent | None:
    """The scripted event a perturbation adds (None for a sale window, which changes the campaign only)."""
    at = world.between
    if perturbation in _PLAIN_EVENTS:
        kind, channel, note = _PLAIN_EVENTS[perturbation]
        return ScriptEvent(at=at, kind=kind, channel=channel, note=note)  # type: ignore[arg-type]
    if perturbation in ("language_change", "shared_account"):
        return _second_language(perturbation, world, rng)
    if perturbation == "consent_revoked":
        top = world.top
        return ScriptEvent(at=at, kind="consent_change", channel=top, consent=False, note=f"opted out of {top}")  # type: ignore[arg-type]
    if perturbation == "consent_granted":
        target = next(
            (
                c
                for c in world.policy.channel_preference[world.market]
                if not world.channels.get(c, {}).get("consent") and not (c == "line" and world.market not in world.policy.line_markets)
            ),
            "sms",
        )
        world.channels[target] = {"consent": False, "reachable": False, "window_open": False}
        return ScriptEvent(at=at, kind="consent_change", channel=target, consent=True, note=f"opted in to {target}")  # type: ignore[arg-type]
    if perturbation == "channel_switch":
        top = world.top
        to = "email" if top != "email" else "sms"
        world.channels.setdefault(to, {"consent": False, "reachable": False})
        return ScriptEvent(at=at, kind="channel_switch", channel=to, from_channel=top, note=f"asked for {to} instead of {top}")  # type: ignore[arg-type]
    if perturbation == "sale_window":  # opens after the first decision, closes before the last
        points = world.points
        world.campaign["starts_at"] = points[0] + (points[1] - points[0]) / 2
        world.campaign["ends_at"] = points[2] + (points[3] - points[2]) / 2
    return None


def _second_language(perturbation: str, world: _World, rng: random.Random) -> ScriptEvent:
    """A language change (the app switched) or a second reader on a shared account; the campaign can speak it."""
    languages = world.languages
    if perturbation == "language_change":
        other = "en" if languages[0] != "en" else languages[-1] if len(languages) > 1 else "zh"
        note = "switched the app's language"
    else:
        other = rng.choice([x for x in ("en", "zh", "th", "ms") if x not in languages[:1]])
        note = "a second person uses the account"
    world.campaign["available_languages"] = sorted({*world.campaign["available_languages"], other})
    return ScriptEvent(at=world.between, kind=perturbation, language=other, note=note)  # type: ignore[arg-type]


def _start_state(journey_id: str, kind: str, world: _World, segment: str, rng: random.Random) -> UserState:
    lifecycle, days_inactive, _campaign_kind, _name = _KIND_SETUP[kind]
    return UserState(
        id=journey_id,
        market=world.market,
        timezone=MARKET_TIMEZONES[world.market],
        now=world.points[0] - timedelta(minutes=30),
        lifecycle=lifecycle,  # type: ignore[arg-type]
        days_since_active=days_inactive,
        ltv_segment=segment,  # type: ignore[arg-type]
        channels=world.channels,  # type: ignore[arg-type]
        languages=world.languages,  # type: ignore[arg-type]
        sent_today=0,
        sent_this_week=rng.choice([0, 1, 2]),
        campaign=world.campaign,  # type: ignore[arg-type]
        devices=[{"platform": rng.choice(["ios", "android"]), "app_installed": True}],  # type: ignore[list-item]
        journey=kind,  # type: ignore[arg-type]
    )


def cells() -> list[tuple[str, str]]:
    """The journey space's cells: kind x perturbation ('none' for a journey with no perturbation)."""
    return [(kind, perturbation) for kind in JOURNEY_KINDS for perturbation in ("none", *JOURNEY_PERTURBATIONS)]


def journey_for_cell(cell: tuple[str, str], rng: random.Random, journey_id: str) -> Journey:
    kind, perturbation = cell
    return journey_in_cell(kind, [] if perturbation == "none" else [perturbation], rng, journey_id)


def generate_journeys(seed: int = 7, per_cell: int = 1, combinations: bool = True) -> list[Journey]:
    """Every kind x perturbation cell `per_cell` times, then every risky combination once per kind."""
    rng = random.Random(seed)
    journeys = []
    for kind, perturbation in cells():
        for n in range(per_cell):
            journeys.append(journey_for_cell((kind, perturbation), rng, f"{kind}-{perturbation.replace('_', '-')}-{n}"))
    if combinations:
        for kind in JOURNEY_KINDS:
            for combo in RISKY_COMBINATIONS:
                journeys.append(journey_in_cell(kind, combo, rng, f"{kind}-{'+'.join(p.replace('_', '-') for p in combo)}"))
    return journeys
