"""The simulated API: state, lifecycle rules and routing (see the package docstring)."""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx

from ._adapters import ASGIApp, Transport, asgi_app
from ._data import KNOWN_REGIONS, REFERENCE_DATE, SEED_SNAPSHOTS, SNAPSHOT_FIELDS
from ._faults import Faults
from ._wire import Reply, SimRequest, bad, error, iso, json_reply

DEFAULT_TOKEN = "sim-token"  # noqa: S105 - the simulator's documented demo token

_PREFIX = "/compute/v1/snapshots"
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_DIGITS_RE = re.compile(r"[0-9]{1,18}")
_URL_RE = re.compile(r"https?://\S+")
_REQUIRED = ("name", "size", "url", "region")
_CREATE_FIELDS = frozenset((*_REQUIRED, "os_type"))


def _not_found() -> Reply:
    return error(404, "04001", "Snapshot not found")


def _snapshot(sid: str, name: str, size: int, region: str, status: str, os_type: str, stamp: str) -> dict[str, Any]:
    """A snapshot in the current shape with no source (add the source keys that apply)."""
    snap = {"id": sid, "name": name, "size": size, "region": region, "status": status, "os_type": os_type}
    return {**snap, "created_at": stamp, "updated_at": stamp}


@dataclass(slots=True)
class _Life:
    """Pending lifecycle of one snapshot: a create or a delete still in progress."""

    deleting: bool
    reads: int = 0
    deadline: float | None = None
    final: str = "created"


