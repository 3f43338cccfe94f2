"""A CDP export with the messiness of a real one, for tests and benchmarks of `scenarios import`:
missing attributes, mixed-case and abbreviated channels, Thai / Bahasa / Vietnamese names, naive local
times beside ISO times with offsets, a bad date now and then, undeclared contradictions, duplicated
customers, and a strategists' next-action column that is sometimes filled and sometimes wrong.

Written by a seeded generator (no real customer is in it); `MAPPING` is the mapping file a team would
write for it."""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

NAMES = [
    "Somchai Jaidee",
    "สมชาย ใจดี",
    "Siti Nurhaliza",
    "Budi Santoso",
    "Nguyễn Văn An",
    "Trần Thị Bích",
    "Ahmad bin Ismail",
    "Maria Santos",
    "Tan Wei Ming",
    "พิมพ์ชนก ศรีสุข",
    "Dewi Lestari",
    "Lê Hoàng Nam",
]
MARKETS = {
    "TH": "Asia/Bangkok",
    "ID": "Asia/Jakarta",
    "VN": "Asia/Ho_Chi_Minh",
    "MY": "Asia/Kuala_Lumpur",
    "SG": "Asia/Singapore",
    "PH": "Asia/Manila",
}
LANGS = {"TH": "th|en", "ID": "id", "VN": "vi|en", "MY": "ms|en", "SG": "en|zh", "PH": "en|tl"}
CHANNEL_SPELLINGS = ["LINE", "line", "L", "Email", "EMAIL", "email", "SMS", "sms", "Push", "push", "WA", "whatsapp", "In_App", ""]
COLUMNS = [
    "customer_id",
    "full_name",
    "email",
    "phone",
    "country",
    "tz",
    "snapshot_at",
    "stage",
    "days_inactive",
    "ltv",
    "last_channel",
    "last_touch_at",
    "push_optin",
    "email_optin",
    "sms_optin",
    "line_friend",
    "wa_optin",
    "langs",
    "sent_today",
    "sent_week",
    "unsubscribed",
    "complaint",
    "campaign_kind",
    "campaign_lang",
    "adversarial",
    "next_action",
    "next_channel",
    "strategist_note",
]

MAPPING = """\
id_column: customer_id
columns:
  country: market
  snapshot_at: now
  stage: lifecycle
  days_inactive: days_since_active
  ltv: ltv_segment
  last_channel: last_touch.channel
  last_touch_at: last_touch.at
  push_optin: channels.push.consent
  email_optin: channels.email.consent
  sms_optin: channels.sms.consent
  line_friend: channels.line.consent
  wa_optin: channels.whatsapp.consent
  langs: languages
  sent_today: sent_today
  sent_week: sent_this_week
  unsubscribed: global_unsubscribe
  complaint: recent_complaint
  campaign_kind: campaign.kind
  campaign_lang: campaign.content_language
values:
  last_touch.channel: {L: line, WA: whatsapp, In_App: in_app}
  ltv_segment: {H: high, M: mid, L: low}
lists: {languages: "|"}
timestamps: {last_touch.at: "%d/%m/%Y %H:%M"}
timezone_column: tz
defaults:
  channels:
    push: {reachable: true}
    email: {reachable: true}
    sms: {reachable: true}
    line: {reachable: true}
    whatsapp: {reachable: true}
    in_app: {consent: true, reachable: true}
  campaign: {name: history winback, kind: winback, content_language: en, available_languages: [en, th, id, vi, ms, zh, tl]}
drop: [full_name, email, phone]
perturbations_column: adversarial
expected:
  action: next_action
  channel: next_channel
  reason: strategist_note
"""


def _row(rng: random.Random, i: int, base: datetime) -> dict[str, str]:
    """One customer row (the generator draws in a fixed order, so a seed gives the same export)."""
    market = rng.choice(list(MARKETS))
    stage, days = _stage(rng)
    snapshot = base + timedelta(minutes=rng.randint(0, 60 * 24 * 7))
    naive = rng.random() < 0.5
    touch_channel = rng.choice(CHANNEL_SPELLINGS)
    optins = _optins(rng, touch_channel)
    sent_week = rng.randint(0, 6)
    row = {
        "customer_id": f"CUST-{100000 + i // (1 if rng.random() > 0.01 else 2)}",
        "full_name": rng.choice(NAMES),
        "email": f"user{i}@example.com",
        "phone": f"+66 8{rng.randint(10000000, 99999999)}",
        "country": market if rng.random() > 0.05 else market.lower(),
        "tz": MARKETS[market],
        "snapshot_at": snapshot.strftime("%Y-%m-%d %H:%M:%S") if naive else snapshot.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "stage": stage,
        "days_inactive": str(days),
        "ltv": rng.choice(["low", "mid", "high", "vip", "H", "M", "L"]),
        "last_channel": touch_channel,
        "last_touch_at": (snapshot - timedelta(days=days + 1)).strftime("%d/%m/%Y %H:%M") if touch_channel else "",
        **{column: optins[channel] for column, channel in _OPTIN_COLUMNS.items()},
        "langs": LANGS[market],
        "sent_today": str(min(sent_week, rng.randint(0, 2))),
        "sent_week": str(sent_week),
        "unsubscribed": "true" if rng.random() < 0.03 else "false",
        "complaint": "true" if rng.random() < 0.02 else "",
        "campaign_kind": rng.choice(["winback", "Sale", "reminder"]),
        "campaign_lang": LANGS[market].split("|")[0],
        **dict.fromkeys(("adversarial", "next_action", "next_channel", "strategist_note"), ""),
    }
    _mess(rng, row)
    return row


