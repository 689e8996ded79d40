"""The OpenTelemetry SDK's providers, exporting over OTLP/HTTP as the `OTEL_*` variables say.

Imported only by `telemetry.setup` once those variables asked for export: the `otel`
extra (``opentelemetry-sdk``, ``opentelemetry-exporter-otlp-proto-http``) is needed then
and only then. The exporters read the endpoint, headers, time-outs and compression from
the environment themselves; the resource takes `OTEL_SERVICE_NAME` and
`OTEL_RESOURCE_ATTRIBUTES`, and is named ``snapshot-mcp`` when they name no service.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from . import __version__

logger = logging.getLogger("snapshot_mcp.startup")


def _resource() -> Resource:
    resource = Resource.create({SERVICE_VERSION: __version__})
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "snapshot-mcp"}))
    return resource


def _exports(environ: Mapping[str, str], signal: str) -> bool:
    """Whether `signal` (TRACES, METRICS) has an endpoint and is not switched off (``OTEL_<signal>_EXPORTER=none``)."""
    if environ.get(f"OTEL_{signal}_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()) or bool(
        environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT", "").strip()
    )


def providers(environ: Mapping[str, str]) -> tuple[TracerProvider | None, MeterProvider | None]:
    """A tracer provider and a meter provider exporting over OTLP/HTTP (None for a signal switched off)."""
    if environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip().lower() != "http/protobuf":
        logger.warning("OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf is supported; exporting with it")
    resource = _resource()
    tracer_provider = None
    if _exports(environ, "TRACES"):
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    meter_provider = None
    if _exports(environ, "METRICS"):
        reader = PeriodicExportingMetricReader(OTLPMetricExporter())
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    return tracer_provider, meter_provider
