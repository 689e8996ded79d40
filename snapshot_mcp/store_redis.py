"""The shared state in Redis: several instances behind one balancer, one truth (`--state-url`).

`RedisStore` implements `store.Store` on a Redis server; `SharedWindow` implements
`ratelimit.Limiter` there, so every instance together stays within the account's rate.
Needs the optional extra: ``pip install 'snapshot-mcp[redis]'`` (redis-py's asyncio
client).

- Atomic where it decides: `put_once` is ``SET NX``, `swap`, `delete_if` and `incr` are
  short Lua scripts, the rate window is one Lua script reading the Redis server's own clock (so
  the instances' clocks need not agree). Nothing is read and then written from here.
- Every key starts with ``snapshot-mcp:<namespace>:`` and has a time-to-live. The
  namespace is a hash of the API endpoint and token: instances of one deployment (one
  account) share it; another deployment on the same Redis never meets its keys, and
  the token is not recoverable from it.
- Values are what the callers store: hashes of tokens and nonces, request facts, ids;
  never a token, nonce or password in clear.
- Any failure to reach Redis raises `StoreUnavailable`. The limiter is the exception:
  reads must keep working, so it then paces this instance alone (`SlidingWindow`) and
  logs a warning, and goes back to the shared window when Redis answers again.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import anyio

from . import messages
from .ratelimit import SlidingWindow, window_of
from .safe_text import shown_url
from .store import StoreUnavailable

try:
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - the extra is installed in tests
    raise ImportError("--state-url needs the redis extra: pip install 'snapshot-mcp[redis]'") from exc

log = logging.getLogger("snapshot_mcp.state")

SOCKET_SECONDS = 2.0
"""How long one Redis command may take before the store counts as unreachable."""
JITTER_MARGIN = 0.1
"""Seconds added to the shared rate window: between the window's admission and the API's
arrival each request spends a few milliseconds (a new connection, a busy event loop, another
host's route), not always the same, and the limit must hold where the API counts."""
WARN_EVERY = 30.0
"""Seconds between two warnings that the limiter fell back to this instance alone."""

T = TypeVar("T")

_SWAP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_INCR = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""
_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return paused * 1000 end
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""
_PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"""


def namespace(endpoint: str, token: str | None) -> str:
    """The key namespace of one deployment: a hash of the API endpoint and token (see the module docstring)."""
    digest = hashlib.sha256(f"snapshot-mcp\n{endpoint}\n{token or ''}".encode()).hexdigest()
    return f"snapshot-mcp:{digest[:16]}:"


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisStore:
    """`store.Store` in Redis (see the module docstring)."""

    def __init__(self, redis: Redis, prefix: str, *, where: str = "redis") -> None:
        self.redis = redis
        self.prefix = prefix
        self.where = where
        self._swap = redis.register_script(_SWAP)
        self._incr = redis.register_script(_INCR)
        self._delete_if = redis.register_script(_DELETE_IF)

    @classmethod
    def from_url(cls, url: str, *, password: str | None, prefix: str) -> RedisStore:
        """A store on `url` (redis://, rediss:// or unix://); `password` overrides the URL's."""
        retry = Retry(ExponentialBackoff(cap=0.2, base=0.05), 1)
        options: dict[str, Any] = {"password": password} if password else {}
        redis = Redis.from_url(
            url,
            socket_timeout=SOCKET_SECONDS,
            socket_connect_timeout=SOCKET_SECONDS,
            retry=retry,
            decode_responses=True,
            **options,
        )
        return cls(redis, prefix, where=shown_url(url))

    async def call(self, operation: Awaitable[T]) -> T:
        try:
            return await operation
        except (RedisError, OSError) as exc:
            log.warning("shared state store %s unreachable: %s", self.where, type(exc).__name__)
            raise StoreUnavailable(messages.store_unreachable(self.where)) from exc

    async def check(self) -> None:
        """Raise `StoreUnavailable` unless Redis answers (the server refuses to start without it)."""
        await self.call(cast(Awaitable[Any], self.redis.ping()))

    async def get(self, key: str) -> str | None:
        return cast(str | None, await self.call(self.redis.get(self.prefix + key)))

    async def put(self, key: str, value: str, ttl: float) -> None:
        await self.call(self.redis.set(self.prefix + key, value, px=_ms(ttl)))

    async def put_once(self, key: str, value: str, ttl: float) -> bool:
        return bool(await self.call(self.redis.set(self.prefix + key, value, px=_ms(ttl), nx=True)))

    async def swap(self, key: str, expected: str, value: str, ttl: float) -> bool:
        done = self._swap(keys=[self.prefix + key], args=[expected, value, _ms(ttl)])
        return bool(await self.call(cast(Awaitable[Any], done)))

    async def incr(self, key: str, ttl: float) -> int:
        done = self._incr(keys=[self.prefix + key], args=[_ms(ttl)])
        return int(await self.call(cast(Awaitable[Any], done)))

    async def delete(self, key: str) -> None:
        await self.call(self.redis.delete(self.prefix + key))

    async def delete_if(self, key: str, expected: str) -> bool:
        done = self._delete_if(keys=[self.prefix + key], args=[expected])
        return bool(await self.call(cast(Awaitable[Any], done)))

    async def aclose(self) -> None:
        await self.redis.aclose()


class SharedWindow:
    """`ratelimit.Limiter` for every instance of a deployment: one sliding window in Redis.

    At most `limit` requests in any `window` seconds (`ratelimit.window_of`, plus
    `JITTER_MARGIN`) across every instance; a `pause` holds them all. Within one
    instance requests queue in arrival order, as with `SlidingWindow`.
    """

    def __init__(
        self,
        store: RedisStore,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.limit, window = window_of(rate)
        self.window = window + JITTER_MARGIN
        self._store = store
        self._keys = [store.prefix + "ratelimit:window", store.prefix + "ratelimit:pause"]
        self._script = store.redis.register_script(_WINDOW)
        self._pause = store.redis.register_script(_PAUSE)
        self._local = SlidingWindow(rate, clock=clock, sleep=sleep)
        self._clock = clock
        self._sleep = sleep
        self._turn = anyio.Lock()
        self._warned = -WARN_EVERY
        self.local_admitted = 0
        """Requests admitted by this instance's own window while Redis was unreachable."""

    async def acquire(self) -> None:
        async with self._turn:
            while True:
                try:
                    wait_us = await self.ask()
                except StoreUnavailable:
                    self._warn()
                    await self._local.acquire()
                    self.local_admitted += 1
                    return
                if wait_us <= 0:
                    return
                await self._sleep(wait_us / 1_000_000)

    async def ask(self) -> int:
        """0 when one more request may leave now (and it is counted); else microseconds to wait."""
        args: list[int | str] = [round(self.window * 1_000_000), self.limit, secrets.token_hex(8)]
        return int(await self._store.call(cast(Awaitable[Any], self._script(keys=self._keys, args=args))))

    async def pause(self, seconds: float) -> None:
        await self._local.pause(seconds)
        try:
            await self._store.call(cast(Awaitable[Any], self._pause(keys=self._keys[1:], args=[_ms(seconds)])))
        except StoreUnavailable:
            self._warn()

    def _warn(self) -> None:
        now = self._clock()
        if now - self._warned >= WARN_EVERY:
            self._warned = now
            log.warning("rate limit: shared store unreachable, pacing this instance alone")


async def open_redis(url: str, *, password: str | None, prefix: str) -> RedisStore:
    """A checked store: raises `StoreUnavailable` (and closes it) unless Redis answers now."""
    store = RedisStore.from_url(url, password=password, prefix=prefix)
    try:
        await store.check()
    except StoreUnavailable:
        await store.aclose()
        raise
    return store
