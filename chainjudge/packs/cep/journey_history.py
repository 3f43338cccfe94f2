"""Journeys from a team's own history: an event log (CSV, JSONL or Parquet) read through an events
mapping, onto the user states `scenarios import` made from the same customers.

Each customer's imported state is the journey's start; the log's events after that moment become the
script (a purchase outside any message, an unsubscribe, consent and language changes, a new device) and
its decision rows (a campaign's send slot, a next-best-action call) become the decision points.  Ids are
pseudonymised with the same keyed hash as `scenarios import`, so the two files meet without a raw id
being written anywhere.  A bad row is reported with its line, column and reason and skipped; a customer
with no imported state, or with no decision after the snapshot, is reported and left out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chainjudge.packs.cep.journey import Journey, ScriptEvent
from chainjudge.packs.cep.scenario import UserState
from chainjudge.packs.cep.state_import import RowError, pseudonym, read_rows

Mapped = Literal[
    "decide",
    "device_switch",
    "language_change",
    "convert",
    "unsubscribe",
    "consent_change",
    "channel_switch",
    "in_app_browser",
    "shared_account",
    "ignore",
]
_PERTURBATION = {
    "device_switch": "device_switch",
    "language_change": "language_change",
    "convert": "converts_elsewhere",
    "unsubscribe": "unsubscribes",
    "channel_switch": "channel_switch",
    "in_app_browser": "in_app_browser",
    "shared_account": "shared_account",
}
_KIND_OF_CAMPAIGN: dict[str, Literal["onboarding", "winback", "sale_campaign"]] = {
    "onboarding": "onboarding",
    "winback": "winback",
    "sale": "sale_campaign",
}


class EventMapping(BaseModel):
    """How an event log's columns and values read as journey events (YAML, like the states' mapping)."""

    model_config = ConfigDict(extra="forbid")

    id_column: str
    time_column: str
    event_column: str
    events: dict[str, Mapped] = Field(min_length=1, description="Raw event value -> decide, a script event kind, or ignore.")
    channel_column: str | None = None
    channel_values: dict[str, str] = Field(default_factory=dict, description="Raw channel spelling -> channel.")
    from_channel_column: str | None = None
    consent_column: str | None = None
    language_column: str | None = None
    timestamp_format: str | None = Field(None, description="strptime format; ISO 8601 when unset.")
    timezone: str = Field("UTC", description="Zone of timestamps written without an offset.")
    kind: Literal["onboarding", "winback", "sale_campaign"] | None = Field(None, description="Every journey's kind, whatever its campaign.")
    campaign_kinds: dict[str, Literal["onboarding", "winback", "sale_campaign"]] = Field(
        default_factory=lambda: dict(_KIND_OF_CAMPAIGN), description="The state's campaign kind -> journey kind, when `kind` is unset."
    )


@dataclass
class JourneyImportReport:
    rows: int = 0
    events: int = 0
    decisions: int = 0
    journeys: int = 0
    errors: list[RowError] = field(default_factory=list)
    no_state: int = 0  # customers in the log without an imported state
    no_decision: list[str] = field(default_factory=list)  # customers with no decision after their snapshot
    before_snapshot: int = 0  # events already reflected in the imported state
    ignored: Counter = field(default_factory=Counter)  # raw event values mapped to `ignore`
    rejected: list[str] = field(default_factory=list)  # journeys the model rejected, with why


def load_event_mapping(path: Path) -> EventMapping:
    from chainjudge.core.yamlfile import YamlFileError, describe_validation, read_yaml

    try:
        return EventMapping.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise YamlFileError(f"{path}: {describe_validation(exc)}") from None


def _time(raw: Any, mapping: EventMapping) -> datetime:
    if isinstance(raw, datetime):
        moment = raw
    else:
        text = str(raw).strip()
        moment = datetime.strptime(text, mapping.timestamp_format) if mapping.timestamp_format else datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(mapping.timezone))
    return moment.astimezone(timezone.utc)


def _flag(raw: Any) -> bool | None:
    text = str(raw).strip().lower() if raw is not None else ""
    return {"1": True, "true": True, "yes": True, "y": True, "0": False, "false": False, "no": False, "n": False}.get(text)


def _row_event(line: int, row: dict, mapping: EventMapping) -> tuple[datetime, str, dict] | RowError:
    if "__unreadable__" in row:
        return RowError(line, "(row)", "unreadable", row["__unreadable__"])
    raw_event = str(row.get(mapping.event_column) or "").strip()
    if raw_event not in mapping.events:
        return RowError(line, mapping.event_column, "bad_value", f"event {raw_event[:60]!r} is not in the mapping's events")
    try:
        moment = _time(row.get(mapping.time_column), mapping)
    except (ValueError, TypeError) as exc:
        return RowError(line, mapping.time_column, "bad_timestamp", str(exc)[:200])
    fields: dict[str, Any] = {}
    for name, column in (("channel", mapping.channel_column), ("from_channel", mapping.from_channel_column)):
        raw = row.get(column) if column else None
        if raw not in (None, ""):
            fields[name] = mapping.channel_values.get(str(raw), str(raw).strip().lower())
    if mapping.consent_column and row.get(mapping.consent_column) not in (None, ""):
        consent = _flag(row.get(mapping.consent_column))
        if consent is None:
            return RowError(line, mapping.consent_column, "bad_value", f"{str(row.get(mapping.consent_column))[:40]!r} is not yes/no")
        fields["consent"] = consent
    if mapping.language_column and row.get(mapping.language_column) not in (None, ""):
        fields["language"] = str(row[mapping.language_column]).strip().lower()
    return moment, mapping.events[raw_event], fields


Row = tuple[datetime, int, str, dict]  # when, file line, event kind, the event's fields


def import_journeys(
    path: Path, mapping: EventMapping, states: dict[str, UserState], key: bytes
) -> tuple[list[Journey], JourneyImportReport]:
    """Journeys for the customers of `states` (ids already pseudonymised) from the event log at `path`."""
    report = JourneyImportReport()
    journeys = []
    for customer, rows in sorted(_events_by_customer(path, mapping, key, report).items()):
        start = states.get(customer)
        if start is None:
            report.no_state += 1
            continue
        journey = _journey_of(customer, start, sorted(rows, key=lambda r: (r[0], r[1])), mapping, report)
        if journey is not None:
            report.events += len(journey.events)
            report.decisions += len(journey.decision_points)
            journeys.append(journey)
    report.journeys = len(journeys)
    return journeys, report


def _events_by_customer(path: Path, mapping: EventMapping, key: bytes, report: JourneyImportReport) -> dict[str, list[Row]]:
    """Every readable event row, by pseudonymised customer; a bad row is reported (line, column, reason)."""
    by_customer: dict[str, list[Row]] = defaultdict(list)
    for line, row in read_rows(path):
        report.rows += 1
        raw_id = row.get(mapping.id_column) if "__unreadable__" not in row else None
        if "__unreadable__" not in row and raw_id in (None, ""):
            report.errors.append(RowError(line, mapping.id_column, "missing", "no customer id"))
            continue
        parsed = _row_event(line, row, mapping)
        if isinstance(parsed, RowError):
            report.errors.append(parsed)
            continue
        moment, kind, fields = parsed
        if kind == "ignore":
            report.ignored[str(row.get(mapping.event_column))] += 1
            continue
        by_customer[pseudonym(key, str(raw_id))].append((moment, line, kind, fields))
    return by_customer


def _journey_of(customer: str, start: UserState, rows: list[Row], mapping: EventMapping, report: JourneyImportReport) -> Journey | None:
    """One customer's journey: the rows after the snapshot, decisions as points and the rest as script."""
    later = [r for r in rows if r[0] >= start.now]
    report.before_snapshot += len(rows) - len(later)
    points = sorted({r[0] for r in later if r[2] == "decide"})
    if not points:
        report.no_decision.append(customer)
        return None
    events, perturbations = _script(later, mapping, report)
    journey_kind = mapping.kind or mapping.campaign_kinds.get(start.campaign.kind)
    if journey_kind is None:
        report.rejected.append(
            f"{customer}: no journey kind for campaign kind {start.campaign.kind!r} (map it in the events mapping's campaign_kinds)"
        )
        return None
    try:
        return Journey(
            id=customer,
            kind=journey_kind,
            start=start,
            decision_points=points,
            events=events,
            perturbations=sorted(perturbations),
            origin="imported",
        )
    except ValidationError as exc:
        report.rejected.append(f"{customer}: {exc.errors()[0]['msg'][:200]}")
        return None


def _script(rows: list[Row], mapping: EventMapping, report: JourneyImportReport) -> tuple[list[ScriptEvent], set[str]]:
    """The script events of the rows (a row that makes no valid event is reported) and the perturbations they are."""
    events, perturbations = [], set()
    for moment, line, kind, fields in rows:
        if kind == "decide":
            continue
        try:
            events.append(ScriptEvent(at=moment, kind=kind, **fields))  # type: ignore[arg-type]
        except ValidationError as exc:
            report.errors.append(RowError(line, mapping.event_column, "bad_value", exc.errors()[0]["msg"][:200]))
            continue
        if kind == "consent_change":
            perturbations.add("consent_granted" if fields.get("consent") else "consent_revoked")
        elif kind in _PERTURBATION:
            perturbations.add(_PERTURBATION[kind])
    return events, perturbations
