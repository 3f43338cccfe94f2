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


def resolve_db_path(db: str | os.PathLike | None) -> Path:
    """--db beats CHAINJUDGE_DB beats .chainjudge/chainjudge.db in the working directory."""
    if db:
        return Path(db)
    env = os.environ.get("CHAINJUDGE_DB")
    return Path(env) if env else DEFAULT_DB


class RunMismatch(ValueError):
    pass


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
