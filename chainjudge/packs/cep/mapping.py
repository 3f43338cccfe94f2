"""How a CDP / warehouse export's columns become the CEP user state: the mapping file a team writes once
per export (YAML), validated before a single row is read.

```yaml
id_column: customer_id                 # pseudonymised on import (keyed hash); never stored as is
columns:                               # column -> user-state attribute (dotted path)
  country: market
  snapshot_at: now
  stage: lifecycle
  last_channel: last_touch.channel
  push_optin: channels.push.consent
values:                                # per attribute: raw value -> model value (case-insensitive)
  last_touch.channel: {L: line, WA: whatsapp}
lists: {languages: "|"}                # attribute -> separator of a list held in one cell
timestamps: {now: "%Y-%m-%d %H:%M:%S"} # strptime formats (ISO 8601 is read without one)
timezone_column: tz                    # naive timestamps are local to this column's zone ...
timezone: Asia/Bangkok                 # ... or to this one
defaults: {campaign: {name: winback, kind: winback, content_language: th}}
drop: [email, phone]                   # columns never read (reported)
perturbations_column: adversarial      # rows that declare an intended contradiction
expected:                              # optional: the strategists' expected next action, by column
  action: next_action
  channel: next_channel
  reason: strategist_note
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chainjudge.errors import ChainjudgeError

EXPECTED_FIELDS = ("action", "channel", "content_language", "send_window", "offer", "reason")


class MappingError(ChainjudgeError, ValueError):
    pass


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id_column: str
    columns: dict[str, str] = Field(min_length=1)
    values: dict[str, dict[str, Any]] = Field(default_factory=dict)
    lists: dict[str, str] = Field(default_factory=dict)
    timestamps: dict[str, str] = Field(default_factory=dict)
    timezone_column: str | None = None
    timezone: str | None = None
    defaults: dict[str, Any] = Field(default_factory=dict)
    drop: list[str] = Field(default_factory=list)
    perturbations_column: str | None = None
    expected: dict[str, str] = Field(default_factory=dict, description="ExpectedAction field -> column.")
    # logged outcomes (`outcomes import`): what was sent, how likely the logging policy was to send it, what happened
    logged: dict[str, str] = Field(default_factory=dict, description="Logged action field (action, channel, send_window, offer) -> column.")
    propensity: str | None = Field(None, description="Column of the logging policy's probability of the logged action.")
    exploration: Literal["uniform"] | None = Field(
        None, description="Instead of a propensity column: every action was equally likely (a random holdout)."
    )
    outcomes: dict[str, str] = Field(
        default_factory=dict, description="Outcome (converted, revenue, opened, clicked, unsubscribed, complained) -> column."
    )
    horizon_days: float | None = Field(None, gt=0, description="How long after the send the outcomes were counted.")
    granularity: list[str] = Field(default_factory=lambda: ["action", "channel"], description="The logged fields that make one action.")

    @field_validator("expected")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(EXPECTED_FIELDS))
        if unknown:
            raise ValueError(f"unknown expected-action fields {unknown}; known: {list(EXPECTED_FIELDS)}")
        if value and "action" not in value:
            raise ValueError("expected needs an `action` column")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def column_of(self, attribute: str) -> str:
        """The column an attribute (or its parent) was read from, for error messages."""
        for column, path in self.columns.items():
            if attribute == path or attribute.startswith(path + ".") or path.startswith(attribute + "."):
                return column
        return attribute


def load_mapping(path: Path) -> Mapping:
    from chainjudge.core.yamlfile import YamlFileError, read_yaml

    try:
        data = read_yaml(path)
    except YamlFileError as exc:
        raise MappingError(str(exc)) from None
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise MappingError(f"{path}: {where}: {first['msg']}") from None
