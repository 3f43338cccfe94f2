"""Secrets out of what chainjudge stores and shows: credentials in URLs (`https://user:key@host`),
secret query parameters, bearer tokens and API keys inside error texts.  Each becomes `***`.

Why: `--api-base` and judge error messages are written into the store and printed; a URL with a key in it
would otherwise sit in every run row and every exported error.  The patterns are bounded (linear).
"""

from __future__ import annotations

import re

_PATTERNS = (
    (re.compile(r"(?<![\w+.-])([A-Za-z][A-Za-z0-9+.-]{0,20}://)[^\s/@?#]{1,256}@"), r"\1***@"),
    (
        re.compile(r"(?i)([?&;](?:api[_-]?key|key|token|access[_-]?token|password|passwd|secret|sig|signature|auth)=)[^&\s#;\"']{1,1024}"),
        r"\1***",
    ),
    (re.compile(r"(?i)(\bbearer\s{1,4})[A-Za-z0-9._~+/=-]{6,1024}"), r"\1***"),
    (re.compile(r"(?i)((?:api[_-]?key|x-api-key|authorization)[\"']?\s{0,3}[:=]\s{0,3}[\"']?)[A-Za-z0-9._~+/=-]{6,1024}"), r"\1***"),
    (re.compile(r"(?<![\w-])(sk|pk|rk|sess)-[A-Za-z0-9_-]{8,256}"), r"\1-***"),
)


def scrub(text: str | None) -> str | None:
    """The text with credentials replaced by ***; None stays None."""
    if not text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
