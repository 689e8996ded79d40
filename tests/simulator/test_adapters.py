"""`simulator._adapters`: the in-process httpx transport and the ASGI app serve the same API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from snapshot_mcp.simulator import (
    Faults,
    SimRequest,
    Simulator,
)
from tests.support import (
    AUTH,
    ERROR_SEED_ID,
    GOOD_BODY,
    GPU_WORKER_1,
    LLAMA_SEED_ID,
    SEED_ID,
    assert_error,
    client,
)

# ---------------------------------------------------------------- handle, ASGI, serve


@pytest.mark.anyio
async def test_handle_directly() -> None:
    """handle() works on a bare SimRequest and normalises header case for auth."""
    sim = Simulator()
    status, headers, body = await sim.handle(
        SimRequest("GET", "/compute/v1/snapshots", {"per_page": "2"}, {"Authorization": "Bearer x"})
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert len(json.loads(body)["snapshots"]) == 2


@pytest.mark.anyio
async def test_asgi_round_trip() -> None:
    """The raw ASGI app serves the same API through httpx.ASGITransport (no transport faults)."""
    sim = Simulator(seed=False, create_polls=0, faults=Faults(connect_error_first=1))
    transport = httpx.ASGITransport(app=sim.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.local/compute/v1", headers=AUTH) as c:
        created = await c.post("/snapshots", json=GOOD_BODY)
        sid = created.json()["snapshot"]["id"]
        got = await c.get(f"/snapshots/{sid}")
        listed = await c.get("/snapshots", params={"per_page": 1, "page": 1})
        deleted = await c.delete(f"/snapshots/{sid}")
        missing = await c.get("/compute/v1/nothing")
        unauth = await c.get("/snapshots", headers={"Authorization": ""})
    assert created.status_code == 201
    assert got.json()["snapshot"]["status"] == "created"
    assert listed.json()["total_count"] == 1
    assert listed.json()["per_page"] == 1
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(missing, 404, "02001")
    assert_error(unauth, 401)
    assert sim.faults.connect_error_first == 1


@pytest.mark.anyio
async def test_asgi_lifespan_and_chunked_body() -> None:
    """The ASGI app completes lifespan startup/shutdown and joins a chunked request body."""
    app = Simulator(seed=False).asgi_app()
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(dict(message))

    lifespan = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive_lifespan() -> dict[str, Any]:
        return next(lifespan)

    await app({"type": "lifespan"}, receive_lifespan, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    raw = json.dumps(GOOD_BODY).encode()
    chunks = iter(
        [
            {"type": "http.request", "body": raw[:10], "more_body": True},
            {"type": "http.request", "body": raw[10:], "more_body": False},
        ]
    )

    async def receive_http() -> dict[str, Any]:
        return next(chunks)

    sent.clear()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/compute/v1/snapshots",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer t"), (b"content-type", b"application/json")],
    }
    await app(scope, receive_http, send)
    assert sent[0]["status"] == 201
    assert (b"content-length", str(len(sent[1]["body"])).encode()) in sent[0]["headers"]


# ---------------------------------------------------------------- both adapters


@asynccontextmanager
async def adapter_client(sim: Simulator, adapter: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client over the in-process transport or over the ASGI app (httpx.ASGITransport)."""
    if adapter == "transport":
        async with client(sim) as c:
            yield c
        return
    transport = httpx.ASGITransport(app=sim.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.local/compute/v1", headers=AUTH) as c:
        yield c


@pytest.mark.parametrize("adapter", ["transport", "asgi"])
async def test_both_adapters_serve_the_new_routes(adapter: str) -> None:
    """Every new route, its 400/404/405/409 answers and the PATCH body record, through each adapter."""
    sim = Simulator(create_polls=0)
    async with adapter_client(sim, adapter) as c:
        instances = (await c.get("/instances", params={"per_page": 2})).json()
        body = {"name": "snap", "replicated_region": "EUC-DE-MUC-1"}
        made = await c.post(f"/instances/{GPU_WORKER_1}/snapshots", json=body)
        listed = (await c.get(f"/instances/{GPU_WORKER_1}/snapshots")).json()
        clone = await c.post(f"/snapshots/{LLAMA_SEED_ID}/clone", json={"name": "copy", "region": "NA-CA-PRG-1"})
        renamed = await c.patch(f"/snapshots/{SEED_ID}", json={"name": "renamed"})
        wrong = await c.put(f"/instances/{GPU_WORKER_1}/snapshots")
        unknown = await c.get("/instances/00000000-0000-4000-8000-000000000000/snapshots")
        busy = await c.post(f"/snapshots/{ERROR_SEED_ID}/clone", json={"name": "n", "region": "NA-CA-PRG-1"})
        bad = await c.patch(f"/snapshots/{SEED_ID}", content=b"{")
    assert (instances["total_count"], len(instances["instances"])) == (7, 2)
    assert made.status_code == 201
    assert [s["name"] for s in listed["snapshots"]] == ["llama-3-70b-serving", "snap"]
    assert (clone.status_code, clone.json()["snapshot"]["source_snapshot_id"]) == (201, LLAMA_SEED_ID)
    assert renamed.json()["snapshot"]["name"] == "renamed"
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, POST")
    assert_error(unknown, 404, "04002")
    assert assert_error(busy, 409, "05001")["message"] == "snapshot is in error"
    assert_error(bad, 400, "03001")
    patch = next(r for r in sim.requests if r.method == "PATCH")
    assert json.loads(patch.body) == {"name": "renamed"}
    assert len(sim.snapshots) == 15
