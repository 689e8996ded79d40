"""`SlidingWindow`: never more than the rate in any 1-second window, and no wait below it.

Proved with a virtual clock: many concurrent acquirers, every release time recorded,
and every window that starts at a release checked (not only aligned seconds).
"""

from __future__ import annotations

import math

import anyio
import pytest

from snapshot_mcp.ratelimit import SlidingWindow
from tests.support import VirtualClock, most_in_any_window


async def releases(limiter: SlidingWindow, clock: VirtualClock, count: int) -> list[float]:
    """The virtual times at which `count` concurrent acquirers were let through."""
    times: list[float] = []

    async def take() -> None:
        await limiter.acquire()
        times.append(clock.now)

    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(take)
    return sorted(times)


@pytest.mark.parametrize("rate", [10.0, 1.0, 2.5, 7.0, 0.5])
async def test_no_window_ever_holds_more_than_the_rate(rate: float) -> None:
    """60 concurrent acquirers: every 1-second window (sliding over all releases) holds at most the rate."""
    clock = VirtualClock()
    times = await releases(SlidingWindow(rate, clock=clock, sleep=clock.sleep), clock, 60)
    assert len(times) == 60
    assert most_in_any_window(times, 1.0) <= max(1, math.floor(rate))
    assert most_in_any_window(times, 1.0 / rate if rate < 1 else 1.0) <= max(1, math.floor(rate))


async def test_the_bound_is_reached_not_undershot() -> None:
    """At 10/s, 30 acquirers take three windows: 10 at once, then 10 a second later, then 10 more."""
    clock = VirtualClock()
    times = await releases(SlidingWindow(10.0, clock=clock, sleep=clock.sleep), clock, 30)
    assert times == pytest.approx([1000.0] * 10 + [1001.0] * 10 + [1002.0] * 10)


async def test_ten_sequential_acquires_at_ten_per_second_never_wait() -> None:
    """Below the limit a request leaves at once: ten in a row cost no sleep at all."""
    clock = VirtualClock()
    limiter = SlidingWindow(10.0, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        await limiter.acquire()
    assert clock.sleeps == []
    await limiter.acquire()
    assert clock.sleeps == pytest.approx([1.0])


async def test_a_token_bucket_would_have_failed_this_bound() -> None:
    """The window counts a full second back: after an idle second, 10 then 10 more never share a window."""
    clock = VirtualClock()
    limiter = SlidingWindow(10.0, clock=clock, sleep=clock.sleep)
    clock.now += 0.99  # a bucket refilled during idle time would now let out a burst beyond the rate
    times = await releases(limiter, clock, 20)
    assert most_in_any_window(times, 1.0) == 10


async def test_pause_holds_every_request() -> None:
    """A 429's Retry-After pauses the limiter: the next request, from any caller, waits it out."""
    clock = VirtualClock()
    limiter = SlidingWindow(10.0, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    await limiter.pause(3.0)
    await limiter.acquire()
    assert clock.now == pytest.approx(1003.0)


@pytest.mark.parametrize("rate", [0.0, -1.0])
def test_a_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        SlidingWindow(rate)


@pytest.mark.parametrize(("rate", "limit", "window"), [(10.0, 10, 1.0), (2.5, 2, 1.0), (0.5, 1, 2.0)])
def test_window_and_limit_for_non_integer_rates(rate: float, limit: int, window: float) -> None:
    """r requests/s: floor(r) per second (at least 1 per 1/r seconds): the most that keeps every second <= r."""
    limiter = SlidingWindow(rate)
    assert (limiter.limit, limiter.window) == (limit, window)
