"""Ground truth from a team's own history: real user states exported from a CDP or warehouse (CSV, JSONL
or Parquet), read through a mapping file into the scenario model, with the expected action the contact
policy derives and, where the file has them, the expected action people annotated, side by side.

Every row is validated whole: a bad row is reported with its line, column and reason and skipped, never
half-imported; a contradiction the scenario model rejects is reported the same way unless the row
declares it (its perturbations column).  Customer ids are pseudonymised with a keyed hash whose key stays
in the local store; the report says which columns were hashed, dropped or not mapped.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from chainjudge.errors import ChainjudgeError
from chainjudge.packs.cep.mapping import Mapping
from chainjudge.packs.cep.policy import Policy, expected_action
from chainjudge.packs.cep.scenario import MARKET_TIMEZONES, PERTURBATIONS, ExpectedAction, Scenario, UserState
from chainjudge.reading.loading import not_utf8

_CASE = {
    "market": str.upper,
    "lifecycle": str.lower,
    "ltv_segment": str.lower,
    "last_touch.channel": str.lower,
    "campaign.kind": str.lower,
    "campaign.content_language": str.lower,
}
_TIMES = ("now", "last_touch.at")


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    kind: str  # missing, bad_value, bad_timestamp, contradiction, bad_expected, unreadable
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: column {self.column!r}: {self.reason}"


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)
    hashed: str = ""  # the id column, pseudonymised
    dropped: list[str] = field(default_factory=list)  # columns never read (the mapping's drop list)
    unmapped: list[str] = field(default_factory=list)  # columns the mapping does not mention (ignored)
    annotated: int = 0  # rows with an expected action from the file
    disagreements: int = 0  # of those, where the policy derives another action or channel
    seconds: float = 0.0
    seen: set[str] = field(default_factory=set)  # every column the file had

    def by_kind(self) -> Counter:
        return Counter(e.kind for e in self.errors)


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) from CSV (the header is line 1), JSONL, or Parquet (row n is 'line' n).  A row
    that cannot be read (bytes that are not UTF-8, JSON nested too deeply, a broken CSV line) comes back
    as {"__unreadable__": reason}: it is reported and skipped, the rows after it are still read.  A file
    that cannot be read at all (a corrupt Parquet) raises HistoryFileError."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_rows(path)
    elif suffix in (".jsonl", ".json", ".ndjson"):
        with path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield number, _json_row(line)
    else:
        yield from _csv_rows(path)


class HistoryFileError(ChainjudgeError):
    """The whole file is unreadable (not one bad row)."""


def _json_row(line: bytes) -> dict[str, Any]:
    try:
        row = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return {"__unreadable__": f"not UTF-8 text (byte {exc.start} of the line)"}
    except json.JSONDecodeError as exc:
        return {"__unreadable__": f"not JSON ({exc.msg})"}
    except RecursionError:
        return {"__unreadable__": "JSON nested too deeply to read"}
    return row if isinstance(row, dict) else {"__unreadable__": "not a JSON object"}


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    # bytes that are not UTF-8 become surrogates (reported per row), so one bad cell costs one row
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.DictReader(handle)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # a NUL byte, a field over the size limit: this line only
                yield reader.line_num, {"__unreadable__": f"not CSV ({exc})"}
                continue
            if any(not_utf8(k) or not_utf8(v) for k, v in row.items()):
                yield reader.line_num, {"__unreadable__": "not UTF-8 text"}
                continue
            yield reader.line_num, row


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        for batch_start, batch in _parquet_batches(parquet):
            for offset, row in enumerate(batch):
                yield batch_start + offset + 1, row
    except (pa.ArrowException, OSError) as exc:
        raise HistoryFileError(f"{path}: not a readable Parquet file ({' '.join(str(exc).split())[:200]})") from None


def _parquet_batches(parquet) -> Iterator[tuple[int, list[dict]]]:
    start = 0
    for batch in parquet.iter_batches(batch_size=4096):
        rows = batch.to_pylist()
        yield start, rows
        start += len(rows)


PSEUDONYM_SECRET = "cep-pseudonym-key"  # the local store's secret every importer hashes ids with, so their files meet


def pseudonym(key: bytes, raw: str) -> str:
    return "u-" + hmac.new(key, raw.strip().encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def _set(data: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip()) and value == value  # NaN


def _timestamp(value: Any, fmt: str | None, zone: str | None) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        moment = datetime.strptime(text, fmt) if fmt else datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        if zone is None:
            raise ValueError("a time without a zone, and the mapping gives no timezone")
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(timezone.utc)


def _value(mapping: Mapping, path: str, raw: Any, zone: str | None) -> Any:
    if path in mapping.lists:
        return [part.strip().lower() for part in str(raw).split(mapping.lists[path]) if part.strip()]
    table = mapping.values.get(path)
    if table is not None:
        folded = {str(k).casefold(): v for k, v in table.items()}
        raw = folded.get(str(raw).strip().casefold(), raw)
    if path in mapping.timestamps or path in _TIMES:
        return _timestamp(raw, mapping.timestamps.get(path), zone)
    if isinstance(raw, str):
        raw = raw.strip()
        return _CASE[path](raw) if path in _CASE else raw
    return raw


def _zone(row: dict, mapping: Mapping, market: Any) -> str | None:
    if mapping.timezone_column and _present(row.get(mapping.timezone_column)):
        return str(row[mapping.timezone_column]).strip()
    return mapping.timezone or MARKET_TIMEZONES.get(str(market or "").strip().upper())


def _perturbations(row: dict, mapping: Mapping) -> list[str]:
    raw = row.get(mapping.perturbations_column) if mapping.perturbations_column else None
    if not _present(raw):
        return []
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "y", "adversarial"):
        return ["conflicting_signals"]
    return [p.strip() for p in text.replace("|", ",").split(",") if p.strip() in PERTURBATIONS]


def _error(exc: ValidationError, mapping: Mapping, line: int, kind_hint: str = "") -> RowError:
    first = exc.errors()[0]
    path = ".".join(str(p) for p in first["loc"])
    if not path:
        return RowError(line, "(row)", kind_hint or "contradiction", first["msg"].removeprefix("Value error, "))
    kind = kind_hint or ("missing" if first["type"] == "missing" else "bad_value")
    shown = f" (got {first['input']!r})" if first["type"] != "missing" and not isinstance(first["input"], dict) else ""
    return RowError(line, mapping.column_of(path), kind, f"{path}: {first['msg']}{shown}"[:300])


def _state(row: dict, mapping: Mapping, key: bytes, line: int) -> UserState | RowError:
    if "__unreadable__" in row:
        return RowError(line, "(row)", "unreadable", row["__unreadable__"])
    raw_id = row.get(mapping.id_column)
    if not _present(raw_id):
        return RowError(line, mapping.id_column, "missing", "no customer id")
    data: dict[str, Any] = copy.deepcopy(mapping.defaults)
    market = next((row.get(c) for c, p in mapping.columns.items() if p == "market"), data.get("market"))
    zone = _zone(row, mapping, market)
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            return RowError(line, mapping.timezone_column or "timezone", "bad_value", f"unknown time zone {zone!r}")
    for column, path in mapping.columns.items():
        if column == mapping.id_column or not _present(row.get(column)):
            continue
        try:
            _set(data, path, _value(mapping, path, row[column], zone))
        except (ValueError, TypeError) as exc:
            kind = "bad_timestamp" if path in mapping.timestamps or path in _TIMES else "bad_value"
            return RowError(line, column, kind, f"{path}: {exc}"[:300])
    data["id"] = pseudonym(key, str(raw_id))
    data.setdefault("timezone", zone)
    data["perturbations"] = sorted(set(data.get("perturbations") or []) | set(_perturbations(row, mapping)))
    try:
        return UserState.model_validate(data)
    except ValidationError as exc:
        return _error(exc, mapping, line)


def _annotated(row: dict, mapping: Mapping, line: int) -> ExpectedAction | RowError | None:
    if not mapping.expected or not _present(row.get(mapping.expected["action"])):
        return None
    data: dict[str, Any] = {"reason": "annotated in the imported file"}
    for name, column in mapping.expected.items():
        value = row.get(column)
        if _present(value):
            value = str(value).strip()
            data[name] = value.lower() if name in ("action", "channel", "content_language") else value
    if isinstance(data.get("send_window"), str):
        data["send_window"] = tuple(part.strip() for part in data["send_window"].split("-", 1))
    try:
        return ExpectedAction.model_validate(data)
    except ValidationError as exc:
        error = _error(exc, mapping, line, "bad_expected")
        column = mapping.expected.get(str(exc.errors()[0]["loc"][0]), error.column) if exc.errors()[0]["loc"] else error.column
        return RowError(line, column, "bad_expected", error.reason)


def mapped_rows(path: Path, mapping: Mapping, key: bytes, report: ImportReport) -> Iterator[tuple[int, dict[str, Any], UserState]]:
    """(line, row, its user state) for every row whose state reads whole; the mapping's dropped columns are
    removed unread, and a row whose state does not read goes to `report.errors`.  Rows are counted and
    their columns noted in `report.seen`."""
    for line, row in read_rows(path):
        report.rows += 1
        report.seen.update(row)
        for column in mapping.drop:
            row.pop(column, None)  # never read, never kept
        state = _state(row, mapping, key, line)
        if isinstance(state, RowError):
            report.errors.append(state)
            continue
        yield line, row, state


def import_history(path: Path, mapping: Mapping, key: bytes, policy: Policy) -> tuple[list[Scenario], ImportReport]:
    """Every row of PATH as a scenario (policy-derived expected action, and the annotated one when the file
    has it), or as a RowError; nothing half-imported."""
    started = time.perf_counter()
    report = ImportReport(hashed=mapping.id_column, dropped=list(mapping.drop))
    scenarios, ids = [], set()
    for line, row, state in mapped_rows(path, mapping, key, report):
        annotated = _annotated(row, mapping, line)
        if isinstance(annotated, RowError):
            report.errors.append(annotated)
            continue
        if state.id in ids:
            report.errors.append(
                RowError(line, mapping.id_column, "duplicate", "the same customer appears earlier in the file; kept the first")
            )
            continue
        ids.add(state.id)
        derived = expected_action(state, policy)
        if annotated is not None:
            report.annotated += 1
            report.disagreements += (annotated.action, annotated.channel) != (derived.action, derived.channel)
        scenarios.append(
            Scenario(
                user=state,
                expected=derived,
                annotated=annotated,
                origin="imported",
                annotated_by=f"file:{mapping.expected['action']}" if annotated else None,
            )
        )
    report.imported = len(scenarios)
    known = (
        set(mapping.columns)
        | {mapping.id_column, mapping.timezone_column, mapping.perturbations_column}
        | set(mapping.drop)
        | set(mapping.expected.values())
    )
    report.unmapped = sorted(c for c in report.seen - known if c and not c.startswith("__"))
    report.seconds = time.perf_counter() - started
    return scenarios, report
