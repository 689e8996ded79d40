"""Traces and metrics (OpenTelemetry), exported only when the standard `OTEL_*` variables ask for it.

Off by default, and cheap when off: every hook below first checks one module global,
and nothing from the OpenTelemetry SDK is imported (the `mcp` SDK imports the API
itself). `setup(environ)` turns it on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the
per-signal `…_TRACES_ENDPOINT` / `…_METRICS_ENDPOINT`) is set and `OTEL_SDK_DISABLED`
is not true; the exporters then read every other standard variable themselves
(`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`, the
sampler…). It needs the `otel` extra: ``pip install 'snapshot-mcp[otel]'``.

What is recorded:

- the `mcp` SDK's own span per MCP request (continuing the caller's trace from
  `_meta.traceparent`); over HTTP a W3C `traceparent` header is continued too (`asgi`);
- a span per API request attempt, with OpenTelemetry's HTTP client attributes
  (`http.request.method`, `url.template`, `http.response.status_code`,
  `http.request.resend_count`, `server.address`);
- a span per confirmation (`snapshot_mcp.confirm.channel`, `snapshot_mcp.confirm.outcome`);
- counters: tool calls by tool and outcome, API requests by method and status,
  confirmations by channel and outcome; a histogram of the time requests waited for
  the rate limit.

Attributes carry ids, names this server chose, methods and statuses: never a token,
nonce, secret URL or a snapshot's name (`url.template` stands for the path, so not even
an id is in the API spans).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram, MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "ENDPOINT_VARIABLES",
    "ApiAttempt",
    "api_attempt",
    "asgi",
    "confirmation",
    "enabled",
    "flush",
    "install",
    "rate_limit_wait",
    "setup",
    "tool_call",
    "uninstall",
    "url_template",
    "wanted",
]

logger = logging.getLogger("snapshot_mcp.startup")

SCOPE_NAME = "snapshot-mcp"
ENDPOINT_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)


@dataclass(frozen=True)
class _Instruments:
    tracer: Tracer
    tool_calls: Counter
    api_requests: Counter
    confirmations: Counter
    rate_limit_wait: Histogram
    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None


_on: _Instruments | None = None


def wanted(environ: Mapping[str, str]) -> bool:
    """True when the environment names an OTLP endpoint and does not disable the SDK."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def enabled() -> bool:
    return _on is not None


def setup(environ: Mapping[str, str]) -> bool:
    """Export traces and metrics as the `OTEL_*` variables say; False (and nothing imported) when they do not."""
    if not wanted(environ):
        return False
    try:
        from .otel_export import providers
    except ImportError:
        logger.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry's SDK is not installed: nothing is exported; "
            "install it with: pip install 'snapshot-mcp[otel]'"
        )
        return False
    tracer_provider, meter_provider = providers(environ)
    install(tracer_provider, meter_provider, make_global=True)
    return True


def install(
    tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None, *, make_global: bool = False
) -> None:
    """Record through these providers from now on (`make_global`: the `mcp` SDK's spans too)."""
    global _on
    from opentelemetry import metrics, trace

    if make_global and tracer_provider is not None:
        trace.set_tracer_provider(tracer_provider)
    if make_global and meter_provider is not None:
        metrics.set_meter_provider(meter_provider)
    tracer = (tracer_provider or trace.NoOpTracerProvider()).get_tracer(SCOPE_NAME)
    meter = (meter_provider or metrics.NoOpMeterProvider()).get_meter(SCOPE_NAME)
    _on = _Instruments(
        tracer=tracer,
        tool_calls=meter.create_counter("snapshot_mcp.tool.calls", "{call}", "MCP tool calls by tool and outcome"),
        api_requests=meter.create_counter("snapshot_mcp.api.requests", "{request}", "API requests by status"),
        confirmations=meter.create_counter(
            "snapshot_mcp.confirmations", "{confirmation}", "delete confirmations by channel and outcome"
        ),
        rate_limit_wait=meter.create_histogram(
            "snapshot_mcp.rate_limit.wait", "s", "time API requests waited for the rate limit"
        ),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )


def uninstall() -> None:
    """Stop recording (tests)."""
    global _on
    _on = None


def flush() -> None:
    """Export what is buffered now (the server is stopping; a signal may end it before `atexit` runs)."""
    if _on is None:
        return
    for provider in (_on.tracer_provider, _on.meter_provider):
        force_flush = getattr(provider, "force_flush", None)
        if force_flush is not None:
            force_flush()


# -- hooks ------------------------------------------------------------------------------------

