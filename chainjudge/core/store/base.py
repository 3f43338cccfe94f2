"""What every part of the store shares: where the file is, the error for a run that cannot be resumed,
the fixed judge settings, UTC text, and the summary rows."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainjudge.errors import ChainjudgeError

DEFAULT_DB = Path(".chainjudge") / "chainjudge.db"


def utc_text(stamp: datetime) -> str:
    """An instant as UTC ISO text (naive times taken as UTC), so text order is time order."""
    stamp = stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp.astimezone(timezone.utc)
    return str(stamp.isoformat())


def resolve_db_path(db: str | os.PathLike[str] | None) -> Path | str:
    """--db beats CHAINJUDGE_DB beats .chainjudge/chainjudge.db in the working directory.  A
    `postgresql://` URL is returned as text (a Path would fold its `//`)."""
    chosen = db or os.environ.get("CHAINJUDGE_DB")
    if not chosen:
        return DEFAULT_DB
    if isinstance(chosen, str):
        return store_location(chosen)
    return Path(chosen)


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,40})://")
_CONNINFO = re.compile(r"\s{0,20}[A-Za-z_]{1,40}\s{0,20}=")


def store_location(text: str) -> Path | str:
    """A typed store location: any spelling of a PostgreSQL URL (`POSTGRESQL://`, `postgres://`,
    `postgresql+psycopg://`) as a `postgresql://` URL; a file path as a Path.  Anything else that looks like
    a connection string (another scheme, libpq's `host=... password=...`) is refused: it used to become a
    SQLite file in folders named after the URL, its password in the path."""
    match = _SCHEME.match(text)
    if match:
        scheme = match.group(1).lower()
        if scheme.split("+", 1)[0] in ("postgresql", "postgres"):
            return "postgresql://" + text[match.end() :]
        raise StoreUnavailable(f"--db {scheme}://...: unknown kind of store; give a SQLite file path or a postgresql:// URL")
    if _CONNINFO.match(text):
        raise StoreUnavailable(
            "--db takes a SQLite file path or a postgresql://user@host/db URL, not a key=value "
            "connection string (write it as a URL; PGPASSWORD or ~/.pgpass keep the password out of it)"
        )
    return Path(text)


def absolute_db(location: Path | str) -> Path | str:
    """A store location that means the same from any working directory (a URL already does)."""
    return location if isinstance(location, str) else location.resolve()


def masked_url(url: str) -> str:
    """A database URL fit to print: the password in the user part and in the query (`?password=`,
    `sslpassword=`) replaced by ***."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "(a database URL that cannot be parsed)"
    if password is not None:
        parts = parts._replace(netloc=parts.netloc.replace(f":{password}@", ":***@", 1))
    if parts.query:
        query = [(k, "***" if "password" in k.lower() else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        parts = parts._replace(query=urlencode(query, safe="*"))
    return urlunsplit(parts)


def url_secrets(url: str) -> list[str]:
    """The passwords in a database URL (to scrub from messages that may quote them)."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    try:
        parts = urlsplit(url)
        found = [parts.password, unquote(parts.password or "")]
        found += [v for k, v in parse_qsl(parts.query) if "password" in k.lower()]
    except ValueError:
        return []
    return [s for s in found if s]


# the PostgreSQL advisory lock every process takes while it migrates (any fixed 64-bit number)
MIGRATION_LOCK = 7_201_955_118


class RunMismatch(ChainjudgeError, ValueError):
    pass


class UnknownRun(ChainjudgeError, KeyError):
    """No run of that name in the store: one line naming the run and the store (a KeyError as well, for
    callers that look runs up like a mapping)."""

    def __init__(self, run: str, location: str) -> None:
        super().__init__(f"no run named {run!r} in {location}; see: chainjudge runs")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class RunBusy(ChainjudgeError, RuntimeError):
    """Another process is judging the same run right now."""


class StoreUnavailable(ChainjudgeError, RuntimeError):
    """The store cannot be opened (the PostgreSQL server does not answer, or psycopg is not installed)."""


# the judge settings that change answers; a run keeps them for life (the address it reaches may change)
FIXED_SETTINGS = (
    "mode",
    "batch",
    "temperature",
    "max_tokens",
    "max_reasks",
    "ask_evidence",
    "sample",
    "redact_pii",
    "max_context_chars",
    "max_step_chars",
    "aligned",
)


@dataclass(frozen=True)
class RunSummary:
    name: str
    rubric_id: str
    judge: str
    created_at: str
    judgments: int
    scored: int
    passed: int
    errors: int
    cost_usd: float


@dataclass(frozen=True)
class CriterionSummary:
    criterion_id: str
    judgments: int
    scored: int
    passed: int
    errors: int
    cost_usd: float

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.scored if self.scored else None


class StorePart:
    """What each part of the store (traces, people, review, splits) uses of the one connection.

    `Store` sets these and combines the parts; declaring them here lets a type checker see that the parts
    only use what a Store has (the parts are never used alone)."""

    _db: Any  # the locked connection: sqlite3 or PostgreSQL behind one interface
    dialect: Any  # SQLite() or Postgres(): the few statements that differ
    location: str  # for messages (a URL with its password masked)

    if TYPE_CHECKING:

        def transaction(self) -> AbstractContextManager[None]: ...

        def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

        def add_labels(self, labels: Sequence[Any]) -> int: ...
