"""In-memory, strict simulator of the Genesis Cloud compute snapshot API (``/compute/v1``).

Serves ``GET/POST /compute/v1/snapshots`` and ``GET/DELETE /compute/v1/snapshots/{id}``
in the documented form only (the client must be tolerant; this must be strict):

* Routing comes first: an unknown path (a trailing slash too) is 404
  ``{"code": "02001", "message": "Invalid route"}``; a wrong method on a known path is 405
  with an ``Allow`` header. Then auth: ``Authorization: Bearer <token>`` (any non-empty
  token, or one of ``tokens`` when given); anything else, the deprecated ``X-Auth-Token``
  alone included, is 401 code ``01001``.
* List: ``per_page`` 1..100 (default 50), ``page`` >= 1 (default 1), plain ASCII digits;
  anything else is 400 code ``03001`` naming the parameter. Other query keys are ignored.
  Order is ``created_at`` ascending, then ``id``. A page past the end is an empty list.
* Create: a JSON object with exactly ``name`` (1..255 chars, not blank), ``size`` (int >= 1,
  bool rejected), ``url`` (http:// or https://), ``region`` (one of KNOWN_REGIONS) and
  optional ``os_type`` ("linux"/"windows"; an explicit null is rejected). Unknown keys,
  bad JSON and bad fields are 400 code ``03001`` and change nothing. Creates are never
  deduplicated. Success is 201 ``{"snapshot": {...}}`` with status ``creating``.
* Lifecycle, advanced lazily on reads (a GET of the snapshot or its presence on a listed
  page; POST/DELETE are not reads): ``creating`` is shown for ``create_polls`` reads, then
  ``created`` (``error`` for names in ``fail_create_names``); with ``create_seconds`` the
  injectable ``clock`` decides instead. ``add_snapshot(status="creating")`` (seed included)
  follows the same lifecycle; any other added status is static until deleted.
* Delete: unknown or non-UUID id is 404 code ``04001`` "Snapshot not found"; a snapshot
  still ``creating`` is 409 code ``05001``. Otherwise 204 with an empty body; it then reads
  ``pending_delete`` once, ``deleting`` after, for ``delete_polls`` reads in total, and is
  gone (GET 404, not listed). Choice: deleting a snapshot already ``pending_delete`` or
  ``deleting`` answers 204 again (idempotent) without restarting its countdown.
* Faults (``Faults``, all off by default, counters decrement as used) in this order:
  connect error / read timeout / connection reset (in-process transport only; a connect
  error never reaches ``handle`` so it is not in ``requests``; a read timeout and a reset
  are raised after ``handle`` ran, so the API acted), latency (every request), HTML 502
  page, ``fail_first``, ``fail_when``, normal handling, then ``malformed_first`` (a 2xx
  body cut in half) on 2xx responses with a body and ``garbage_first`` (any 2xx, 204
  included, becomes a 200 whose body is not JSON). Faults act before routing and auth,
  like a proxy would. ``fail_methods`` limits every fault except latency. Injected
  429/503 carry ``Retry-After`` when ``retry_after`` is set. Injected errors use code ``09001``.
  ``fail_rate`` with a seeded ``rng`` draws one of ``random_kinds`` for that share of the
  requests (in-process transport only), deterministic for a given seed and request order;
  each drawn kind is recorded as ``SimRequest.fault`` (and counted in ``Faults.drawn``).
* Every response is ``application/json`` except 204 (no body) and the HTML page.
* Seed (``seed=True``): 12 fixed snapshots (fixed UUIDs, 8 regions, one each of ``creating``,
  ``error``, ``pending_delete`` and legacy ``active``) dated over the 18 months before the
  fixed REFERENCE_DATE 2026-11-01, so every run shows the same data.

``handle`` has no await after the optional latency sleep, so it is safe under concurrent
calls on one event loop. Imports are stdlib, httpx and anyio; uvicorn only inside ``serve``.
"""

from __future__ import annotations

import copy
import json
import random
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import anyio
import httpx

__all__ = ["DEFAULT_TOKEN", "KNOWN_REGIONS", "ASGIApp", "Faults", "SimRequest", "Simulator", "serve"]

