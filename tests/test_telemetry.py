"""Traces and metrics with OpenTelemetry's in-memory exporter and reader: what is recorded, and that no secret is.

`telemetry.install` points the hooks at providers made here (never the process-wide
ones, which the OTLP test in campaigns/test_otlp_export.py sets in its own process).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp.types import ElicitResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr

from snapshot_mcp import telemetry
from snapshot_mcp.http import build_http_app
from snapshot_mcp.middleware import ToolCallMetrics
from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Faults, Simulator
from tests.support import SEED_ID, Asker, accept, connect

CANARY = "canary-otel-7d1c2b9e4f"


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class Recording:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.metrics = InMemoryMetricReader()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[tuple[dict[str, Any], float]]:
        """(attributes, value) of each data point of the metric `name`."""
        data = self.metrics.get_metrics_data()
        found: list[tuple[dict[str, Any], float]] = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            value = getattr(point, "value", None)
                            total = value if value is not None else getattr(point, "sum", 0.0)
                            found.append((dict(point.attributes or {}), float(total)))
        return found


@pytest.fixture
def recording() -> Iterator[Recording]:
    rec = Recording()
    telemetry.install(rec.tracer_provider, rec.meter_provider)
    try:
        yield rec
    finally:
        telemetry.uninstall()
        rec.tracer_provider.shutdown()
        rec.meter_provider.shutdown()


def attribute_text(spans: list[ReadableSpan]) -> str:
    return json.dumps([{**dict(span.attributes or {}), "name": span.name} for span in spans], default=str)


def test_url_template_names_the_ids() -> None:
    assert telemetry.url_template("/compute/v1/snapshots") == "/compute/v1/snapshots"
    assert telemetry.url_template(f"/compute/v1/snapshots/{SEED_ID}") == "/compute/v1/snapshots/{snapshot_id}"
    assert telemetry.url_template(f"/v1/snapshots/{SEED_ID}/clone") == "/v1/snapshots/{snapshot_id}/clone"
    assert telemetry.url_template("/v1/instances/i-1/snapshots") == "/v1/instances/{instance_id}/snapshots"


async def test_api_requests_are_client_spans_with_http_attributes(recording: Recording) -> None:
    """One span per attempt: the retry after a 503 carries resend_count 1; counts by status."""
    sim = Simulator(tokens=[CANARY], faults=Faults(fail_first=1, fail_status=503))
    async with connect(Settings(token=SecretStr(CANARY)), sim) as client:
        result = await client.call_tool("get_snapshot", {"snapshot_id": SEED_ID})
    assert not result.is_error
    api = [span for span in recording.finished() if span.name.startswith("GET ")]
    assert [span.name for span in api] == ["GET /compute/v1/snapshots/{snapshot_id}"] * 2
    first, second = (dict(span.attributes or {}) for span in api)
    assert first == {
        "http.request.method": "GET",
        "url.template": "/compute/v1/snapshots/{snapshot_id}",
        "server.address": "api.genesiscloud.com",
        "http.response.status_code": 503,
        "error.type": "503",
    }
    assert second["http.response.status_code"] == 200
    assert second["http.request.resend_count"] == 1
    assert "error.type" not in second
    counted = recording.points("snapshot_mcp.api.requests")
    statuses = {attrs["http.response.status_code"]: value for attrs, value in counted}
    assert statuses == {503: 1, 200: 1}
    assert recording.points("snapshot_mcp.rate_limit.wait")  # every request passed the limiter
    tools = recording.points("snapshot_mcp.tool.calls")
    assert tools == [({"gen_ai.tool.name": "get_snapshot", "snapshot_mcp.outcome": "ok"}, 1)]


@pytest.mark.parametrize(("answer", "outcome"), [(accept(confirm=True), "approved"), (None, "declined")])
async def test_a_confirmation_is_a_span_with_its_channel_and_outcome(
    recording: Recording, answer: Any, outcome: str
) -> None:

    asker = Asker(answer if answer is not None else ElicitResult(action="decline"))
    settings = Settings(token=SecretStr(CANARY), confirm_channels=("form",))
    async with connect(settings, Simulator(tokens=[CANARY]), elicit=asker, mode="legacy") as client:
        await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    [span] = [span for span in recording.finished() if span.name == "confirm form"]
    assert dict(span.attributes or {}) == {
        "snapshot_mcp.confirm.channel": "form",
        "snapshot_mcp.confirm.outcome": outcome,
    }
    counted = recording.points("snapshot_mcp.confirmations")
    assert counted == [({"snapshot_mcp.confirm.channel": "form", "snapshot_mcp.confirm.outcome": outcome}, 1)]


async def test_no_secret_or_snapshot_name_is_in_any_attribute(recording: Recording) -> None:
    sim = Simulator(tokens=[CANARY])
    settings = Settings(token=SecretStr(CANARY), delete_confirmation="token")
    async with connect(settings, sim) as client:
        await client.call_tool("list_snapshots", {})
        preview = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        token = (preview.structured_content or {})["confirmation_token"]
        await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": token})
    text = attribute_text(recording.finished())
    assert "confirm token" in text
    for secret in (CANARY, token, "ubuntu-22.04-cuda-12.4", "Bearer"):
        assert secret not in text


async def test_a_traceparent_in_meta_is_continued(recording: Recording) -> None:
    """The caller's trace (W3C traceparent in `_meta`) is the parent of this server's spans."""
    sim = Simulator(tokens=[CANARY])
    meta: Any = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
    async with connect(Settings(token=SecretStr(CANARY)), sim) as client:
        await client.call_tool("get_snapshot", {"snapshot_id": SEED_ID}, meta=meta)
    [api] = [span for span in recording.finished() if span.name.startswith("GET ")]
    assert f"{api.context.trace_id:032x}" == TRACE_ID


def test_the_tool_call_counter_is_in_the_chain_only_while_recording(recording: Recording) -> None:
    """Off, the counting middleware is left out of the server, not passed through on every call."""
    on = build_server(Settings(token=SecretStr(CANARY)))
    telemetry.uninstall()
    off = build_server(Settings(token=SecretStr(CANARY)))
    assert sum(isinstance(layer, ToolCallMetrics) for layer in on.middleware) == 1
    assert not any(isinstance(layer, ToolCallMetrics) for layer in off.middleware)


async def test_off_records_nothing() -> None:
    assert not telemetry.enabled()
    with telemetry.api_attempt("GET", "/x", "h", 0) as attempt:
        attempt.answered(200)
    assert attempt.span is None
    with telemetry.confirmation("form") as verdict:
        verdict.outcome = "approved"


async def test_a_traceparent_header_is_continued_over_http(recording: Recording) -> None:
    """Over HTTP a W3C traceparent header on the POST parents the call's spans (2026-07-28, no `_meta` one)."""

    sim = Simulator(tokens=[CANARY])
    settings = Settings(token=SecretStr(CANARY))
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "get_snapshot", "arguments": {"snapshot_id": SEED_ID}, "_meta": meta},
    }
    headers = {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "get_snapshot",
        "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
    }
    async with httpx.AsyncClient(transport=sim.transport()) as api:
        server = build_server(settings, http=api)
        app = build_http_app(server, settings)
        async with (
            server.session_manager.run(),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as client,
        ):
            response = await client.post("/mcp", json=body, headers=headers)
    assert response.status_code == 200
    [span] = [span for span in recording.finished() if span.name.startswith("GET ")]
    assert f"{span.context.trace_id:032x}" == TRACE_ID
