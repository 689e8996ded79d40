"""The store of what must be shared: a small key-value interface with expiry.

What the server must remember across calls to stay safe — recent creates (so a retry
makes no second import), used confirmation tokens (single use), pending deletion
requests and their decisions — goes through `Store`. Every operation that decides
something is atomic (`put_once`, `swap`, `incr`, `delete_if`), so the same rules hold whether one
process keeps the state in memory (`MemoryStore`, the default) or several instances
share it.

Values are short text (JSON). Keys are built by the typed helpers that use the store;
nothing secret is stored in clear: they store hashes of tokens and nonces.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .errors import StoreUnavailable

__all__ = ["MemoryStore", "Store", "StoreUnavailable"]


class Store(Protocol):
    """Atomic text values with a time-to-live (seconds).

    A store that cannot be reached raises `StoreUnavailable` from any operation.
    """

    async def get(self, key: str) -> str | None:
        """The value, or None when absent or expired."""
        ...

    async def put(self, key: str, value: str, ttl: float) -> None:
        """Set the value (replacing any), expiring after `ttl`."""
        ...

    async def put_once(self, key: str, value: str, ttl: float) -> bool:
        """Set the value only if the key is absent; True if this call set it."""
        ...

    async def swap(self, key: str, expected: str, value: str, ttl: float) -> bool:
        """Replace the value only if it is `expected` now; True if this call replaced it."""
        ...

    async def incr(self, key: str, ttl: float) -> int:
        """Add one (from 0 when absent) and return the new count; the key expires `ttl` after creation."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the key if present."""
        ...

    async def delete_if(self, key: str, expected: str) -> bool:
        """Remove the key only if its value is `expected` now (give back a claim still ours)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@dataclass
class _Entry:
    value: str
    expires: float


class MemoryStore:
    """One process's store: a dict with expiry. Atomic because nothing here awaits."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._data: dict[str, _Entry] = {}

    def _live(self, key: str) -> _Entry | None:
        entry = self._data.get(key)
        if entry is not None and entry.expires <= self._clock():
            del self._data[key]
            return None
        return entry

    def _set(self, key: str, value: str, ttl: float) -> None:
        if len(self._data) >= self._max_keys:
            self._sweep()
        self._data[key] = _Entry(value, self._clock() + ttl)

    def _sweep(self) -> None:
        now = self._clock()
        self._data = {k: e for k, e in self._data.items() if e.expires > now}

    def __len__(self) -> int:
        self._sweep()
        return len(self._data)

    async def get(self, key: str) -> str | None:
        entry = self._live(key)
        return None if entry is None else entry.value

    async def put(self, key: str, value: str, ttl: float) -> None:
        self._set(key, value, ttl)

    async def put_once(self, key: str, value: str, ttl: float) -> bool:
        if self._live(key) is not None:
            return False
        self._set(key, value, ttl)
        return True

    async def swap(self, key: str, expected: str, value: str, ttl: float) -> bool:
        entry = self._live(key)
        if entry is None or entry.value != expected:
            return False
        self._set(key, value, ttl)
        return True

    async def incr(self, key: str, ttl: float) -> int:
        entry = self._live(key)
        if entry is None:
            self._set(key, "1", ttl)
            return 1
        entry.value = str(int(entry.value) + 1)
        return int(entry.value)

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def delete_if(self, key: str, expected: str) -> bool:
        entry = self._live(key)
        if entry is None or entry.value != expected:
            return False
        del self._data[key]
        return True

    async def aclose(self) -> None:
        self._data.clear()