DEFAULT_TOKEN = "sim-token"  # noqa: S105 - the simulator's documented demo token
# The regions the simulated API accepts. Kept apart from models.KNOWN_REGIONS (the
# client's knowledge) so the simulator stays free of the package; a test keeps them equal.
KNOWN_REGIONS: tuple[str, ...] = (
    "EUC-DE-MUC-1",
    "EUW-GB-MNC-1",
    "EUW-NL-AMS-1",
    "NA-CA-FTS-1",
    "NA-CA-MNZ-1",
    "NA-CA-PRG-1",
    "NORD-NO-KRS-1",
    "ARC-IS-HAF-1",
)
REFERENCE_DATE = datetime(2026, 11, 1, tzinfo=UTC)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_Reply = tuple[int, dict[str, str], bytes]

_PREFIX = "/compute/v1/snapshots"
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_DIGITS_RE = re.compile(r"[0-9]{1,18}")
_URL_RE = re.compile(r"https?://\S+")
_REQUIRED = ("name", "size", "url", "region")
_CREATE_FIELDS = frozenset((*_REQUIRED, "os_type"))
_JSON = "application/json"
_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)

_GARBAGE = b'{"snapshot": {"id": undefined, \'name\': "x",}'
"""A 200 body that claims to be JSON and is not (a broken proxy or serializer)."""

_FIELDS = ("id", "name", "size", "region", "status", "os_type", "resource_id", "created_at", "updated_at")
_SEED: tuple[tuple[str, str, int, str, str, str | None, str, str, str], ...] = (
    ("8fdc4100-0a26-4948-8e7f-53df5b440339", "legacy-centos-7-gpu", 50, "ARC-IS-HAF-1", "active", None,
     "a90af0dc-3ef8-48fd-9cce-66e6e291b2a0", "2025-05-12T08:14:03.412Z", "2025-05-12T08:28:03.412Z"),
    ("ebc879bb-2363-4326-bf38-eca0be7b7921", "ubuntu-22.04-cuda-12.4", 64, "NORD-NO-KRS-1", "created",
     "linux", "", "2025-06-30T14:02:51.077Z", "2025-06-30T14:24:51.077Z"),
    ("9607c382-cdbd-42ad-b42e-38298191bb45", "win-server-2022-base", 80, "EUW-NL-AMS-1", "created", "windows",
     "", "2025-08-19T09:45:12.930Z", "2025-08-20T10:16:12.930Z"),
    ("f8b41b73-3e62-42ab-8c3d-1c419e4c85df", "jupyter-research-env", 40, "NA-CA-FTS-1", "created", "linux",
     "97cfb5bd-ec4a-4a07-9170-2326dcd73298", "2025-10-02T16:20:33.518Z", "2025-10-02T16:29:33.518Z"),
    ("2e49aa33-1927-428a-9f33-a29ef0149069", "k8s-node-gpu-2025-11", 100, "NA-CA-MNZ-1", "created", "linux",
     "", "2025-11-14T11:07:44.205Z", "2025-11-16T11:20:44.205Z"),
    ("6efe4b2d-d265-47ce-ab96-80bc40f17639", "stable-diffusion-xl-worker", 128, "EUW-GB-MNC-1", "created",
     "linux", "1975d15c-0c98-4ea6-b06d-7cf4d997a8a7", "2026-01-08T07:58:19.664Z", "2026-01-08T08:29:19.664Z"),
    ("a52b3f26-7a60-4c50-9f21-fba2e5ab02ce", "llm-finetune-2026-03", 512, "NORD-NO-KRS-1", "created", "linux",
     "881a1b54-dfc5-42eb-9efa-16e1b30e5106", "2026-03-21T22:31:05.301Z", "2026-03-21T23:18:05.301Z"),
    ("de988491-9bf9-4bf5-a737-e4caacfd83ae", "rendering-blender-4.2", 60, "NA-CA-PRG-1", "created", "linux",
     "", "2026-05-05T13:12:40.889Z", "2026-05-08T13:31:40.889Z"),
    ("09c01ea7-a09b-42a1-a2ec-12e0022fff8c", "win-server-2022-cuda", 120, "EUC-DE-MUC-1", "error", "windows",
     "", "2026-07-17T10:03:27.146Z", "2026-07-17T10:21:27.146Z"),
    ("3f2ac9b3-dd02-4487-b890-1a86378cb101", "llama-3-70b-serving", 256, "NORD-NO-KRS-1", "created", "linux",
     "0c73d690-b461-423f-9f78-7f1290151773", "2026-09-09T18:44:58.752Z", "2026-09-09T19:10:58.752Z"),
    ("3d22a6ab-324c-4da8-ad61-383bedf8deb9", "nightly-backup-2026-10-30", 200, "EUW-NL-AMS-1",
     "pending_delete", "linux", "0bfa28c9-6019-4c56-9d75-382477cf3643", "2026-10-30T02:00:11.023Z",
     "2026-10-31T02:07:11.023Z"),
    ("187c7755-36f9-4e16-92f0-41acedfc3cfb", "ubuntu-24.04-cuda-12.6", 64, "NORD-NO-KRS-1", "creating",
     "linux", "", "2026-10-31T21:37:26.590Z", "2026-10-31T21:37:26.590Z"),
)  # fmt: skip


