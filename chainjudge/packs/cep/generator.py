"""Scenario generator: every pair of dimension values covered (pairwise), plus adversarial variants.

Pairwise: a greedy all-pairs construction over the dimensions below, deterministic for a seed.
Adversarial variants are made on purpose and say which perturbation they carry: missing attributes,
conflicting signals, multi-language content triggers, device switch mid-journey, partial onboarding
across two devices, channel switch mid-journey, time-zone edges around quiet hours.
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta, timezone

from chainjudge.packs.cep.policy import Policy, expected_action, load_policy
from chainjudge.packs.cep.scenario import MARKET_TIMEZONES, Scenario, UserState

LANGUAGES = {"TH": ["th"], "MY": ["ms", "en"], "ID": ["id"], "SG": ["en", "zh"], "VN": ["vi"], "PH": ["en", "tl"]}
DIMENSIONS: dict[str, list] = {  # covered pairwise
    "market": ["TH", "MY", "ID", "SG", "VN", "PH"],
    "lifecycle": ["new", "onboarding_partial", "active", "lapsed", "churned"],
    "ltv_segment": ["low", "mid", "high", "vip"],
    "consent_profile": ["all", "email_only", "push_only", "messaging_apps"],
    "local_hour": [7, 10, 15, 20, 22],
    "campaign_kind": ["sale", "winback", "onboarding", "transactional", "reminder"],
}
# blockers each stop a contact on their own; each is applied to some base scenarios rather than crossed
# with everything, so most scenarios still exercise channel, language, quiet-hour and offer rules
BLOCKERS = ["unsubscribed", "complaint", "converted", "daily_cap", "weekly_cap", "no_consent"]


def pairwise(dimensions: dict[str, list], seed: int = 0) -> list[dict]:
    """Rows such that every pair of values of any two dimensions appears in at least one row."""
    rng = random.Random(seed)
    names = list(dimensions)
    uncovered = {(a, va, b, vb) for a, b in itertools.combinations(names, 2) for va in dimensions[a] for vb in dimensions[b]}
    rows = []
    while uncovered:
        a, va, b, vb = min(uncovered)  # deterministic seed pair
        row = {a: va, b: vb}
        for name in names:
            if name in row:
                continue
            best, best_gain = None, -1
            options = list(dimensions[name])
            rng.shuffle(options)
            for value in options:
                gain = sum(
                    1
                    for other, ov in row.items()
                    if ((other, ov, name, value) if names.index(other) < names.index(name) else (name, value, other, ov)) in uncovered
                )
                if gain > best_gain:
                    best, best_gain = value, gain
            row[name] = best
        for x, y in itertools.combinations(names, 2):
            uncovered.discard((x, row[x], y, row[y]))
        rows.append(row)
    return rows


def _channels(profile: str, market: str) -> dict:
    on, off = {"consent": True, "reachable": True}, {"consent": False, "reachable": False}
    all_off = {c: dict(off) for c in ("push", "email", "in_app", "sms", "line", "whatsapp")}
    if profile == "all":
        return {
            **all_off,
            "push": on,
            "email": on,
            "in_app": on,
            "sms": on,
            "line": on if market in ("TH", "ID") else off,
            "whatsapp": {"consent": True, "reachable": True, "window_open": True},
        }
    if profile == "email_only":
        return {**all_off, "email": on}
    if profile == "push_only":
        return {**all_off, "push": on, "in_app": on}
    if profile == "messaging_apps":
        return {**all_off, "line": on, "whatsapp": {"consent": True, "reachable": True, "window_open": False}}
    return all_off


def user_from_row(index: int, row: dict, base_day: datetime) -> UserState:
    market = row["market"]
    zone = MARKET_TIMEZONES[market]
    from zoneinfo import ZoneInfo

    local = datetime.combine(base_day.date(), datetime.min.time(), tzinfo=ZoneInfo(zone)) + timedelta(hours=row["local_hour"], minutes=15)
    days = {"new": 0, "onboarding_partial": 3, "active": 2, "lapsed": 45, "churned": 120}[row["lifecycle"]]
    blocker = row.get("blocker", "none")
    sent = {"daily_cap": (2, 3), "weekly_cap": (1, 5)}.get(blocker, (0, 1))
    languages = LANGUAGES[market]
    return UserState(
        id=f"s{index:03d}",
        market=market,
        timezone=zone,
        now=local.astimezone(timezone.utc),
        lifecycle=row["lifecycle"],
        days_since_active=days,
        ltv_segment=row["ltv_segment"],
        channels=_channels("none" if blocker == "no_consent" else row["consent_profile"], market),
        global_unsubscribe=blocker == "unsubscribed",
        recent_complaint=blocker == "complaint",
        converted_in_window=blocker == "converted",
        sent_today=sent[0],
        sent_this_week=sent[1],
        languages=languages,
        campaign={
            "name": {
                "sale": "9.9 sale",
                "winback": "we miss you",
                "onboarding": "finish sign-up",
                "transactional": "order shipped",
                "reminder": "cart reminder",
            }[row["campaign_kind"]],
            "kind": row["campaign_kind"],
            "content_language": languages[0],
            "available_languages": [*languages, "en"],
            "message_length": 140,
        },
    )


def adversarial(user: UserState, kind: str, rng: random.Random) -> UserState:
    data = user.model_dump()
    data["id"] = f"{user.id}-{kind}"
    data["perturbations"] = [kind]
    if kind == "missing_attributes":
        data["devices"], data["journey"], data["last_touch"] = [], None, None
        data["campaign"]["available_languages"] = [data["campaign"]["content_language"]]
    elif kind == "conflicting_signals":  # opted out of WhatsApp, yet the last touch was WhatsApp
        data["channels"]["whatsapp"] = {"consent": False, "reachable": True, "window_open": True}
        data["last_touch"] = {"channel": "whatsapp", "at": user.now - timedelta(hours=5)}
    elif kind == "multi_language_trigger":
        other = rng.choice([label for label in ("en", "th", "id", "vi", "zh") if label not in user.languages])
        data["campaign"]["content_language"] = other
    elif kind == "device_switch":
        data["devices"] = [
            {"platform": "android", "app_installed": False, "last_seen": user.now - timedelta(days=3)},
            {"platform": "ios", "app_installed": True, "last_seen": user.now - timedelta(minutes=20)},
        ]
        data["journey"], data["journey_step"] = "onboarding", "verify_phone"
    elif kind == "partial_onboarding_two_devices":
        data["lifecycle"], data["days_since_active"], data["shared_account"] = "onboarding_partial", 1, True
        data["devices"] = [{"platform": "web", "app_installed": False}, {"platform": "android", "app_installed": True}]
        data["journey"], data["journey_step"] = "onboarding", "profile_half_done"
    elif kind == "channel_switch":
        data["last_touch"] = {"channel": "email", "at": user.now - timedelta(hours=2)}
        data["channels"]["email"] = {"consent": True, "reachable": False}  # bounced since
    elif kind == "timezone_edge":
        from zoneinfo import ZoneInfo

        policy_start = "22:00" if user.market == "SG" else "21:00"
        hour, minute = (int(x) for x in policy_start.split(":"))
        local = user.now.astimezone(ZoneInfo(user.timezone)).replace(hour=hour, minute=minute) - timedelta(minutes=rng.choice([1, 0]))
        data["now"] = local.astimezone(timezone.utc)
    return UserState.model_validate(data)


def generate(seed: int = 7, adversarial_share: float = 1 / 3, policy: Policy | None = None) -> list[Scenario]:
    """Pairwise base scenarios plus at least `adversarial_share` of the total as adversarial variants."""
    policy = policy or load_policy()
    rng = random.Random(seed)
    base_day = datetime(2026, 9, 9, tzinfo=timezone.utc)
    rows = pairwise(DIMENSIONS, seed)
    for k, blocker in enumerate(BLOCKERS):  # each blocker on one base row, spread over the rows
        rows.append({**rows[(k * 7) % len(rows)], "blocker": blocker})
    users = [user_from_row(i, row, base_day) for i, row in enumerate(rows)]
    kinds = [
        "missing_attributes",
        "conflicting_signals",
        "multi_language_trigger",
        "device_switch",
        "partial_onboarding_two_devices",
        "channel_switch",
        "timezone_edge",
    ]
    needed = int(len(users) * adversarial_share / (1 - adversarial_share)) + 1
    variants = [adversarial(users[i % len(users)], kinds[i % len(kinds)], rng) for i in range(needed)]
    return [Scenario(user=u, expected=expected_action(u, policy)) for u in users + variants]