_OPTIN_COLUMNS = {"push_optin": "push", "email_optin": "email", "sms_optin": "sms", "line_friend": "line", "wa_optin": "wa"}


def _stage(rng: random.Random) -> tuple[str, int]:
    """A lifecycle stage as exports spell it, and days inactive that fit it (every draw made, whichever stage)."""
    stage = rng.choice(["new", "active", "Active", "lapsed", "LAPSED", "churned", "onboarding_partial"])
    days = {
        "new": 0,
        "active": rng.randint(0, 20),
        "lapsed": rng.randint(31, 90),
        "churned": rng.randint(91, 400),
        "onboarding_partial": rng.randint(0, 10),
    }[stage.lower()]
    return stage, days


def _optins(rng: random.Random, touch_channel: str) -> dict[str, str]:
    """Opt-ins as exports spell them; a consistent export: the last touch went through a channel the user agreed to."""
    optins = {c: rng.choice(["true", "false", "Y", "N", "1", "0"]) for c in ("push", "email", "sms", "line", "wa")}
    if touch_channel:
        key = {"l": "line", "wa": "wa", "whatsapp": "wa", "in_app": None}.get(touch_channel.lower(), touch_channel.lower())
        if key:
            optins[key] = "true"
    return optins


def _mess(rng: random.Random, row: dict[str, str]) -> None:
    """The faults a real export has, each on a few percent of rows."""
    roll = rng.random()
    if roll < 0.03:
        row["stage"] = ""  # a missing required attribute
    elif roll < 0.05:
        row["snapshot_at"] = "2026-02-31 10:00:00"  # a date that does not exist
    elif roll < 0.07:
        row["country"] = "XX"  # a market the model does not know
    elif roll < 0.09:
        row["stage"], row["days_inactive"] = "active", "120"  # a contradiction nobody declared
    elif roll < 0.10:
        row["stage"], row["days_inactive"], row["adversarial"] = "active", "120", "conflicting_signals"  # declared
    if rng.random() < 0.3:
        row["next_action"] = rng.choice(["send", "Send", "wait", "suppress", "maybe"])
        row["next_channel"] = rng.choice(["email", "line", "push", ""]) if row["next_action"].lower() == "send" else ""
        row["strategist_note"] = rng.choice(["win-back on LINE first", "ส่งอีเมลตอนเช้า", "jangan ganggu malam hari", ""])


def write_export(path: Path, rows: int = 10_000, seed: int = 20) -> Path:
    rng = random.Random(seed)
    base = datetime(2026, 10, 1, 0, 0)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for i in range(rows):
            writer.writerow(_row(rng, i, base))
    return path


EVENTS_MAPPING = """\
# How examples/cdp-events-sample.csv reads as journey events (see `chainjudge journeys import --help`).
id_column: customer_id
time_column: event_time
event_column: event
channel_column: channel
consent_column: opted_in
language_column: language
timezone: UTC
events:
  nba_call: decide             # the platform asked the next-best-action agent for a decision
  store_purchase: convert
  unsubscribe_link: unsubscribe
  consent_update: consent_change
  app_language: language_change
  new_device_web: device_switch
  webview_session: in_app_browser
  email_open: ignore
  page_view: ignore
channel_values: {WA: whatsapp, LINE: line, Email: email, Push: push, SMS: sms}
campaign_kinds: {winback: winback, sale: sale_campaign, reminder: sale_campaign}
"""

EVENT_COLUMNS = ["customer_id", "event_time", "event", "channel", "opted_in", "language"]


