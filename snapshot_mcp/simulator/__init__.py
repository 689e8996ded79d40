"""In-memory, strict simulator of the Genesis Cloud compute snapshot API (``/compute/v1``).

Serves, under ``/compute/v1``, ``GET/POST /snapshots``, ``GET/PATCH/DELETE /snapshots/{id}``,
``POST /snapshots/{id}/clone``, ``GET /instances`` and ``GET/POST /instances/{id}/snapshots``
in the current form only (the client must be tolerant; this must be strict):

* Shape: every snapshot carries ``id, name, size, region, status, os_type, created_at,
  updated_at`` (``os_type`` ``linux``/``windows``, never null) and no ``resource_id``.
  ``source_instance_id`` / ``source_snapshot_id`` are present only where they apply and
  left out otherwise, never null (reading: the current schema marks them optional, not
  nullable). Statuses are the current enum ``creating, created, pending_delete,
  deleting, error``; the seed's one legacy ``active`` snapshot is the only exception.
* Routing comes first: an unknown path (a trailing slash too) is 404
  ``{"code": "02001", "message": "Invalid route"}``; a wrong method on a known path is 405
  with an ``Allow`` header. Then auth: ``Authorization: Bearer <token>`` (any non-empty
  token, or one of ``tokens`` when given); anything else, the deprecated ``X-Auth-Token``
  alone included, is 401 code ``01001``. Then the path's id: an unknown or non-UUID
  snapshot is 404 code ``04001`` "Snapshot not found", an instance 404 code ``04002``
  "Instance not found". Then the body (400 code ``03001``), then the state (409 code
  ``05001``). Bodies are JSON objects with no unknown key and every required one; bad
  JSON, another JSON type, an empty body, a wrong type or an explicit null is 400 and
  changes nothing. A name is 1..255 chars, not blank, and need not be unique; a region
  for a new snapshot is one of the seven KNOWN_REGIONS (the dropped ``ARC-IS-HAF-1`` is 400).
* Lists (``/snapshots``, ``/instances``, ``/instances/{id}/snapshots``): ``per_page``
  1..100 (default 50), ``page`` >= 1 (default 1), plain ASCII digits; anything else is 400
  naming the parameter. Other query keys are ignored. Order is ``created_at`` ascending,
  then ``id``. A page past the end is an empty list. The answer is ``{"<things>": [...],
  "total_count", "page", "per_page"}``.
* Create: exactly ``name``, ``size`` (int >= 1, bool rejected), ``url`` (http:// or
  https://), ``region`` and optional ``os_type`` ("linux"/"windows", ``linux`` when left
  out). Never deduplicated. 201 ``{"snapshot": {...}}`` with status ``creating``.
* Delete: a snapshot still ``creating`` is 409. Otherwise 204 with an empty body; it then
  reads ``pending_delete`` once, ``deleting`` after, for ``delete_polls`` reads in total,
  and is gone (GET 404, not listed). Choice: deleting a snapshot already
  ``pending_delete`` or ``deleting`` answers 204 again without restarting its countdown.
* Lifecycle, advanced lazily on reads (a GET of the snapshot or its presence on a listed
  page; POST/PATCH/DELETE are not reads): ``creating`` is shown for ``create_polls``
  reads, then ``created`` (``error`` for names in ``fail_create_names``); with
  ``create_seconds`` the injectable ``clock`` decides instead. Imports, clones, instance
  snapshots and replicas all follow it, each on its own, as does
  ``add_snapshot(status="creating")`` (seed included); any other status is static until
  deleted. A write (delete, clone, rename) first ends a create that is due.
* Instances: ``GET /instances`` lists them; each has ``id, name, hostname, region, status,
  type, os_type, image {id, name}, public_ip, private_ip, disk_size, created_at,
  updated_at, ssh_keys, volumes, security_groups`` (lists of ``{id, name}``). Instances are
  static (no lifecycle; ``add_instance`` inserts one). Other instance paths, ``GET
  /instances/{id}`` included, are not simulated: 404 "Invalid route".
* Instance snapshots: ``GET /instances/{id}/snapshots`` lists the snapshots whose
  ``source_instance_id`` is that instance (a read, like ``/snapshots``). ``POST`` takes
  exactly ``{"name", "replicated_region"?}`` and answers 201 ``{"snapshot": ...}``,
  ``creating``, in the instance's region with its ``disk_size`` and ``os_type`` and
  ``source_instance_id`` set.
* Clone: ``POST /snapshots/{id}/clone`` takes exactly ``{"name", "region"}`` and answers
  201 ``{"snapshot": ...}``, ``creating``, in that region with the source's ``size`` and
  ``os_type`` and ``source_snapshot_id`` = the source.
* Rename: ``PATCH /snapshots/{id}`` takes exactly ``{"name"?}`` and answers 200
  ``{"snapshot": ...}`` with the new name and a new ``updated_at``.
* Readings of what the API does not document (the reference says so; each is a choice):
  - 409 for an instance snapshot unless the instance is ``active`` or ``stopped``; for a
    clone while the source is ``creating``, ``pending_delete``, ``deleting`` or ``error``;
    for a rename while ``creating``, ``pending_delete`` or ``deleting`` (an ``error`` or
    legacy ``active`` snapshot can be renamed and, ``active`` only, cloned).
  - ``replicated_region`` makes a second snapshot in that region (the same region as the
    instance is allowed): same name, size and os_type, ``source_snapshot_id`` = the first
    and no ``source_instance_id``, so the instance's list shows only the first; the 201
    names only the first.
  - A clone names only its source snapshot, never the instance behind it.
  - PATCH ``{}``, or the same name, is 200 and changes nothing, ``updated_at`` included:
    ``updated_at`` moves only when the name does.
  - The order 404, 400, 409; the codes ``04002`` and ``05001``; the name and region rules
    above, shared by every endpoint.
* Faults (``Faults``, all off by default, counters decrement as used) act on every route,
  before routing and auth like a proxy would, in this order: connect error / read timeout
  / connection reset (in-process transport only; a connect error never reaches ``handle``
  so it is not in ``requests``; a read timeout and a reset are raised after ``handle``
  ran, so the API acted), latency (every request), HTML 502 page, ``fail_first``,
  ``fail_when`` (it sees the whole ``SimRequest``: method, path, query, headers, body),
  normal handling, then ``malformed_first`` (a 2xx body cut in half) on 2xx responses with
  a body and ``garbage_first`` (any 2xx, 204 included, becomes a 200 whose body is not
  JSON). ``fail_methods`` limits every fault except latency. Injected 429/503 carry
  ``Retry-After`` when ``retry_after`` is set. Injected errors use code ``09001``.
  ``fail_rate`` with a seeded ``rng`` draws one of ``random_kinds`` for that share of the
  requests (in-process transport only), deterministic for a given seed and request order;
  each drawn kind is recorded as ``SimRequest.fault`` (and counted in ``Faults.drawn``).
* Every response is ``application/json`` except 204 (no body) and the HTML page. Both
  adapters, ``transport()`` and ``asgi_app()``, serve every route through ``handle``.
* Seed (``seed=True``): 12 fixed snapshots (fixed UUIDs, the 7 current regions, one each
  of ``creating``, ``error`` and ``pending_delete``) dated over the 18 months before the
  fixed REFERENCE_DATE 2026-11-01, so every run shows the same data. One is labelled
  legacy data: ``legacy-centos-7-gpu``, status ``active`` in the dropped ``ARC-IS-HAF-1``,
  made before the region left the enum, so the client's tolerant path has something to
  read. And 7 fixed instances in 5 regions (``active``, ``stopped``, ``stopping``,
  ``creating``, ``error``); every seeded ``source_instance_id`` names one of them, in its
  region, of its disk size and OS.

``handle`` has no await after the optional latency sleep, so it is safe under concurrent
calls on one event loop. Imports are stdlib, httpx and anyio; uvicorn only inside ``serve``.
Modules: ``_core`` (state, lifecycle, routes), ``_checks`` (bodies, fields, paging),
``_data`` (regions, seed), ``_faults``, ``_adapters`` (transport, ASGI), ``_serve`` (uvicorn), ``_wire``.
"""

from ._adapters import ASGIApp
from ._core import DEFAULT_TOKEN, Simulator
from ._data import KNOWN_REGIONS, REFERENCE_DATE
from ._faults import RANDOM_FAULT_KINDS, Faults
from ._serve import serve
from ._wire import SimRequest

__all__ = [
    "DEFAULT_TOKEN",
    "KNOWN_REGIONS",
    "RANDOM_FAULT_KINDS",
    "REFERENCE_DATE",
    "ASGIApp",
    "Faults",
    "SimRequest",
    "Simulator",
    "serve",
]