class Simulator:
    """The simulated API: state, lifecycle rules, fault injection and the HTTP adapters."""

    def __init__(
        self,
        *,
        seed: bool = True,
        tokens: Collection[str] | None = None,
        create_polls: int = 2,
        create_seconds: float | None = None,
        fail_create_names: Collection[str] = (),
        delete_polls: int = 2,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.monotonic,
        id_factory: Callable[[], str] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.faults: Faults = faults if faults is not None else Faults()
        self.requests: list[SimRequest] = []
        self.snapshots: dict[str, dict[str, Any]] = {}
        self._tokens = frozenset(tokens) if tokens is not None else None
        self._create_polls = create_polls
        self._create_seconds = create_seconds
        self._fail_names = frozenset(fail_create_names)
        self._delete_polls = delete_polls
        self._clock = clock
        self._id_factory = id_factory or (lambda: str(uuid.uuid4()))
        self._now = now or (lambda: datetime.now(UTC))
        self._life: dict[str, _Life] = {}
        self._bulk = 0
        self._rng = random.Random(0x5EED)  # noqa: S311 - deterministic bulk ids, not security
        if seed:
            for row in SEED_SNAPSHOTS:
                snap = dict(zip(SNAPSHOT_FIELDS, row, strict=True))
                self._insert({k: v for k, v in snap.items() if v is not None})

    # ----------------------------------------------------------------- state helpers
    def add_snapshot(
        self,
        *,
        name: str,
        size: int,
        region: str,
        status: str = "created",
        os_type: str = "linux",
        created_at: datetime | None = None,
        id: str | None = None,
        source_instance_id: str | None = None,
        source_snapshot_id: str | None = None,
    ) -> dict[str, Any]:
        """Insert a snapshot directly (no validation); ``creating`` ones follow the lifecycle.

        A source id left None is left out of the snapshot, as the API leaves it out.
        """
        snap = _snapshot(id or self._id_factory(), name, size, region, status, os_type, iso(created_at or self._now()))
        sources = {"source_instance_id": source_instance_id, "source_snapshot_id": source_snapshot_id}
        snap.update((key, value) for key, value in sources.items() if value is not None)
        return self._insert(snap)

    def _insert(self, snap: dict[str, Any]) -> dict[str, Any]:
        self.snapshots[snap["id"]] = snap
        if snap["status"] == "creating":
            self._life[snap["id"]] = self._create_life(snap["name"])
        return snap

    def add_many(self, n: int, *, region_cycle: bool = True, prefix: str = "bulk") -> None:
        """Add ``n`` deterministic ``created`` snapshots one minute apart from 2024-01-01 on."""
        base = REFERENCE_DATE - timedelta(days=1035)
        for k in range(self._bulk, self._bulk + n):
            sid = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
            stamp = iso(base + timedelta(minutes=k))
            region = KNOWN_REGIONS[k % len(KNOWN_REGIONS) if region_cycle else 0]
            self.snapshots[sid] = _snapshot(sid, f"{prefix}-{k:05d}", 10 + k % 190, region, "created", "linux", stamp)
        self._bulk += n

    def _create_life(self, name: str) -> _Life:
        final = "error" if name in self._fail_names else "created"
        secs = self._create_seconds
        return _Life(False, deadline=None if secs is None else self._clock() + secs, final=final)

    def _create_due(self, life: _Life) -> bool:
        if life.deadline is not None:
            return self._clock() >= life.deadline
        return life.reads >= self._create_polls

    def _set_status(self, snap: dict[str, Any], status: str) -> None:
        if snap["status"] != status:
            snap["status"] = status
            snap["updated_at"] = iso(self._now())

    def _observe(self, sid: str) -> dict[str, Any]:
        """One read of a snapshot: advance its lifecycle, return a copy of what is shown."""
        snap = self.snapshots[sid]
        life = self._life.get(sid)
        if life is None:
            return dict(snap)
        if life.deleting:
            self._set_status(snap, "pending_delete" if life.reads == 0 else "deleting")
            life.reads += 1
            if life.reads >= self._delete_polls:
                del self.snapshots[sid], self._life[sid]
            return dict(snap)
        if self._create_due(life):
            self._set_status(snap, life.final)
            del self._life[sid]
        else:
            life.reads += 1
        return dict(snap)

    # ----------------------------------------------------------------- HTTP core
    async def handle(self, req: SimRequest) -> Reply:
        """Answer one request: ``(status, headers, body)``; records it in ``requests``."""
        self.requests.append(req)
        if self.faults.latency > 0:
            await anyio.sleep(self.faults.latency)
        injected = self.faults.before(req)
        if injected is not None:
            return injected
        return self.faults.after(req, self._route(req))

    def _route(self, req: SimRequest) -> Reply:
        method, path = req.method.upper(), req.path
        sid: str | None = None
        if path == _PREFIX:
            allowed = ("GET", "POST")
        elif path.startswith(_PREFIX + "/") and (rest := path[len(_PREFIX) + 1 :]) and "/" not in rest:
            sid = rest
            allowed = ("GET", "DELETE")
        else:
            return error(404, "02001", "Invalid route")
        if method not in allowed:
            return error(405, "02002", f"Method {method} not allowed", {"allow": ", ".join(allowed)})
        denied = self._auth(req)
        if denied is not None:
            return denied
        if sid is None:
            return self._list(req.query) if method == "GET" else self._create(req.body)
        if not _UUID_RE.fullmatch(sid) or sid not in self.snapshots:
            return _not_found()
        if method == "GET":
            return json_reply(200, {"snapshot": self._observe(sid)})
        return self._delete(sid)

    def _auth(self, req: SimRequest) -> Reply | None:
        headers = {k.lower(): v for k, v in req.headers.items()}
        value = headers.get("authorization")
        scheme, _, token = (value or "").partition(" ")
        if value is None:
            message = "Missing 'Authorization: Bearer <token>' header"
            if "x-auth-token" in headers:
                message = "X-Auth-Token is deprecated and not accepted; use 'Authorization: Bearer'"
        elif scheme != "Bearer" or not token.strip():
            message = "Unsupported authorization; expected 'Authorization: Bearer <token>'"
        elif self._tokens is not None and token not in self._tokens:
            message = "Invalid or expired token"
        else:
            return None
        return error(401, "01001", message, {"www-authenticate": "Bearer"})

    def _list(self, query: dict[str, str]) -> Reply:
        values: dict[str, int] = {}
        for name, default, upper in (("per_page", 50, 100), ("page", 1, None)):
            raw = query.get(name)
            if raw is None:
                values[name] = default
                continue
            ok = _DIGITS_RE.fullmatch(raw) is not None
            number = int(raw) if ok else 0
            if number < 1 or (upper is not None and number > upper):
                bounds = f"between 1 and {upper}" if upper else ">= 1"
                return bad(f"Invalid query parameter '{name}': must be an integer {bounds}")
            values[name] = number
        page, per_page = values["page"], values["per_page"]
        ordered = sorted(self.snapshots.values(), key=lambda s: (s["created_at"], s["id"]))
        start = (page - 1) * per_page
        shown = [self._observe(s["id"]) for s in ordered[start : start + per_page]]
        payload = {"snapshots": shown, "total_count": len(ordered), "page": page}
        return json_reply(200, {**payload, "per_page": per_page})

    def _create(self, body: bytes) -> Reply:
        try:
            data = json.loads(body)
        except ValueError:
            return bad("Request body must be a JSON object")
        if not isinstance(data, dict):
            return bad("Request body must be a JSON object")
        if unknown := sorted(set(data) - _CREATE_FIELDS):
            return bad(f"Unknown field(s): {', '.join(unknown)}")
        if missing := [k for k in _REQUIRED if k not in data]:
            return bad(f"Missing required field(s): {', '.join(missing)}")
        name, size, url, region = (data[k] for k in _REQUIRED)
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            return bad("Invalid field 'name': must be a non-empty string of at most 255 chars")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            return bad("Invalid field 'size': must be an integer >= 1 (GiB)")
        if not isinstance(url, str) or not _URL_RE.fullmatch(url):
            return bad("Invalid field 'url': must be an http:// or https:// URL")
        if region not in KNOWN_REGIONS:
            return bad(f"Invalid field 'region': must be one of {', '.join(KNOWN_REGIONS)}")
        os_type = data.get("os_type", "linux")
        if os_type not in ("linux", "windows"):
            return bad("Invalid field 'os_type': must be 'linux' or 'windows'")
        snap = self.add_snapshot(name=name, size=size, region=region, status="creating", os_type=os_type)
        return json_reply(201, {"snapshot": snap})

    def _delete(self, sid: str) -> Reply:
        snap = self.snapshots[sid]
        life = self._life.get(sid)
        if life is not None and not life.deleting:
            if not self._create_due(life):
                return error(409, "05001", "snapshot is being created")
            self._set_status(snap, life.final)
            life = None
        if life is None:
            if self._delete_polls <= 0:
                del self.snapshots[sid]
                self._life.pop(sid, None)
            else:
                self._set_status(snap, "pending_delete")
                self._life[sid] = _Life(True)
        return 204, {}, b""

    # ----------------------------------------------------------------- adapters
    def transport(self) -> httpx.AsyncBaseTransport:
        """In-process httpx transport; applies the connect-error/read-timeout faults too."""
        return Transport(self)

    def asgi_app(self) -> ASGIApp:
        """A raw ASGI3 app serving ``handle`` (transport-level faults do not apply)."""
        return asgi_app(self)
