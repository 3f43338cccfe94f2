"""Signed-in review sessions: who a session writes as, for how long, and whether it still may.

Why this exists (each was reproduced against the app before it):
- a tab left open kept writing as `review:NAME` after `chainjudge reviewers revoke NAME`: a session now
  carries the hash of the credential it signed in with, and every script run (so every write) checks it
  again against the store (personal tokens) or the environment (the shared token);
- sessions never ended: they now expire (`SESSION_HOURS`, and after `IDLE_MINUTES` without a run), and a
  reviewer can sign out;
- sign-in could be tried without limit: failures are counted per session and in all, in sliding windows;
- any number of sessions could sign in: at most `MAX_SESSIONS` signed-in sessions at once;
- the shared token could be one character: it must have `MIN_SHARED_TOKEN` characters or more.

The state lives in this module (one per app process; Streamlit imports it once), never in the store, and
it holds no connection: the app opens the store per script run and only after sign-in.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from chainjudge.core.store import Store
from chainjudge.review.reviewers import NAME, PREFIX, token_hash

SESSION_HOURS = 8.0
IDLE_MINUTES = 30.0
MAX_SESSIONS = 50
MIN_SHARED_TOKEN = 16
FAILURES_PER_SESSION = 5  # wrong tokens a session may send ...
FAILURES_IN_ALL = 30  # ... and all sessions together, per window
FAILURE_WINDOW_S = 300.0


@dataclass(frozen=True)
class Credential:
    """What a session signed in with: the annotator it writes as and how to check it again later."""

    annotator: str
    kind: Literal["personal", "shared", "local"]
    secret_hash: str | None  # SHA-256 of the token used (never the token)
    signed_in_at: float


def shared_token_problem(shared: str | None) -> str | None:
    """Why the configured shared token may not be used, or None."""
    if shared is not None and len(shared.strip()) < MIN_SHARED_TOKEN:
        return (
            f"CHAINJUDGE_REVIEW_TOKEN is shorter than {MIN_SHARED_TOKEN} characters: it could be guessed. "
            "Set a longer one, or give reviewers personal tokens (chainjudge reviewers add NAME)."
        )
    return None


def check(store: Store, token: str, name: str, shared: str | None, now: float) -> tuple[Credential | None, str | None]:
    """(credential, None) for a valid sign-in, else (None, what is wrong).  The shared token counts only
    when it is long enough."""
    token, name = (token or "").strip(), (name or "").strip()
    shared = None if shared_token_problem(shared) else shared
    if token:
        hashed = token_hash(token)
        person = store.reviewer_by_token_hash(hashed)
        if person:
            return Credential(PREFIX + person, "personal", hashed, now), None
        if shared and hmac.compare_digest(token.encode(), shared.strip().encode()):
            return _named("shared:", name, "shared", hashed, now)
        return None, "Wrong access token."
    if shared or store.uses_personal_tokens():
        return None, "Give your access token."
    return _named("local:", name, "local", None, now)


def _named(prefix: str, name: str, kind, hashed, now) -> tuple[Credential | None, str | None]:
    if not NAME.fullmatch(name):
        return None, "Give your name (letters, digits, '.', '_' or '-'): every adjudication is stored with it."
    return Credential(PREFIX + prefix + name, kind, hashed, now), None


def still_valid(
    store: Store, credential: Credential, shared: str | None, now: float, max_age_s: float = SESSION_HOURS * 3600
) -> str | None:
    """None when the session may go on writing, else why it may not (revoked, expired, token changed)."""
    if now - credential.signed_in_at > max_age_s:
        return f"Your session ended after {max_age_s / 3600:g} hours: sign in again."
    if credential.kind == "personal":
        person = store.reviewer_by_token_hash(credential.secret_hash or "")
        if PREFIX + (person or "") != credential.annotator:
            return "Your access token was revoked: nothing more is saved from this session."
        return None
    if credential.kind == "shared":
        usable = None if shared_token_problem(shared) else shared
        if not usable or not hmac.compare_digest(token_hash(usable), credential.secret_hash or ""):
            return "The shared access token changed: sign in again."
        return None
    if shared or store.uses_personal_tokens():
        return "This app now needs an access token: sign in again."
    return None


@dataclass
class SignInLimiter:
    """Failed sign-ins in a sliding window, per session and in all: past either bound, attempts are refused
    without checking the token (so guessing is slow whatever the number of sessions)."""

    per_session: int = FAILURES_PER_SESSION
    in_all: int = FAILURES_IN_ALL
    window_s: float = FAILURE_WINDOW_S
    _failures: deque = field(default_factory=deque)  # (time, session)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _expire(self, now: float) -> None:
        while self._failures and now - self._failures[0][0] > self.window_s:
            self._failures.popleft()

    def refused(self, session: str, now: float) -> str | None:
        with self._lock:
            self._expire(now)
            mine = sum(1 for _, s in self._failures if s == session)
            if mine >= self.per_session or len(self._failures) >= self.in_all:
                wait = self.window_s - (now - self._failures[0][0]) if self._failures else self.window_s
                return f"Too many failed sign-ins: try again in {max(1, int(wait))} s."
            return None

    def failed(self, session: str, now: float) -> None:
        with self._lock:
            self._failures.append((now, session))


@dataclass
class SessionTable:
    """Signed-in sessions (id -> last run); a session idle past `idle_s` is forgotten and its place freed."""

    limit: int = MAX_SESSIONS
    idle_s: float = IDLE_MINUTES * 60
    _seen: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _expire(self, now: float) -> None:
        for session in [s for s, seen in self._seen.items() if now - seen > self.idle_s]:
            del self._seen[session]

    def admit(self, session: str, now: float) -> bool:
        with self._lock:
            self._expire(now)
            if session not in self._seen and len(self._seen) >= self.limit:
                return False
            self._seen[session] = now
            return True

    def touch(self, session: str, now: float) -> bool:
        """Note a run of a signed-in session; False when it had been idle too long (it must sign in again)."""
        with self._lock:
            self._expire(now)
            if session not in self._seen:
                return False
            self._seen[session] = now
            return True

    def leave(self, session: str) -> None:
        with self._lock:
            self._seen.pop(session, None)

    def __len__(self) -> int:
        return len(self._seen)


LIMITER = SignInLimiter()
SESSIONS = SessionTable()


def session_key(seed: str) -> str:
    """A stable, opaque id for a browser session (the app keeps a random seed in its session state)."""
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def now() -> float:
    return time.time()