def _iso(dt: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``: ``2020-04-06T10:47:46.786Z``."""
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _json(status: int, payload: object, extra: dict[str, str] | None = None) -> _Reply:
    return status, {"content-type": _JSON, **(extra or {})}, json.dumps(payload).encode()


def _error(status: int, code: str, message: str, extra: dict[str, str] | None = None) -> _Reply:
    return _json(status, {"code": code, "message": message}, extra)


def _bad(message: str) -> _Reply:
    return _error(400, "03001", message)


def _not_found() -> _Reply:
    return _error(404, "04001", "Snapshot not found")


@dataclass
class SimRequest:
    """One request as received: method, path, query, lowercase headers, raw body."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    fault: str | None = None
    """The randomly drawn fault this request met (``Faults.fail_rate``), if any."""


RANDOM_FAULT_KINDS: tuple[str, ...] = (
    "429",
    "500",
    "502",
    "503",
    "504",
    "connect",
    "timeout",
    "reset",
    "garbage",
    "html",
    "truncated",
)
"""What ``Faults.fail_rate`` draws from: a status, a transport failure, or a broken body."""
_TRANSPORT_KINDS = frozenset({"connect", "timeout", "reset"})


@dataclass
class Faults:
    """Deterministic fault injection; everything off by default, counters decrement as used."""

    latency: float = 0.0
    fail_first: int = 0
    fail_status: int = 503
    retry_after: float | None = None
    fail_methods: frozenset[str] | None = None
    malformed_first: int = 0
    html_error_first: int = 0
    fail_when: Callable[[SimRequest], int | None] | None = None
    connect_error_first: int = 0
    read_timeout_first: int = 0
    reset_first: int = 0
    garbage_first: int = 0
    fail_rate: float = 0.0
    rng: random.Random | None = None
    random_kinds: tuple[str, ...] = RANDOM_FAULT_KINDS
    drawn: dict[str, int] = field(default_factory=dict)

    def applies_to(self, method: str) -> bool:
        """Whether injected faults (all but latency) apply to this HTTP method."""
        return self.fail_methods is None or method.upper() in self.fail_methods

    def draw(self, method: str) -> str | None:
        """A random fault kind for one request (``fail_rate`` of the time), or None."""
        if self.fail_rate <= 0 or not self.random_kinds or not self.applies_to(method):
            return None
        if self.rng is None:
            self.rng = random.Random(0)  # noqa: S311 - reproducible fault injection, not security
        if self.rng.random() >= self.fail_rate:
            return None
        kind = self.rng.choice(self.random_kinds)
        self.drawn[kind] = self.drawn.get(kind, 0) + 1
        return kind


@dataclass(slots=True)
class _Life:
    """Pending lifecycle of one snapshot: a create or a delete still in progress."""

    deleting: bool
    reads: int = 0
    deadline: float | None = None
    final: str = "created"


class _Transport(httpx.AsyncBaseTransport):
    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        faults = self._sim.faults
        kind = faults.draw(request.method)
        after: str | None = kind if kind in _TRANSPORT_KINDS else None
        if faults.applies_to(request.method):
            if faults.connect_error_first > 0:
                faults.connect_error_first -= 1
                after = "connect"
            elif faults.read_timeout_first > 0:
                faults.read_timeout_first -= 1
                after = "timeout"
            elif faults.reset_first > 0:
                faults.reset_first -= 1
                after = "reset"
        if after == "connect":
            raise httpx.ConnectError("simulated connection failure", request=request)
        sim_req = SimRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.url.params.items()),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.aread(),
            fault=kind,
        )
        status, headers, body = await self._sim.handle(sim_req)
        if after == "timeout":
            raise httpx.ReadTimeout("simulated read timeout (request was applied)", request=request)
        if after == "reset":
            raise httpx.ReadError("simulated connection reset by peer (request was applied)", request=request)
        return httpx.Response(status, headers=headers, content=body, request=request)


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
            for row in _SEED:
                self._insert(dict(zip(_FIELDS, row, strict=True)))

    # ----------------------------------------------------------------- state helpers
    def add_snapshot(
        self,
        *,
        name: str,
        size: int,
        region: str,
        status: str = "created",
        os_type: str | None = "linux",
        created_at: datetime | None = None,
        id: str | None = None,
        resource_id: str = "",
    ) -> dict[str, Any]:
        """Insert a snapshot directly (no validation); ``creating`` ones follow the lifecycle."""
        stamp = _iso(created_at or self._now())
        row = (id or self._id_factory(), name, size, region, status, os_type, resource_id, stamp, stamp)
        return self._insert(dict(zip(_FIELDS, row, strict=True)))

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
            stamp = _iso(base + timedelta(minutes=k))
            region = KNOWN_REGIONS[k % len(KNOWN_REGIONS) if region_cycle else 0]
            row = (sid, f"{prefix}-{k:05d}", 10 + k % 190, region, "created", "linux", "", stamp, stamp)
            self.snapshots[sid] = dict(zip(_FIELDS, row, strict=True))
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
            snap["updated_at"] = _iso(self._now())

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
    async def handle(self, req: SimRequest) -> _Reply:
        """Answer one request: ``(status, headers, body)``; records it in ``requests``."""
        self.requests.append(req)
        if self.faults.latency > 0:
            await anyio.sleep(self.faults.latency)
        faults = self.faults
        kind = req.fault
        if kind == "html":
            return 502, {"content-type": "text/html"}, _HTML
        if kind is not None and kind.isdigit():
            return self._fault(int(kind))
        if faults.applies_to(req.method):
            if faults.html_error_first > 0:
                faults.html_error_first -= 1
                return 502, {"content-type": "text/html"}, _HTML
            status: int | None = None
            if faults.fail_first > 0:
                faults.fail_first -= 1
                status = faults.fail_status
            elif faults.fail_when is not None:
                status = faults.fail_when(req)
            if status is not None:
                return self._fault(status)
        status, headers, body = self._route(req)
        if not 200 <= status < 300 or not faults.applies_to(req.method):
            return status, headers, body
        if body and (kind == "truncated" or (kind is None and faults.malformed_first > 0)):
            if kind is None:
                faults.malformed_first -= 1
            return status, headers, body[: len(body) // 2]
        if kind == "garbage" or (kind is None and faults.garbage_first > 0):
            if kind is None:
                faults.garbage_first -= 1
            return 200, {"content-type": _JSON}, _GARBAGE
        return status, headers, body

    def _fault(self, status: int) -> _Reply:
        extra: dict[str, str] = {}
        after = self.faults.retry_after
        if status in (429, 503) and after is not None:
            extra["retry-after"] = str(int(after)) if float(after).is_integer() else str(after)
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        return _error(status, "09001", f"Simulated fault: {status} {phrase}", extra)

    def _route(self, req: SimRequest) -> _Reply:
        method, path = req.method.upper(), req.path
        sid: str | None = None
        if path == _PREFIX:
            allowed = ("GET", "POST")
        elif path.startswith(_PREFIX + "/") and (rest := path[len(_PREFIX) + 1 :]) and "/" not in rest:
            sid = rest
            allowed = ("GET", "DELETE")
        else:
            return _error(404, "02001", "Invalid route")
        if method not in allowed:
            return _error(405, "02002", f"Method {method} not allowed", {"allow": ", ".join(allowed)})
        denied = self._auth(req)
        if denied is not None:
            return denied
        if sid is None:
            return self._list(req.query) if method == "GET" else self._create(req.body)
        if not _UUID_RE.fullmatch(sid) or sid not in self.snapshots:
            return _not_found()
        if method == "GET":
            return _json(200, {"snapshot": self._observe(sid)})
        return self._delete(sid)

    def _auth(self, req: SimRequest) -> _Reply | None:
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
        return _error(401, "01001", message, {"www-authenticate": "Bearer"})

    def _list(self, query: dict[str, str]) -> _Reply:
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
                return _bad(f"Invalid query parameter '{name}': must be an integer {bounds}")
            values[name] = number
        page, per_page = values["page"], values["per_page"]
        ordered = sorted(self.snapshots.values(), key=lambda s: (s["created_at"], s["id"]))
        start = (page - 1) * per_page
        shown = [self._observe(s["id"]) for s in ordered[start : start + per_page]]
        payload = {"snapshots": shown, "total_count": len(ordered), "page": page}
        return _json(200, {**payload, "per_page": per_page})

    def _create(self, body: bytes) -> _Reply:
        try:
            data = json.loads(body)
        except ValueError:
            return _bad("Request body must be a JSON object")
        if not isinstance(data, dict):
            return _bad("Request body must be a JSON object")
        if unknown := sorted(set(data) - _CREATE_FIELDS):
            return _bad(f"Unknown field(s): {', '.join(unknown)}")
        if missing := [k for k in _REQUIRED if k not in data]:
            return _bad(f"Missing required field(s): {', '.join(missing)}")
        name, size, url, region = (data[k] for k in _REQUIRED)
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            return _bad("Invalid field 'name': must be a non-empty string of at most 255 chars")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            return _bad("Invalid field 'size': must be an integer >= 1 (GiB)")
        if not isinstance(url, str) or not _URL_RE.fullmatch(url):
            return _bad("Invalid field 'url': must be an http:// or https:// URL")
        if region not in KNOWN_REGIONS:
            return _bad(f"Invalid field 'region': must be one of {', '.join(KNOWN_REGIONS)}")
        os_type = data.get("os_type")
        if "os_type" in data and os_type not in ("linux", "windows"):
            return _bad("Invalid field 'os_type': must be 'linux' or 'windows'")
        snap = self.add_snapshot(name=name, size=size, region=region, status="creating", os_type=os_type)
        return _json(201, {"snapshot": snap})

    def _delete(self, sid: str) -> _Reply:
        snap = self.snapshots[sid]
        life = self._life.get(sid)
        if life is not None and not life.deleting:
            if not self._create_due(life):
                return _error(409, "05001", "snapshot is being created")
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
        return _Transport(self)

    def asgi_app(self) -> ASGIApp:
        """A raw ASGI3 app serving ``handle`` (transport-level faults do not apply)."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                while True:
                    message = await receive()
                    if message["type"] == "lifespan.startup":
                        await send({"type": "lifespan.startup.complete"})
                    elif message["type"] == "lifespan.shutdown":
                        await send({"type": "lifespan.shutdown.complete"})
                        return
            if scope["type"] != "http":
                return
            chunks: list[bytes] = []
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            headers: dict[str, str] = {}
            for key, value in scope.get("headers", []):
                k, v = key.decode("latin-1").lower(), value.decode("latin-1")
                headers[k] = f"{headers[k]}, {v}" if k in headers else v
            query: dict[str, str] = {}
            for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), True):
                query.setdefault(k, v)  # first value wins, as with httpx's QueryParams
            req = SimRequest(scope["method"], scope["path"], query, headers, b"".join(chunks))
            status, out_headers, body = await self.handle(req)
            raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out_headers.items()]
            raw.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": raw})
            await send({"type": "http.response.body", "body": body})

        return app


def serve(
    host: str = "127.0.0.1",
    port: int = 8089,
    *,
    simulator: Simulator | None = None,
    log_level: str = "info",
) -> None:
    """Run the simulator as a real HTTP server with uvicorn; all logs go to stderr."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    log_config = copy.deepcopy(LOGGING_CONFIG)
    for handler in log_config.get("handlers", {}).values():
        handler["stream"] = "ext://sys.stderr"
    sim = simulator if simulator is not None else Simulator()
    print(f"snapshot simulator on http://{host}:{port}/compute/v1", file=sys.stderr)
    uvicorn.run(sim.asgi_app(), host=host, port=port, log_level=log_level, log_config=log_config)