def write_events(path: Path, export: Path, seed: int = 21, share: float = 0.8) -> Path:
    """An event log for the customers of `export` (a CDP export written by `write_export`): a week of
    next-best-action calls after their snapshots, the events that happen between them, and the faults a
    real log has (an unknown event, a broken timestamp, a missing id, rows from before the snapshot)."""
    rng = random.Random(seed)
    with export.open(encoding="utf-8", newline="") as handle:
        customers = sorted({row["customer_id"] for row in csv.DictReader(handle) if row["customer_id"]})
    rows: list[dict[str, str]] = []
    for customer in customers:
        if rng.random() <= share:
            rows += _customer_events(customer, rng)
    rows.sort(key=lambda r: r["event_time"])
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=EVENT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


_EVENTS_BASE = datetime(2026, 10, 15, 2, 0)  # after every snapshot of the export (2026-10-01 .. 10-08)
_HAPPENINGS = [
    "none",
    "none",
    "store_purchase",
    "unsubscribe_link",
    "consent_update_off",
    "consent_update_on",
    "app_language",
    "new_device_web",
    "webview_session",
]
# what a happening writes beside customer, time and event (consent updates and language changes carry a value)
_HAPPENING_ROWS = {
    "consent_update_off": {"event": "consent_update", "channel": "WA", "opted_in": "N"},
    "consent_update_on": {"event": "consent_update", "channel": "SMS", "opted_in": "Y"},
    "app_language": {"event": "app_language", "language": "en"},
}


def _customer_events(customer: str, rng: random.Random) -> list[dict[str, str]]:
    """One customer's week: four calls (some followed by an e-mail open), one happening between the first two,
    and now and then a row from before the snapshot or a fault."""
    rows: list[dict[str, str]] = []
    start = _EVENTS_BASE + timedelta(hours=rng.randint(0, 48))
    calls = [start + timedelta(days=day, minutes=rng.randint(0, 90)) for day in (0, 1, 3, 5)]
    for call in calls:
        rows.append({"customer_id": customer, "event_time": call.isoformat(), "event": "nba_call"})
        if rng.random() < 0.4:
            opened = (call + timedelta(hours=2)).isoformat()
            rows.append({"customer_id": customer, "event_time": opened, "event": "email_open", "channel": "Email"})
    between = (calls[0] + (calls[1] - calls[0]) / 2).isoformat()
    happening = rng.choice(_HAPPENINGS)
    if happening != "none":
        rows.append({"customer_id": customer, "event_time": between, **_HAPPENING_ROWS.get(happening, {"event": happening})})
    if rng.random() < 0.1:  # already in the snapshot's state
        rows.append({"customer_id": customer, "event_time": "2026-09-20T10:00:00", "event": "page_view"})
    roll = rng.random()
    if roll < 0.03:
        rows.append({"customer_id": customer, "event_time": between, "event": "loyalty_tier_up"})
    elif roll < 0.05:
        rows.append({"customer_id": customer, "event_time": "2026-13-01 25:00", "event": "nba_call"})
    elif roll < 0.06:
        rows.append({"customer_id": "", "event_time": between, "event": "store_purchase"})
    return rows


SENDS_MAPPING_EXTRA = """\
# what was sent, how likely the logging policy was to send it, and what happened within 7 days
logged: {action: sent_action, channel: sent_channel, offer: sent_offer}
propensity: p_logged
outcomes: {converted: converted_7d, unsubscribed: unsubscribed_7d}
horizon_days: 7
"""


def write_send_log(path: Path, export: Path, seed: int = 22) -> Path:
    """A send log for the customers of `export` (a CDP export written by `write_export`): each row is the
    customer's state at the send plus the logged action of an epsilon-greedy logging policy with its
    propensity, and the conversions and unsubscribes of the next 7 days (a few rows broken on purpose:
    a propensity over 1, an outcome that is not a number)."""
    rng = random.Random(seed)
    actions = [("send", "email"), ("send", "push"), ("send", "line"), ("suppress", "")]
    with export.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = [*COLUMNS, "sent_action", "sent_channel", "sent_offer", "p_logged", "converted_7d", "unsubscribed_7d"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            favourite = 0 if row["country"].upper() not in ("TH", "ID") else 2
            probs = [0.7 + 0.3 / len(actions) if i == favourite else 0.3 / len(actions) for i in range(len(actions))]
            index = rng.choices(range(len(actions)), probs)[0]
            action, channel = actions[index]
            rate = {"email": 0.04, "push": 0.03, "line": 0.08, "": 0.01}[channel]
            row.update(
                sent_action=action,
                sent_channel=channel,
                sent_offer="WINBACK_10" if action == "send" and rng.random() < 0.3 else "",
                p_logged=f"{probs[index]:.4f}",
                converted_7d=str(int(rng.random() < rate)),
                unsubscribed_7d=str(int(action == "send" and rng.random() < 0.01)),
            )
            roll = rng.random()
            if roll < 0.01:
                row["p_logged"] = "1.7"
            elif roll < 0.02:
                row["converted_7d"] = "maybe"
            writer.writerow(row)
    return path
