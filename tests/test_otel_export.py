"""`otel_export`: the SDK's OTLP/HTTP providers, made only for the signals the variables ask for."""

from __future__ import annotations

import pytest

from snapshot_mcp.otel_export import providers


def test_the_exporting_providers_follow_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each signal with an endpoint gets a provider (`OTEL_<signal>_EXPORTER=none` switches one off)."""

    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_METRICS_EXPORTER": "none"}
    tracer_provider, meter_provider = providers(environ)
    try:
        assert meter_provider is None
        assert tracer_provider is not None
        assert tracer_provider.resource.attributes["service.name"] == "snapshot-mcp"
    finally:
        if tracer_provider is not None:
            tracer_provider.shutdown()
    only_metrics = {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://127.0.0.1:9/v1/metrics"}
    tracer_provider, meter_provider = providers(only_metrics)
    try:
        assert tracer_provider is None
        assert meter_provider is not None
    finally:
        if meter_provider is not None:
            meter_provider.shutdown()
