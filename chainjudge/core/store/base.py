"""What every part of the store shares: where the file is, the error for a run that cannot be resumed,
the fixed judge settings, UTC text, and the summary rows."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DB = Path(".chainjudge") / "chainjudge.db"


def utc_text(stamp) -> str:
    """An instant as UTC ISO text (naive times taken as UTC), so text order is time order."""
    from datetime import timezone

    stamp = stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp.astimezone(timezone.utc)
    return stamp.isoformat()


def resolve_db_path(db: str | os.PathLike | None) -> Path | str:
    """--db beats CHAINJUDGE_DB beats .chainjudge/chainjudge.db in the working directory.  A
    `postgresql://` URL is returned as text (a Path would fold its `//`)."""
    chosen = db or os.environ.get("CHAINJUDGE_DB")
    if not chosen:
        return DEFAULT_DB
    if isinstance(chosen, str) and chosen.startswith(("postgresql://", "postgres://")):
        return chosen
    return Path(chosen)


def absolute_db(location: Path | str) -> Path | str:
    """A store location that means the same from any working directory (a URL already does)."""
    return location if isinstance(location, str) else location.resolve()


def masked_url(url: str) -> str:
    """A database URL fit to print: the password replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# the PostgreSQL advisory lock every process takes while it migrates (any fixed 64-bit number)
MIGRATION_LOCK = 7_201_955_118


class RunMismatch(ValueError):
    pass


class StoreUnavailable(RuntimeError):
    """The store cannot be opened (the PostgreSQL server does not answer, or psycopg is not installed)."""


# the judge settings that change answers; a run keeps them for life (the address it reaches may change)
FIXED_SETTINGS = ("mode", "batch", "temperature", "max_tokens", "max_reasks", "ask_evidence", "sample", "redact_pii",
                  "max_context_chars", "max_step_chars", "aligned")


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
