"""Adaptive concurrency: back off when the judge says 429, creep back up when it answers.

Additive increase, multiplicative decrease (as TCP does): each rate-limit answer halves the number of
calls allowed in flight (at most once a second, so one burst does not collapse it to 1), and every
`limit` successful calls allow one more, up to the configured maximum.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class AdaptiveLimiter:
    def __init__(self, maximum: int, cooldown_s: float = 1.0) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.lowest = self.maximum
        self.cooldown_s = cooldown_s
        self.rate_limited = 0
        self.timed_out = 0
        self._in_flight = 0
        self._successes = 0
        self._last_cut = float("-inf")
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: self._in_flight < self.limit)
            self._in_flight += 1
        try:
            yield
        finally:
            async with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    def on_rate_limit(self) -> None:
        self.rate_limited += 1
        now = time.monotonic()
        if now - self._last_cut >= self.cooldown_s:
            self._last_cut = now
            self.limit = max(1, self.limit // 2)
            self.lowest = min(self.lowest, self.limit)
            self._successes = 0

    def on_timeout(self) -> None:
        """A call that timed out is a sign the server queues work: back off as for a 429, so the retry
        does not join a full queue."""
        self.timed_out += 1
        self.on_rate_limit()
        self.rate_limited -= 1

    def on_success(self) -> None:
        self._successes += 1
        if self._successes >= self.limit and self.limit < self.maximum:
            self.limit += 1
            self._successes = 0
