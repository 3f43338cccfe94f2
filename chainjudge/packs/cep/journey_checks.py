"""Checks over a whole journey: what one decision must honour given everything that happened before it.

Each check judges one decision step of a journey trace (`record --journeys`) from the journey's own
record: the script (what happened to the customer, and when) and the log (every earlier decision and the
customer's reaction).  They do not trust the state the simulator handed the agent: they recompute what
matters from the events, so a simulator bug cannot hide an agent's failure.  Registered as
`chainjudge.checks` plug-ins, they produce judgments like every other check (failures are data).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from chainjudge.core.checks import AgentOutputUnusable, CheckInputMissing, CheckResult
from chainjudge.core.schema import Step, Trace
from chainjudge.packs.cep.customer import is_send
from chainjudge.packs.cep.decisions import _json_object
from chainjudge.packs.cep.journey import Journey, latest_language
from chainjudge.packs.cep.policy import in_quiet_hours, load_policy
from chainjudge.packs.cep.scenario import AgentDecision


@lru_cache(maxsize=1)
def _policy():
    return load_policy()


@dataclass(frozen=True)
class Moment:
    """One decision of a journey and what came before it."""

    journey: Journey
    point: int
    at: datetime
    decision: AgentDecision
    earlier: list[dict]  # the journey log's entries before this decision

    @property
    def sends(self) -> bool:
        return is_send(self.decision.text("action"))

    def events_before(self) -> list:
        return [e for e in self.journey.events if e.at <= self.at]

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.journey.start.timezone))


@lru_cache(maxsize=64)
def _journey(trace_id: str, raw: str) -> Journey:
    return Journey.model_validate_json(raw)


def _moment(trace: Trace, step: Step) -> Moment:
    import json

    raw, log = trace.metadata.get("journey"), trace.metadata.get("journey_log")
    point = step.metadata.get("decision_point")
    if not isinstance(raw, dict) or not isinstance(log, list) or not isinstance(point, int):
        raise CheckInputMissing(
            "not a journey trace: no journey, journey_log or decision_point in its metadata (record it with `record --journeys`)"
        )
    journey = _journey(trace.id, json.dumps(raw, sort_keys=True))
    if not 0 <= point < len(journey.decision_points):
        raise CheckInputMissing(f"decision_point {point} is not one of the journey's {len(journey.decision_points)} decisions")
    parsed = _json_object(step.text)
    if parsed is None:
        raise AgentOutputUnusable("the decision step holds no parseable JSON decision")
    earlier = [e for e in log if isinstance(e, dict) and isinstance(at := e.get("point"), int) and at < point]
    return Moment(journey, point, journey.decision_points[point], AgentDecision.model_validate(parsed), earlier)


def _earlier_sends(m: Moment) -> list[dict]:
    return [e for e in m.earlier if (e.get("reaction") or {}).get("sent")]


def journey_frequency_cap(trace: Trace, step: Step) -> CheckResult:
    m = _moment(trace, step)
    caps, start = _policy().frequency_caps, m.journey.start
    if not m.sends or start.campaign.kind in caps.get("exempt_kinds", []):
        return CheckResult(True, "nothing sent now" if not m.sends else "transactional: exempt from caps")
    day = m.local(m.at).date()
    sends = [datetime.fromisoformat(e["at"]) for e in _earlier_sends(m)]
    today = sum(1 for at in sends if m.local(at).date() == day) + (start.sent_today if m.local(start.now).date() == day else 0)
    week = sum(1 for at in sends if m.at - at < timedelta(days=7)) + (start.sent_this_week if m.at - start.now < timedelta(days=7) else 0)
    if today >= caps["per_day"] or week >= caps["per_week"]:
        return CheckResult(
            False,
            f"sends a message although {today} went out today and {week} in the past 7 days (caps {caps['per_day']} / {caps['per_week']})",
        )
    return CheckResult(True, f"{today} today and {week} this week before this send: within the caps")


def journey_no_contact_after_exit(trace: Trace, step: Step) -> CheckResult:
    m = _moment(trace, step)
    if not m.sends:
        return CheckResult(True, "nothing sent now")
    exits = []
    for event in m.events_before():
        if event.kind == "unsubscribe":
            exits.append(f"unsubscribed at {m.local(event.at):%m-%d %H:%M}")
        elif event.kind == "convert" and m.journey.start.campaign.kind != "transactional":
            exits.append(f"converted elsewhere at {m.local(event.at):%m-%d %H:%M}")
    for entry in m.earlier:
        reaction = entry.get("reaction") or {}
        if reaction.get("unsubscribed"):
            exits.append(f"unsubscribed after decision {entry['point'] + 1}")
        if reaction.get("converted") and m.journey.start.campaign.kind != "transactional":
            exits.append(f"converted after decision {entry['point'] + 1}")
    if m.journey.start.global_unsubscribe:
        exits.append("unsubscribed before the journey")
    if exits:
        return CheckResult(False, f"sends although the customer {exits[0]}")
    return CheckResult(True, "no conversion or unsubscribe before this send")


def _consent_now(m: Moment, channel: str) -> tuple[bool, str]:
    state = m.journey.start.channels.get(channel)  # type: ignore[call-overload]
    consent, why = bool(state and state.consent), "at the start of the journey"
    for event in m.events_before():
        when = f"{m.local(event.at):%m-%d %H:%M}"
        if event.kind == "consent_change" and event.channel == channel:
            consent, why = bool(event.consent), f"{'granted' if event.consent else 'withdrawn'} at {when}"
        elif event.kind == "channel_switch" and event.from_channel == channel:
            consent, why = False, f"the customer asked to leave {channel} at {when}"
        elif event.kind == "channel_switch" and event.channel == channel:
            consent, why = True, f"the customer asked for {channel} at {when}"
    return consent, why


def journey_consent_current(trace: Trace, step: Step) -> CheckResult:
    m = _moment(trace, step)
    channel = m.decision.text("channel")
    if not m.sends or not channel:
        return CheckResult(True, "nothing sent now")
    consent, why = _consent_now(m, channel)
    if not consent:
        return CheckResult(False, f"sends on {channel} without consent at this moment ({why})")
    return CheckResult(True, f"consent on {channel} ({why})")


def journey_quiet_hours_local(trace: Trace, step: Step) -> CheckResult:
    m = _moment(trace, step)
    policy = _policy()
    quiet = policy.quiet_hours.get(m.journey.start.market) or policy.quiet_hours["default"]
    local = m.local(m.at)
    if m.sends and in_quiet_hours(local.time(), quiet):
        return CheckResult(
            False, f"sends at {local:%H:%M} local ({m.journey.start.timezone}), inside quiet hours {quiet.start}-{quiet.end}"
        )
    return CheckResult(True, f"{local:%H:%M} local: outside quiet hours or nothing sent")


def journey_language_latest(trace: Trace, step: Step) -> CheckResult:
    m = _moment(trace, step)
    language = m.decision.text("content_language")
    if not m.sends:
        return CheckResult(True, "nothing sent now")
    latest = latest_language(m.journey, m.at)
    available = m.journey.start.campaign.available_languages
    if latest not in available and available:
        return CheckResult(True, f"no content in the latest preference {latest!r}: any language the user reads will do")
    if language != latest:
        return CheckResult(False, f"content in {language!r}; the customer's latest language preference is {latest!r}")
    return CheckResult(True, f"content in {latest}, the latest preference")


def journey_channel_switch(trace: Trace, step: Step) -> CheckResult:
    m = _moment(trace, step)
    channel = m.decision.text("channel")
    if not m.sends or not channel:
        return CheckResult(True, "nothing sent now")
    for event in reversed(m.events_before()):
        when = f"{m.local(event.at):%m-%d %H:%M}"
        if event.kind == "channel_switch" and channel == event.from_channel:
            return CheckResult(False, f"sends on {channel} after the customer asked for {event.channel} instead at {when}")
        if event.kind == "device_switch" and channel in ("push", "in_app"):
            return CheckResult(False, f"sends {channel} after the app left the customer's phone at {when}")
        if event.kind == "in_app_browser" and channel == "in_app":
            return CheckResult(False, f"sends in-app while the customer is in a super-app's web view (since {when})")
    return CheckResult(True, f"{channel} is still a channel the customer uses")


def journey_offer_consistent(trace: Trace, step: Step) -> CheckResult:
    m = _moment(trace, step)
    offer = m.decision.text("offer")
    if not m.sends or not offer or offer.lower() in ("none", "null"):
        return CheckResult(True, "no offer in this decision")
    for entry in reversed(_earlier_sends(m)):
        earlier = (entry.get("decision") or {}).get("offer")
        if earlier in (None, "") or str(earlier).lower() in ("none", "null"):
            continue
        if str(earlier) == offer:
            return CheckResult(False, f"repeats the offer {offer} already sent at decision {entry['point'] + 1}")
        return CheckResult(False, f"offers {offer} after {earlier} at decision {entry['point'] + 1}: contradicts it")
    return CheckResult(True, f"first offer of the journey: {offer}")


def journey_campaign_window(trace: Trace, step: Step) -> CheckResult:
    m = _moment(trace, step)
    campaign = m.journey.start.campaign
    if not m.sends or (campaign.starts_at is None and campaign.ends_at is None):
        return CheckResult(True, "nothing sent now" if not m.sends else "the campaign has no window")
    if campaign.starts_at is not None and m.at < campaign.starts_at:
        return CheckResult(False, f"sends '{campaign.name}' before its window opens ({m.local(campaign.starts_at):%m-%d %H:%M} local)")
    if campaign.ends_at is not None and m.at >= campaign.ends_at:
        return CheckResult(False, f"sends '{campaign.name}' after its window closed ({m.local(campaign.ends_at):%m-%d %H:%M} local)")
    return CheckResult(True, "inside the campaign window")


JOURNEY_CHECKS = {
    check.__name__: check
    for check in (
        journey_frequency_cap,
        journey_no_contact_after_exit,
        journey_consent_current,
        journey_quiet_hours_local,
        journey_language_latest,
        journey_channel_switch,
        journey_offer_consistent,
        journey_campaign_window,
    )
}
