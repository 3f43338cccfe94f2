"""The network retry policy, in one place (tenacity, outside instructor's schema re-asks).

litellm's and the OpenAI SDK's own retries are switched off by the judge so that this policy alone
decides: exponential backoff with jitter on 429 / 5xx / timeouts / dropped connections, honouring a
server's Retry-After.  The policy is an argument, so tests pass a no-wait one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

TRANSIENT_NAMES = {
    "RateLimitError": "rate_limit",
    "InternalServerError": "server",
    "ServiceUnavailableError": "server",
    "BadGatewayError": "server",
    "APIConnectionError": "connection",
    "Timeout": "timeout",
    "APITimeoutError": "timeout",
}
PERMANENT_NAMES = {
    "AuthenticationError": "auth",
    "PermissionDeniedError": "auth",
    "NotFoundError": "not_found",
    "BadRequestError": "bad_request",
    "ContextWindowExceededError": "bad_request",
}


def root_cause(exc: BaseException) -> BaseException:
    """instructor wraps HTTP errors (InstructorRetryException.__cause__); find the litellm error."""
    seen = set()
    current = exc
    while id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if name in TRANSIENT_NAMES or name in PERMANENT_NAMES:
            return current
        nxt = current.__cause__ or current.__context__
        if nxt is None:
            break
        current = nxt
    return exc


_CONNECTION_NAMES = {
    "APIConnectionError",
    "ConnectError",
    "ConnectionRefusedError",
    "RemoteProtocolError",
    "ReadError",
    "ConnectionResetError",
}
_TIMEOUT_NAMES = {"Timeout", "APITimeoutError", "ReadTimeout", "ConnectTimeout", "TimeoutError"}


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not f for f in found):
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def error_kind(exc: BaseException) -> str:
    """A short category for an exception: rate_limit, server, connection, timeout, auth, invalid_answer ..."""
    chain = _chain(exc)
    names = {type(e).__name__ for e in chain}
    # litellm reports a refused connection as InternalServerError("Connection error."): look underneath
    if names & _TIMEOUT_NAMES:
        return "timeout"
    if names & _CONNECTION_NAMES or any("Connection error" in str(e) for e in chain):
        return "connection"
    cause = root_cause(exc)
    name = type(cause).__name__
    if name in TRANSIENT_NAMES:
        return TRANSIENT_NAMES[name]
    if name in PERMANENT_NAMES:
        return PERMANENT_NAMES[name]
    status = getattr(cause, "status_code", None)
    if status == 429:
        return "rate_limit"
    if isinstance(status, int) and status >= 500:
        return "server"
    if "InstructorRetryException" in type(exc).__name__ or "ValidationError" in name:
        return "invalid_answer"
    if isinstance(cause, (TimeoutError,)):
        return "timeout"
    if isinstance(cause, (ConnectionError, OSError)):
        return "connection"
    return "error"


def is_transient(exc: BaseException) -> bool:
    return error_kind(exc) in {"rate_limit", "server", "connection", "timeout"}


def retry_after_s(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (Retry-After / retry-after-ms), if it said."""
    cause = root_cause(exc)
    header_sources = [
        getattr(cause, "litellm_response_headers", None),
        getattr(getattr(cause, "response", None), "headers", None),
    ]
    for headers in header_sources:
        if not headers:
            continue
        try:
            ms = headers.get("retry-after-ms")
            if ms is not None:
                return float(ms) / 1000
            value = headers.get("retry-after")
            if value is not None:
                return float(value)
        except (TypeError, ValueError):
            continue
    return None


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_wait_s: float = 1.0
    max_wait_s: float = 60.0
    jitter_s: float = 1.0
    honour_retry_after: bool = True
    max_retry_after_s: float = 120.0
    request_timeout_s: float = 180.0

    def _wait(self, retry_state: Any) -> float:
        backoff = wait_exponential_jitter(multiplier=self.initial_wait_s, max=self.max_wait_s, jitter=self.jitter_s)
        wait = backoff(retry_state) if self.initial_wait_s or self.jitter_s else 0.0
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if self.honour_retry_after and exc is not None:
            asked = retry_after_s(exc)
            if asked is not None:
                wait = max(wait, min(asked, self.max_retry_after_s))
        return wait

    def retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(is_transient),
            reraise=True,
        )


NO_WAIT = RetryPolicy(initial_wait_s=0, jitter_s=0, max_wait_s=0, request_timeout_s=10)
