"""One run's judgments as a payload for OpenTelemetry, Langfuse or Phoenix, and the one function that
sends a payload somewhere (only when a person names the endpoint)."""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from chainjudge import __version__
from chainjudge.core.scrub import scrub
from chainjudge.core.store import Store
from chainjudge.export import langfuse, otel, phoenix
from chainjudge.export.links import link_for

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")  # RFC 9110 token

FORMATS = ("otel", "langfuse", "phoenix")
SEND_TIMEOUT_S = 30.0
_MAX_REPLY = 64 * 1024


@dataclass
class Export:
    """Request bodies by endpoint path, how many judgments they carry and how many were left out (no
    verdict, or no id of the source system to point at)."""

    bodies: dict[str, dict] = field(default_factory=dict)
    exported: int = 0
    skipped: int = 0
    linked: int = 0  # carried the source's own span / trace ids

    def document(self) -> dict:
        """The file form: the one body, or all of them by path."""
        return next(iter(self.bodies.values())) if len(self.bodies) == 1 else self.bodies


def build(store: Store, run: str, fmt: str) -> Export:
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    traces: dict[str, object] = {}
    pairs = []
    for judgment in store.judgments(run):
        if judgment.trace_id not in traces:
            traces[judgment.trace_id] = store.get_trace(judgment.trace_id, run=run)
        pairs.append((judgment, link_for(judgment, traces[judgment.trace_id])))  # type: ignore[arg-type]
    result = Export()
    if fmt == "otel":
        result.bodies["/v1/logs"] = otel.otlp_logs(pairs, __version__)
        result.exported, result.linked = len(pairs), sum(1 for _, link in pairs if link.otel)
        return result
    collected: dict[str, list] = {}
    for judgment, link in pairs:
        if fmt == "langfuse":
            item, path = langfuse.score_event(judgment, link), "/api/public/ingestion"
        else:
            made = phoenix.annotation(judgment, link)
            item, path = (made[1], f"/v1/{made[0]}_annotations") if made else (None, "")
        if item is None:
            result.skipped += 1
            continue
        collected.setdefault(path, []).append(item)
        result.exported += 1
        result.linked += 1
    key = "batch" if fmt == "langfuse" else "data"
    result.bodies = {path: {key: items} for path, items in collected.items()}
    return result


def _auth(fmt: str) -> dict[str, str]:
    if fmt == "langfuse" and os.environ.get("LANGFUSE_PUBLIC_KEY") and os.environ.get("LANGFUSE_SECRET_KEY"):
        token = base64.b64encode(f"{os.environ['LANGFUSE_PUBLIC_KEY']}:{os.environ['LANGFUSE_SECRET_KEY']}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    if fmt == "phoenix" and os.environ.get("PHOENIX_API_KEY"):
        return {"Authorization": f"Bearer {os.environ['PHOENIX_API_KEY']}"}
    return {}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answers, never followed: following one would send the credentials (Authorization,
    `--header` values) to whatever host the Location names, and turn the POST into a GET without its body."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def endpoint_url(endpoint: str, path: str) -> str:
    """ENDPOINT with PATH appended to its path (before any query string); an endpoint whose path already
    ends in PATH is used as is."""
    parts = urlsplit(endpoint)
    base = parts.path.rstrip("/")
    return urlunsplit(parts._replace(path=base if base.endswith(path) else base + path))


def check_header(name: str, value: str) -> None:
    """A header the user typed: a token name and a value without line breaks (no header injection)."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"--header name {name!r} is not a valid HTTP header name")
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError(f"--header {name}: the value holds a line break or NUL")


def send(
    export: Export, endpoint: str, fmt: str, headers: dict[str, str] | None = None, timeout_s: float = SEND_TIMEOUT_S
) -> list[tuple[str, int, str]]:
    """POST each body to ENDPOINT + its path (an endpoint already ending in the path is used as is).
    Returns (url fit to print, HTTP status, the reply's first bytes); a refused request is a status, not an
    exception.  A redirect is returned as its 3xx status and is not followed."""
    sent = []
    for name, value in (headers or {}).items():
        check_header(name, value)
    for path, body in export.bodies.items():
        url = endpoint_url(endpoint, path)
        shown = scrub(url) or url
        data = json.dumps(body).encode()
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"Content-Type": "application/json", **_auth(fmt), **(headers or {})}
        )
        try:
            with _OPENER.open(request, timeout=timeout_s) as reply:
                sent.append((shown, reply.status, reply.read(_MAX_REPLY).decode("utf-8", "replace")))
        except urllib.error.HTTPError as exc:
            text = exc.read(_MAX_REPLY).decode("utf-8", "replace")
            if 300 <= exc.code < 400:
                text = f"redirect to {scrub(exc.headers.get('Location', '?'))} not followed (the export carries credentials)"
            sent.append((shown, exc.code, scrub(text) or ""))
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            sent.append((shown, 0, scrub(str(getattr(exc, "reason", exc))) or ""))
    return sent
