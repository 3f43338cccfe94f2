"""Generated journeys: every journey kind with every perturbation, and the risky combinations.

`journey_in_cell` draws one journey of a kind carrying given perturbations (the search draws journeys
cell by cell with it); `generate_journeys` lays out the whole space once.  Both are deterministic for a
seed.  Perturbation events land between the first and the second decision, so the agent decides at
least once before and once after each one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
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
    """One journey of `kind` carrying `perturbations`, its other attributes drawn from `rng`."""
    unknown = [p for p in perturbations if p not in JOURNEY_PERTURBATIONS]
    if kind not in JOURNEY_KINDS or unknown:
        raise ValueError(
            f"no journey cell {kind} x {list(perturbations)}: kinds are {list(JOURNEY_KINDS)}, perturbations {list(JOURNEY_PERTURBATIONS)}"
        )
    policy = load_policy()
    market = rng.choice(sorted(MARKET_TIMEZONES))
    zone = MARKET_TIMEZONES[market]
    segment = rng.choice(["low", "mid", "high", "vip"])
    lifecycle, days_inactive, campaign_kind, campaign_name = _KIND_SETUP[kind]
    languages = list(LANGUAGES[market])
    channels = _channels(rng.choice(["all", "all", "push_only", "messaging_apps"]), market)
    channels["email"] = {"consent": True, "reachable": True}  # every journey can fall back to e-mail
    quiet_start = (policy.quiet_hours.get(market) or policy.quiet_hours["default"]).start
    quiet_hour, quiet_minute = (int(x) for x in quiet_start.split(":"))
    # four decisions over six days, in the morning or the early evening
    slots = [
        (0, rng.choice([9, 10, 11]), rng.choice([0, 15, 30, 45])),
        (1, rng.choice([10, 13, 18]), rng.choice([0, 20, 40])),
        (3, rng.choice([9, 12, 17]), rng.choice([5, 25, 50])),
        (5, rng.choice([10, 14, 19]), rng.choice([0, 30])),
    ]
    if "quiet_hours_crossing" in perturbations:  # minutes either side of the quiet-hours start, on two days
        slots[1] = (1, quiet_hour - 1 if quiet_minute < 5 else quiet_hour, (quiet_minute - 5) % 60)
        slots[2] = (3, quiet_hour, quiet_minute + 5)
    points = [_local(day, hour, minute, zone) for day, hour, minute in slots]
    between = points[0] + (points[1] - points[0]) * rng.uniform(0.2, 0.8)
    campaign: dict[str, Any] = {
        "name": campaign_name,
        "kind": campaign_kind,
        "content_language": languages[0],
        "available_languages": sorted({*languages, "en"}),
        "message_length": rng.choice([90, 140, 400]),
        "whatsapp_template_approved": rng.random() < 0.5,
    }
    events: list[ScriptEvent] = []
    preference = [c for c in policy.channel_preference[market] if channels.get(c, {}).get("consent")]
    top = preference[0] if preference else "email"
    for perturbation in perturbations:
        if perturbation == "device_switch":
            events.append(ScriptEvent(at=between, kind="device_switch", note="the app was removed from the only phone"))
        elif perturbation == "in_app_browser":
            events.append(ScriptEvent(at=between, kind="in_app_browser", note="session inside a super-app's web view"))
        elif perturbation == "language_change":
            other = "en" if languages[0] != "en" else languages[-1] if len(languages) > 1 else "zh"
            campaign["available_languages"] = sorted({*campaign["available_languages"], other})
            events.append(ScriptEvent(at=between, kind="language_change", language=other, note="switched the app's language"))
        elif perturbation == "shared_account":
            other = rng.choice([x for x in ("en", "zh", "th", "ms") if x not in languages[:1]])
            campaign["available_languages"] = sorted({*campaign["available_languages"], other})
            events.append(ScriptEvent(at=between, kind="shared_account", language=other, note="a second person uses the account"))
        elif perturbation == "converts_elsewhere":
            events.append(ScriptEvent(at=between, kind="convert", channel="email", note="bought on the web without a message"))
        elif perturbation == "unsubscribes":
            events.append(ScriptEvent(at=between, kind="unsubscribe", note="unsubscribe from everything, e-mail footer"))
        elif perturbation == "consent_revoked":
            events.append(ScriptEvent(at=between, kind="consent_change", channel=top, consent=False, note=f"opted out of {top}"))
        elif perturbation == "consent_granted":
            target = next(
                (
                    c
                    for c in policy.channel_preference[market]
                    if not channels.get(c, {}).get("consent") and not (c == "line" and market not in policy.line_markets)
                ),
                "sms",
            )
            channels[target] = {"consent": False, "reachable": False, "window_open": False}
            events.append(ScriptEvent(at=between, kind="consent_change", channel=target, consent=True, note=f"opted in to {target}"))
        elif perturbation == "channel_switch":
            to = "email" if top != "email" else "sms"
            channels.setdefault(to, {"consent": False, "reachable": False})
            events.append(
                ScriptEvent(at=between, kind="channel_switch", channel=to, from_channel=top, note=f"asked for {to} instead of {top}")
            )
        elif perturbation == "sale_window":  # opens after the first decision, closes before the last
            campaign["starts_at"] = points[0] + (points[1] - points[0]) / 2
            campaign["ends_at"] = points[2] + (points[3] - points[2]) / 2
    events.sort(key=lambda e: e.at)
    start_local = points[0] - timedelta(minutes=30)
    start = UserState(
        id=journey_id,
        market=market,
        timezone=zone,
        now=start_local,
        lifecycle=lifecycle,  # type: ignore[arg-type]
        days_since_active=days_inactive,
        ltv_segment=segment,
        channels=channels,
        languages=languages,  # type: ignore[arg-type]
        sent_today=0,
        sent_this_week=rng.choice([0, 1, 2]),
        campaign=campaign,  # type: ignore[arg-type]
        devices=[{"platform": rng.choice(["ios", "android"]), "app_installed": True}],
        journey=kind,
    )  # type: ignore[list-item]
    return Journey(
        id=journey_id,
        kind=kind,
        start=start,
        decision_points=points,
        events=events,  # type: ignore[arg-type]
        perturbations=list(perturbations),
        seed=rng.randrange(2**31),
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
