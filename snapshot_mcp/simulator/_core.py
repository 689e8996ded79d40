"""The simulated API: state, lifecycle rules and routing (see the package docstring)."""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx

from ._adapters import ASGIApp, Transport, asgi_app
from ._checks import json_object, name_problem, paging, region_problem
from ._data import (
    IMAGES,
    KNOWN_REGIONS,
    REFERENCE_DATE,
    SEED_INSTANCES,
    SEED_SNAPSHOTS,
    SNAPSHOT_FIELDS,
    instance_from_row,
)
from ._faults import Faults
from ._wire import Reply, SimRequest, bad, error, iso, json_reply

DEFAULT_TOKEN = "sim-token"  # noqa: S105 - the simulator's documented demo token

_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_URL_RE = re.compile(r"https?://\S+")


@dataclass(frozen=True, slots=True)
class _Route:
    """A known path: its name (``snapshot/...`` and ``instance/...`` carry that id), methods."""

    name: str
    pattern: re.Pattern[str]
    methods: tuple[str, ...]


_ROUTES = (
    _Route("snapshots", re.compile(r"/compute/v1/snapshots"), ("GET", "POST")),
    _Route("snapshot/", re.compile(r"/compute/v1/snapshots/([^/]+)"), ("GET", "PATCH", "DELETE")),
    _Route("snapshot/clone", re.compile(r"/compute/v1/snapshots/([^/]+)/clone"), ("POST",)),
    _Route("instances", re.compile(r"/compute/v1/instances"), ("GET",)),
    _Route("instance/snapshots", re.compile(r"/compute/v1/instances/([^/]+)/snapshots"), ("GET", "POST")),
)
_SNAPSHOTTABLE = ("active", "stopped")
"""Instance statuses a snapshot may be taken in (reading: not while it changes state)."""
_BUSY = {
    "creating": "snapshot is being created",
    "pending_delete": "snapshot is being deleted",
    "deleting": "snapshot is being deleted",
    "error": "snapshot is in error",
}
"""Snapshot statuses that refuse a clone (all four) or a rename (all but ``error``): 409."""


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
        self.instances: dict[str, dict[str, Any]] = {}
        """Instances by id: static (no lifecycle), the sources of instance snapshots."""
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
            for row in SEED_INSTANCES:
                inst = instance_from_row(row)
                self.instances[inst["id"]] = inst

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

    def add_instance(
        self,
        *,
        name: str,
        region: str,
        status: str = "active",
        os_type: str = "linux",
        disk_size: int = 80,
        created_at: datetime | None = None,
        id: str | None = None,
    ) -> dict[str, Any]:
        """Insert an instance directly (no validation): a CPU type, the base image, no IPs or keys."""
        stamp = iso(created_at or self._now())
        image = IMAGES.get(os_type, IMAGES["linux"])
        row = (id or self._id_factory(), name, region, status, "vcpu-4_memory-16g", os_type, image)
        inst = instance_from_row((*row, None, None, disk_size, stamp, stamp, [], [], []))
        self.instances[inst["id"]] = inst
        return inst

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
        method = req.method.upper()
        for route in _ROUTES:
            if match := route.pattern.fullmatch(req.path):
                break
        else:
            return error(404, "02001", "Invalid route")
        if method not in route.methods:
            return error(405, "02002", f"Method {method} not allowed", {"allow": ", ".join(route.methods)})
        denied = self._auth(req)
        if denied is not None:
            return denied
        rid = match.group(1) if match.groups() else ""
        if route.name.startswith("snapshot/") and not (_UUID_RE.fullmatch(rid) and rid in self.snapshots):
            return _not_found()
        if route.name.startswith("instance/") and not (_UUID_RE.fullmatch(rid) and rid in self.instances):
            return error(404, "04002", "Instance not found")
        return self._dispatch(route.name, method, req, rid)

    def _dispatch(self, route: str, method: str, req: SimRequest, rid: str) -> Reply:
        """The endpoint for a routed, authorized request whose path id (``rid``) exists."""
        match route, method:
            case "snapshots", "GET":
                return self._list("snapshots", self.snapshots.values(), req.query, self._observe)
            case "snapshots", _:
                return self._create(req.body)
            case "snapshot/", "GET":
                return json_reply(200, {"snapshot": self._observe(rid)})
            case "snapshot/", "PATCH":
                return self._rename(rid, req.body)
            case "snapshot/", _:
                return self._delete(rid)
            case "snapshot/clone", _:
                return self._clone(rid, req.body)
            case "instances", _:
                return self._list("instances", self.instances.values(), req.query, self.instances.__getitem__)
            case "instance/snapshots", "GET":
                made = [snap for snap in self.snapshots.values() if snap.get("source_instance_id") == rid]
                return self._list("snapshots", made, req.query, self._observe)
            case _:
                return self._snapshot_instance(rid, req.body)

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

    def _list(
        self, key: str, rows: Iterable[dict[str, Any]], query: dict[str, str], show: Callable[[str], dict[str, Any]]
    ) -> Reply:
        """One page of ``rows`` under ``key``, ordered by ``created_at`` then ``id``; ``show`` reads a row."""
        paged = paging(query)
        if isinstance(paged, str):
            return bad(paged)
        page, per_page = paged
        ordered = sorted(rows, key=lambda row: (row["created_at"], row["id"]))
        start = (page - 1) * per_page
        shown = [show(row["id"]) for row in ordered[start : start + per_page]]
        return json_reply(200, {key: shown, "total_count": len(ordered), "page": page, "per_page": per_page})

    def _create(self, body: bytes) -> Reply:
        data = json_object(body, ("name", "size", "url", "region"), ("os_type",))
        if isinstance(data, str):
            return bad(data)
        if problem := name_problem(data["name"]):
            return bad(problem)
        size, url = data["size"], data["url"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            return bad("Invalid field 'size': must be an integer >= 1 (GiB)")
        if not isinstance(url, str) or not _URL_RE.fullmatch(url):
            return bad("Invalid field 'url': must be an http:// or https:// URL")
        if problem := region_problem(data["region"]):
            return bad(problem)
        os_type = data.get("os_type", "linux")
        if os_type not in ("linux", "windows"):
            return bad("Invalid field 'os_type': must be 'linux' or 'windows'")
        snap = self.add_snapshot(
            name=data["name"], size=size, region=data["region"], status="creating", os_type=os_type
        )
        return json_reply(201, {"snapshot": snap})

    def _snapshot_instance(self, iid: str, body: bytes) -> Reply:
        """A snapshot of an instance, and with ``replicated_region`` its copy there (not in the answer)."""
        data = json_object(body, ("name",), ("replicated_region",))
        if isinstance(data, str):
            return bad(data)
        if problem := name_problem(data["name"]):
            return bad(problem)
        replica = data.get("replicated_region")
        if "replicated_region" in data and (problem := region_problem(replica, "replicated_region")):
            return bad(problem)
        inst = self.instances[iid]
        if inst["status"] not in _SNAPSHOTTABLE:
            return error(409, "05001", f"instance is {inst['status']}; it must be active or stopped to snapshot")
        made = {"name": data["name"], "size": inst["disk_size"], "status": "creating", "os_type": inst["os_type"]}
        snap = self.add_snapshot(**made, region=inst["region"], source_instance_id=iid)
        if replica is not None:
            self.add_snapshot(**made, region=replica, source_snapshot_id=snap["id"])
        return json_reply(201, {"snapshot": snap})

    def _settle(self, sid: str) -> str:
        """The status a write meets: a create that is due ends first (a write is not a read)."""
        snap, life = self.snapshots[sid], self._life.get(sid)
        if life is not None and not life.deleting and self._create_due(life):
            self._set_status(snap, life.final)
            del self._life[sid]
        status: str = snap["status"]
        return status

    def _rename(self, sid: str, body: bytes) -> Reply:
        """PATCH: ``{"name"?}``; ``updated_at`` moves only when the name changes."""
        data = json_object(body, (), ("name",))
        if isinstance(data, str):
            return bad(data)
        if "name" in data and (problem := name_problem(data["name"])):
            return bad(problem)
        status = self._settle(sid)
        if status in _BUSY and status != "error":
            return error(409, "05001", _BUSY[status])
        snap = self.snapshots[sid]
        if data.get("name", snap["name"]) != snap["name"]:
            snap["name"] = data["name"]
            snap["updated_at"] = iso(self._now())
        return json_reply(200, {"snapshot": snap})

    def _clone(self, sid: str, body: bytes) -> Reply:
        """POST .../clone: ``{"name", "region"}``; the copy keeps the source's size and os_type."""
        data = json_object(body, ("name", "region"))
        if isinstance(data, str):
            return bad(data)
        if problem := name_problem(data["name"]) or region_problem(data["region"]):
            return bad(problem)
        status = self._settle(sid)
        if status in _BUSY:
            return error(409, "05001", _BUSY[status])
        source = self.snapshots[sid]
        copied = {"size": source["size"], "os_type": source["os_type"], "source_snapshot_id": sid}
        snap = self.add_snapshot(name=data["name"], region=data["region"], status="creating", **copied)
        return json_reply(201, {"snapshot": snap})

    def _delete(self, sid: str) -> Reply:
        if self._settle(sid) == "creating":
            return error(409, "05001", _BUSY["creating"])
        if sid in self._life:  # already pending_delete/deleting: 204 again, same countdown
            return 204, {}, b""
        if self._delete_polls <= 0:
            del self.snapshots[sid]
        else:
            self._set_status(self.snapshots[sid], "pending_delete")
            self._life[sid] = _Life(True)
        return 204, {}, b""

    # ----------------------------------------------------------------- adapters
    def transport(self) -> httpx.AsyncBaseTransport:
        """In-process httpx transport; applies the connect-error/read-timeout faults too."""
        return Transport(self)

    def asgi_app(self) -> ASGIApp:
        """A raw ASGI3 app serving ``handle`` (transport-level faults do not apply)."""
        return asgi_app(self)
