"""Optional OpenTelemetry tracing: from the HTTP request, through the queue, into the worker.

Off unless ``PDFQ_OTEL_ENDPOINT`` is set (an OTLP/HTTP collector, e.g.
``http://otel-collector:4318``; needs the ``otel`` extra). Then every API request is a server
span, and the request that creates a job stores its trace context (W3C ``traceparent``) on the
job row: the store carries it across the queue, whatever the queue is, so the worker's
``pdfq.job`` span (and each chunk's ``pdfq.chunk``) joins the trace of the upload that asked
for it. Worker processes flush their spans when a job ends (they may be killed at any time).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from pdfq.config import Settings

log = structlog.get_logger(__name__)

_tracer: Any = None
_provider: Any = None
FLUSH_MILLISECONDS = 2000


def setup(settings: Settings, service: str) -> bool:
    """Start tracing in this process when an endpoint is set; ``True`` if it is on."""
    global _tracer, _provider
    if not settings.otel_endpoint:
        return False
    if _tracer is not None:
        return True
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.error(
            "PDFQ_OTEL_ENDPOINT is set but OpenTelemetry is not installed: pip install pdfq[otel]"
        )
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    endpoint = settings.otel_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    _provider = provider
    _tracer = provider.get_tracer("pdfq")
    return True


@contextlib.contextmanager
def server_span(method: str, path: str) -> Iterator[Any]:
    """A span for one HTTP request (``None`` when tracing is off); rename it with
    :func:`name_span` once the route is known."""
    if _tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    with _tracer.start_as_current_span(
        f"{method} {path}", kind=SpanKind.SERVER, attributes={"http.request.method": method}
    ) as span:
        yield span


def name_span(span: Any, method: str, route: str, status: int) -> None:
    if span is None:
        return
    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR))


def carrier() -> dict[str, str] | None:
    """The current trace context, to store with a job (``None`` when tracing is off)."""
    if _tracer is None:
        return None
    from opentelemetry.propagate import inject

    found: dict[str, str] = {}
    inject(found)
    return found or None


@contextlib.contextmanager
def work_span(
    name: str, context: dict[str, str] | None, attributes: dict[str, Any]
) -> Iterator[None]:
    """A span for a job or chunk, a child of the request that created the job; flushed
    when it ends."""
    if _tracer is None:
        yield
        return
    from opentelemetry.propagate import extract
    from opentelemetry.trace import SpanKind

    parent = extract(context or {})
    clean = {k: v for k, v in attributes.items() if v is not None}
    try:
        with _tracer.start_as_current_span(
            name, context=parent, kind=SpanKind.CONSUMER, attributes=clean
        ):
            yield
    finally:
        flush()


def flush() -> None:
    if _provider is not None:
        _provider.force_flush(FLUSH_MILLISECONDS)
