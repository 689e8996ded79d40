"""How fast requests leave: never more than the API's limit in any window, no wait below it.

`SlidingWindow` lets a request go at once while fewer than `limit` left in the last
`window` seconds, and otherwise waits until the oldest of them is a window old. So ten
quick calls at 10 requests/s cost no wait at all, and a scan never sends an eleventh
within any one second (a token bucket of capacity `rate` would: it can let out nearly
twice the rate within one second).

For a rate of r requests/s: `limit = max(1, floor(r))` per window of `max(1, 1/r)`
seconds — the most requests any one-second window can hold without exceeding r (a
rate of 2.5 allows 2 in any second; 0.5 allows 1 in any two seconds).

`pause(seconds)` holds every request until then (a 429 with `Retry-After` applies to
the account, so to every later request, not only the one that got it). The `Limiter`
protocol is what the limiter several instances share implements too
(`store_redis.SharedWindow`, the same window kept in Redis).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Limiter(Protocol):
    """Admits requests to the API at the account's rate."""

    async def acquire(self) -> None:
        """Return when one more request may leave now."""
        ...

    async def pause(self, seconds: float) -> None:
        """Hold every request for `seconds` from now (the API said so)."""
        ...


def window_of(rate: float) -> tuple[int, float]:
    """(requests, seconds): the most requests any one-second window may hold at `rate`, and the window."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    return max(1, math.floor(rate)), max(1.0, 1.0 / rate)


class SlidingWindow:
    """At most `limit` requests in any `window` seconds, in arrival order; no wait below that."""

    def __init__(self, rate: float, *, clock: Clock = time.monotonic, sleep: Sleep = anyio.sleep) -> None:
        self.limit, self.window = window_of(rate)
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._paused_until = -math.inf
        self._turn = anyio.Lock()  # one waiter at a time: arrival order, and the bound holds

    async def acquire(self) -> None:
        if not self._turn.locked() and self._delay(self._clock()) <= 0:
            self._sent.append(self._clock())  # under the limit and nobody queued: no wait, no yield
            return
        async with self._turn:
            while True:
                delay = self._delay(self._clock())
                if delay <= 0:
                    self._sent.append(self._clock())
                    return
                await self._sleep(delay)

    def _delay(self, now: float) -> float:
        """Seconds until a request may leave (0: now)."""
        if now < self._paused_until:
            return self._paused_until - now
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()
        if len(self._sent) < self.limit:
            return 0.0
        return self._sent[0] + self.window - now

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))
