"""Journey scenarios: a starting user state plus a script of events over simulated days, and the moments
the agent is asked to decide.

A journey is data (JSONL, one per line) so a team can write, review and replay them.  The script holds
only what happens *to* the customer independently of the agent (a device switch, a language change, a
conversion through another channel, an unsubscribe from an e-mail footer, consent changes, a sale window,
a session in a super-app's in-app browser, a second person on the account); how the customer answers the
agent's own messages is the simulated customer's part (`customer.py`).

`apply_event` is the one place a script event changes the state, so the simulator, the checks and the
tests agree on what each event means.  A journey that contradicts itself (events out of order, a decision
before the journey starts, a consent change on a channel the state does not know) is rejected by the
loader naming the field, as single scenarios are.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chainjudge.packs.cep.scenario import Channel, UserState

JourneyKind = Literal["onboarding", "winback", "sale_campaign"]
JOURNEY_KINDS: tuple[str, ...] = ("onboarding", "winback", "sale_campaign")

EventKind = Literal[
    "device_switch", "language_change", "convert", "unsubscribe", "consent_change", "channel_switch", "in_app_browser", "shared_account"
]

JOURNEY_PERTURBATIONS: tuple[str, ...] = (
    "device_switch",  # the app is gone from the only phone: push and in-app stop reaching the user
    "language_change",  # the user switches the app's language: content follows the latest preference
    "converts_elsewhere",  # buys in a store or on the web: no more marketing for this campaign
    "unsubscribes",  # clicks "unsubscribe from everything" in an e-mail footer
    "consent_revoked",  # opts out of one channel (a WhatsApp STOP)
    "consent_granted",  # opts in to a new channel mid-journey (adds the brand as a LINE friend)
    "channel_switch",  # asks to be contacted on another channel from now on
    "quiet_hours_crossing",  # decision points a few minutes either side of local quiet hours
    "sale_window",  # a campaign with a window (a 9.9 sale): nothing before it opens or after it closes
    "in_app_browser",  # a session inside a super-app's in-app browser: no app session, no deep links
    "shared_account",  # two people on one account, with conflicting language signals
)

JOURNEY_STEPS = {
    "onboarding": ("welcome", "complete_profile", "first_order", "habit"),
    "winback": ("reminder", "offer", "last_chance", "farewell"),
    "sale_campaign": ("teaser", "launch", "reminder", "last_call"),
}


class ScriptEvent(BaseModel):
    """Something that happens to the customer at a moment, whatever the agent does."""

    model_config = ConfigDict(extra="forbid")

    at: datetime = Field(description="When it happens (UTC, timezone-aware).")
    kind: EventKind
    channel: Channel | None = Field(
        None, description="consent_change: the channel; channel_switch: the channel asked for; convert: where (informative)."
    )
    from_channel: Channel | None = Field(None, description="channel_switch: the channel the user no longer wants.")
    consent: bool | None = Field(None, description="consent_change: the new consent.")
    language: str | None = Field(None, description="language_change / shared_account: the language now preferred.")
    note: str = ""

    @model_validator(mode="after")
    def _complete(self) -> "ScriptEvent":
        if self.at.tzinfo is None:
            raise ValueError("at must carry a time zone (UTC)")
        needs = {
            "consent_change": ("channel", "consent"),
            "channel_switch": ("channel", "from_channel"),
            "language_change": ("language",),
            "shared_account": ("language",),
        }.get(self.kind, ())
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} event needs {', '.join(missing)}")
        return self


class Journey(BaseModel):
    """A starting state, the script, and when the agent decides."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    kind: JourneyKind
    start: UserState
    decision_points: list[datetime] = Field(min_length=1, description="When the agent is asked for its next action (UTC).")
    events: list[ScriptEvent] = Field(default_factory=list)
    perturbations: list[str] = Field(default_factory=list, description="The journey perturbations it carries on purpose.")
    seed: int = 0
    origin: Literal["generated", "imported"] = Field(
        "generated", description="imported: built from a team's own history (`journeys import`)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> "Journey":
        unknown = [p for p in self.perturbations if p not in JOURNEY_PERTURBATIONS]
        if unknown:
            raise ValueError(f"perturbations {unknown} are not among {list(JOURNEY_PERTURBATIONS)}")
        points = self.decision_points
        if any(p.tzinfo is None for p in points):
            raise ValueError("decision_points must carry a time zone (UTC)")
        if points != sorted(points) or len(set(points)) != len(points):
            raise ValueError("decision_points must be strictly increasing")
        if points[0] < self.start.now:
            raise ValueError(
                f"decision_points[0] ({points[0].isoformat()}) is before the journey starts (start.now {self.start.now.isoformat()})"
            )
        for n, event in enumerate(self.events):
            if event.at < self.start.now:
                raise ValueError(f"events[{n}] happens before the journey starts")
            if n and event.at < self.events[n - 1].at:
                raise ValueError(f"events[{n}] is earlier than events[{n - 1}]: the script must be in time order")
            for name in ("channel", "from_channel"):
                channel = getattr(event, name)
                if channel is not None and event.kind in ("consent_change", "channel_switch") and channel not in self.start.channels:
                    raise ValueError(f"events[{n}].{name} {channel!r} is not among the state's channels")
        return self


def apply_event(user: UserState, event: ScriptEvent) -> UserState:
    """The state after a script event (pure: the input state is not changed)."""
    data = user.model_dump()
    channels = data["channels"]
    if event.kind == "device_switch":  # the app left the only phone: its push token and in-app session with it
        for name in ("push", "in_app"):
            channels.setdefault(name, {"consent": False, "reachable": False, "window_open": False})["reachable"] = False
        data["devices"] = [*data["devices"], {"platform": "web", "app_installed": False, "last_seen": event.at}]
    elif event.kind == "in_app_browser":  # inside a super-app's web view: no app session to show in-app content
        channels.setdefault("in_app", {"consent": False, "reachable": False, "window_open": False})["reachable"] = False
        data["devices"] = [*data["devices"], {"platform": "web", "app_installed": False, "last_seen": event.at}]
    elif event.kind == "language_change":  # the preference is replaced
        data["languages"] = [event.language]
    elif event.kind == "shared_account":  # a second reader's language joins, after the owner's preference
        data["languages"] = [*[x for x in data["languages"] if x != event.language], event.language]
        data["shared_account"] = True
    elif event.kind == "convert":
        data["converted_in_window"] = True
        data["days_since_active"] = 0
    elif event.kind == "unsubscribe":
        data["global_unsubscribe"] = True
    elif event.kind == "consent_change":
        state = channels.setdefault(event.channel, {"consent": False, "reachable": False, "window_open": False})
        state["consent"] = bool(event.consent)
        if event.consent:
            state["reachable"] = True
    elif event.kind == "channel_switch":
        channels[event.from_channel]["consent"] = False
        target = channels.setdefault(event.channel, {"consent": False, "reachable": False, "window_open": False})
        target["consent"] = target["reachable"] = True
    return UserState.model_validate(data)


def latest_language(journey: Journey, until: datetime) -> str:
    """The language the customer prefers at `until`: the last language change before it, else the first
    language of the starting state.  A second person on a shared account is a conflicting signal, not a
    change of preference: it does not move the answer (the judge's criteria look at how it is handled)."""
    language = journey.start.languages[0]
    for event in journey.events:
        if event.at <= until and event.language and event.kind == "language_change":
            language = event.language
    return language


def journey_step(journey: Journey, point: int) -> str:
    steps = JOURNEY_STEPS[journey.kind]
    return steps[min(point, len(steps) - 1)]


def load_journeys(path: str | Path) -> dict[str, Journey]:
    """Journeys from a JSONL file; a line that does not validate stops the load naming file and line."""
    journeys: dict[str, Journey] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            journey = Journey.model_validate_json(line)
        except ValueError as exc:
            raise ValueError(f"{path}: line {number}: {exc}") from None
        if journey.id in journeys:
            raise ValueError(f"{path}: line {number}: journey id {journey.id!r} appears twice")
        journeys[journey.id] = journey
    return journeys
