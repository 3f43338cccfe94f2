"""The user state a CEP agent decides on, and the action it should take (the annotated ground truth).

A scenario that is missing required fields or contradicts itself is not silently fixed: the loader
rejects it naming the field, unless the scenario declares that contradiction as an intended
perturbation (adversarial scenarios do, on purpose).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

Market = Literal["TH", "MY", "ID", "SG", "VN", "PH"]
Channel = Literal["push", "email", "in_app", "sms", "line", "whatsapp"]
MARKET_TIMEZONES = {
    "TH": "Asia/Bangkok",
    "MY": "Asia/Kuala_Lumpur",
    "ID": "Asia/Jakarta",
    "SG": "Asia/Singapore",
    "VN": "Asia/Ho_Chi_Minh",
    "PH": "Asia/Manila",
}

PERTURBATIONS = (
    "missing_attributes",
    "conflicting_signals",
    "multi_language_trigger",
    "device_switch",
    "partial_onboarding_two_devices",
    "channel_switch",
    "timezone_edge",
)


class ChannelState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consent: bool = False  # opted in (WhatsApp opt-in, LINE friend consent, marketing consent)
    reachable: bool = False  # push token / e-mail address / phone / LINE friend / app installed
    window_open: bool = False  # WhatsApp only: a 24-hour customer-service window is open


class Touch(BaseModel):
    channel: Channel
    at: datetime


class Device(BaseModel):
    platform: Literal["ios", "android", "web"]
    app_installed: bool = False
    last_seen: datetime | None = None


class Campaign(BaseModel):
    name: str
    kind: Literal["sale", "winback", "onboarding", "transactional", "reminder"]
    content_language: str = Field(description="Language of the content trigger, e.g. 'th', 'en', 'id'.")
    available_languages: list[str] = Field(default_factory=list, description="Languages the content exists in.")
    whatsapp_template_approved: bool = False
    message_length: int = Field(120, ge=1, description="Characters of the planned message.")
    starts_at: datetime | None = Field(
        None, exclude_if=lambda v: v is None, description="A campaign window (a 9.9 sale): nothing of it goes out before this time (UTC)."
    )
    ends_at: datetime | None = Field(
        None, exclude_if=lambda v: v is None, description="... nor after this one; unset on campaigns without a window."
    )


class UserState(BaseModel):
    """Everything the agent may know about one user at one moment."""

    model_config = ConfigDict(extra="forbid")

    id: str
    market: Market
    timezone: str
    now: datetime = Field(description="The current time (UTC, timezone-aware).")
    lifecycle: Literal["new", "onboarding_partial", "active", "lapsed", "churned"]
    days_since_active: int = Field(ge=0)
    ltv_segment: Literal["low", "mid", "high", "vip"]
    last_touch: Touch | None = None
    channels: dict[Channel, ChannelState]
    global_unsubscribe: bool = False
    recent_complaint: bool = False
    converted_in_window: bool = Field(False, description="Already converted through another channel in the attribution window.")
    sent_today: int = Field(0, ge=0)
    sent_this_week: int = Field(0, ge=0)
    languages: list[str] = Field(min_length=1)
    devices: list[Device] = Field(default_factory=list)
    shared_account: bool = False
    journey: str | None = None
    journey_step: str | None = None
    campaign: Campaign
    perturbations: list[str] = Field(default_factory=list, description="Adversarial variations this scenario carries on purpose.")

    @model_validator(mode="after")
    def _consistent(self) -> "UserState":
        if self.now.tzinfo is None:
            raise ValueError("now must carry a time zone (UTC)")
        unknown = [p for p in self.perturbations if p not in PERTURBATIONS]
        if unknown:
            raise ValueError(f"perturbations {unknown} are not among {list(PERTURBATIONS)}")
        if self.sent_today > self.sent_this_week:
            raise ValueError(f"sent_today ({self.sent_today}) exceeds sent_this_week ({self.sent_this_week})")
        if "conflicting_signals" not in self.perturbations:
            # inside a simulated journey consent can be withdrawn after the last message: no contradiction there
            if (
                self.last_touch
                and self.journey is None
                and self.last_touch.channel != "in_app"
                and not self.channels.get(self.last_touch.channel, ChannelState()).consent
            ):
                raise ValueError(f"last_touch.channel {self.last_touch.channel} has no consent; declare 'conflicting_signals' if intended")
            if self.lifecycle == "active" and self.days_since_active > 30:
                raise ValueError("lifecycle is active but days_since_active > 30; declare 'conflicting_signals' if intended")
        return self


class ExpectedAction(BaseModel):
    """What the contact policy says the agent should do: the ground truth decisions are scored against."""

    action: Literal["send", "wait", "suppress"]
    channel: Channel | None = None
    content_language: str | None = None
    send_window: tuple[str, str] | None = Field(None, description="Local times HH:MM from, to (for send or wait).")
    offer: str | None = None
    reason: str
    rules: list[str] = Field(default_factory=list, description="Ids of the policy rules that decided it.")


class AgentDecision(BaseModel):
    """The agent's final decision as it wrote it (a JSON object): the fields the pack scores, typed loosely
    because an agent may write anything there; any other field is kept as given."""

    model_config = ConfigDict(extra="allow")

    action: JsonValue = None
    channel: JsonValue = None
    content_language: JsonValue = None
    offer: JsonValue = None

    def text(self, name: str) -> str | None:
        """A field as text, empty values as None (so "" and null compare equal)."""
        value = getattr(self, name, None)
        return None if value in (None, "") else str(value)


class Scenario(BaseModel):
    """A user state and its expected action.  `expected` is the contact policy's derivation; an imported
    state may also carry `annotated`, the expected action people recorded (a file's column or a
    strategist): the two are kept side by side, never mixed."""

    user: UserState
    expected: ExpectedAction | None = None
    annotated: ExpectedAction | None = None
    annotated_by: str | None = Field(None, description="Where `annotated` came from: 'file:COLUMN' or 'strategist:NAME'.")
    origin: Literal["generated", "imported"] = "generated"
