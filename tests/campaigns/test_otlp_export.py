"""Telemetry for real: the console script exports to an OTLP/HTTP receiver, without a secret.

The console script runs with `OTEL_*` set, behind a real identity provider (panva's
`oidc-provider`, as in test_identity_provider.py), and a small OTLP/HTTP receiver on
loopback decodes what arrives with the `opentelemetry-proto` package: the SDK's spans,
ours, the caller's trace continued.
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from snapshot_mcp.simulator import DEFAULT_TOKEN
from tests.support import SEED_ID
from tests.support.http import token_client
from tests.support.oauth import (
    PUBLIC,
    SECRET,
    OidcProvider,
)
from tests.support.processes import base_env, http_server

# a Node.js identity provider, real sockets
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("otlp-export")]


TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


SEED_NAMES = ("ubuntu-22.04-cuda-12.4", "win-server-2022-base")


# -- OpenTelemetry ----------------------------------------------------------------------------


class OtlpReceiver:
    """A loopback OTLP/HTTP receiver: decodes each export with opentelemetry-proto and keeps it."""

    def __init__(self) -> None:
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/traces":
                    receiver.traces.append(ExportTraceServiceRequest.FromString(body))
                elif self.path == "/v1/metrics":
                    receiver.metrics.append(ExportMetricsServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def spans(self) -> list[Any]:
        return [
            span
            for request in self.traces
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]

    def metric_names(self) -> set[str]:
        return {
            metric.name
            for request in self.metrics
            for resource in request.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }

    def service_names(self) -> set[str]:
        return {
            attribute.value.string_value
            for request in self.traces
            for resource in request.resource_spans
            for attribute in resource.resource.attributes
            if attribute.key == "service.name"
        }


async def test_spans_and_metrics_arrive_at_an_otlp_receiver_without_secrets(idp: OidcProvider) -> None:
    """The console script with OTEL_EXPORTER_OTLP_ENDPOINT: the SDK's spans, ours, the caller's trace; no secret."""
    token = await idp.token("admin")
    meta: Any = {"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"}
    with OtlpReceiver() as receiver:
        env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_SERVICE_NAME="snapshot-mcp-under-test")
        args = ["--simulate", "--auth-issuer", idp.issuer, "--public-url", PUBLIC, "--delete-confirmation", "token"]
        async with http_server(*args, env=env) as (url, _), token_client(url, token, mode="legacy") as client:
            await client.call_tool("list_snapshots", {"per_page": 2}, meta=meta)
            preview = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
            confirmation = (preview.structured_content or {})["confirmation_token"]
            done = await client.call_tool(
                "delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": confirmation}
            )
        # the process has stopped (SIGINT): it flushed what it had on the way out
        spans = receiver.spans()
        names = {span.name for span in spans}
        assert (done.structured_content or {})["deleted"] is True
        assert {"tools/call list_snapshots", "tools/call delete_snapshot", "confirm token"} <= names
        assert "GET /compute/v1/snapshots" in names
        assert "DELETE /compute/v1/snapshots/{snapshot_id}" in names
        assert any(span.trace_id.hex() == TRACE_ID for span in spans)
        assert receiver.service_names() == {"snapshot-mcp-under-test"}
        assert {"snapshot_mcp.tool.calls", "snapshot_mcp.api.requests", "snapshot_mcp.confirmations"} <= (
            receiver.metric_names()
        )
        exported = [request.SerializeToString() for request in receiver.traces]
        everything = b"".join([*exported, *(request.SerializeToString() for request in receiver.metrics)])
    for secret in (token, confirmation, DEFAULT_TOKEN, SECRET, *SEED_NAMES):
        assert secret.encode() not in everything, secret
