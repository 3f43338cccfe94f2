"""Who may adjudicate: personal reviewer tokens, and the identity every adjudication is stored under.

A reviewer's adjudications are labels whose annotator always starts with `review:`, so nobody signing in
to the app can write labels as an imported annotator (`human`, `apb-human`) or as the ground truth, and
every reference label can be traced to the person who gave it.  Only a SHA-256 of each personal token is
stored (the tokens are 32 random bytes, so a plain hash is enough); the token is printed once.

Three ways in, each recorded as what it is (checked by `chainjudge.review.sessions`):
- a personal token (`chainjudge reviewers add NAME`): `review:NAME`;
- the shared token (CHAINJUDGE_REVIEW_TOKEN, for a one-person set-up) plus a typed name: `review:shared:NAME`;
- neither configured (a loopback-only app on one's own machine): `review:local:NAME`.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from chainjudge.core.schema import REVIEW_PREFIX
from chainjudge.core.store import Store

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
PREFIX = REVIEW_PREFIX  # the review app's annotators: review:NAME


def token_hash(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


def add(store: Store, name: str) -> str:
    """Register a reviewer and return their token (shown once; only its hash is kept)."""
    if not NAME.fullmatch(name):
        raise ValueError(f"reviewer name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    token = "cjr_" + secrets.token_urlsafe(32)
    store.add_reviewer(name, token_hash(token))
    return token