_ID_AFTER = {"snapshots": "{snapshot_id}", "instances": "{instance_id}"}
_WORDS = frozenset({"snapshots", "instances", "clone"})


def url_template(path: str) -> str:
    """The API path with its ids replaced by names (``/snapshots/{snapshot_id}/clone``)."""
    segments = path.split("?")[0].split("/")
    shown = []
    for index, segment in enumerate(segments):
        before = segments[index - 1] if index else ""
        shown.append(_ID_AFTER[before] if before in _ID_AFTER and segment and segment not in _WORDS else segment)
    return "/".join(shown)


class ApiAttempt:
    """What one API request attempt's span and counter learn as it goes."""

    def __init__(self, span: Span | None) -> None:
        self.span = span
        self.status: int | None = None
        self.error: str | None = None

    def answered(self, status: int) -> None:
        self.status = status

    def failed(self, error: str) -> None:
        self.error = error


class _Unrecorded(ApiAttempt):
    """An attempt while telemetry is off: nothing is learnt, so one instance serves every attempt."""

    def answered(self, status: int) -> None:
        pass

    def failed(self, error: str) -> None:
        pass


_UNRECORDED = nullcontext(_Unrecorded(None))


def api_attempt(method: str, path: str, host: str, resend_count: int) -> AbstractContextManager[ApiAttempt]:
    """A CLIENT span (and a count) for one attempt of an API request to `path`; while off, nothing at all."""
    on = _on
    if on is None:
        return _UNRECORDED
    return _recorded(on, method, url_template(path), host, resend_count)


@contextmanager
def _recorded(on: _Instruments, method: str, template: str, host: str, resend_count: int) -> Iterator[ApiAttempt]:
    from opentelemetry.trace import SpanKind, StatusCode

    attributes: dict[str, Any] = {"http.request.method": method, "url.template": template, "server.address": host}
    if resend_count:
        attributes["http.request.resend_count"] = resend_count
    with on.tracer.start_as_current_span(f"{method} {template}", kind=SpanKind.CLIENT, attributes=attributes) as span:
        attempt = ApiAttempt(span)
        try:
            yield attempt
        finally:
            counted: dict[str, Any] = {"http.request.method": method}
            if attempt.status is not None:
                span.set_attribute("http.response.status_code", attempt.status)
                counted["http.response.status_code"] = attempt.status
            error = attempt.error or (str(attempt.status) if attempt.status and attempt.status >= 400 else None)
            if error is not None:
                span.set_attribute("error.type", error)
                span.set_status(StatusCode.ERROR)
                counted["error.type"] = error
            on.api_requests.add(1, counted)


def rate_limit_wait(seconds: float) -> None:
    if _on is not None:
        _on.rate_limit_wait.record(seconds)


class Confirmation:
    """The outcome a confirmation span ends with."""

    def __init__(self) -> None:
        self.outcome = "unknown"


@contextmanager
def confirmation(channel: str) -> Iterator[Confirmation]:
    """A span for asking a person (or looking up their answer) through `channel`, and a count of its outcome."""
    verdict = Confirmation()
    on = _on
    if on is None:
        yield verdict
        return
    attributes = {"snapshot_mcp.confirm.channel": channel}
    with on.tracer.start_as_current_span(f"confirm {channel}", attributes=attributes) as span:
        try:
            yield verdict
        finally:
            span.set_attribute("snapshot_mcp.confirm.outcome", verdict.outcome)
            on.confirmations.add(1, {**attributes, "snapshot_mcp.confirm.outcome": verdict.outcome})


def tool_call(tool: str, outcome: str) -> None:
    """Count one tools/call of `tool` that ended with `outcome` (ok, error, input_required, exception)."""
    if _on is not None:
        _on.tool_calls.add(1, {"gen_ai.tool.name": tool[:64], "snapshot_mcp.outcome": outcome})


# -- HTTP: the caller's traceparent -------------------------------------------------------------

_TRACE_HEADERS = (b"traceparent", b"tracestate")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def asgi(app: ASGIApp) -> ASGIApp:
    """`app`, continuing the trace of a request's W3C `traceparent` header (as is, when telemetry is off)."""
    if _on is None:
        return app

    async def traced(scope: Scope, receive: Receive, send: Send) -> None:
        carrier = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope.get("headers", ())
            if key in _TRACE_HEADERS
        }
        if scope["type"] != "http" or not _TRACEPARENT.match(carrier.get("traceparent", "").strip()):
            await app(scope, receive, send)
            return
        from opentelemetry import context, propagate

        token = context.attach(propagate.extract(carrier))
        try:
            await app(scope, receive, send)
        finally:
            context.detach(token)

    return traced
