"""W3C trace context through every hop: HTTP request, outbox row, Kafka record, handler, Stripe,
SMTP.

A trace starts (or continues, from the request's `traceparent`/`tracestate` headers) at an HTTP
request (`access.AccessLog`). Events enqueued while it is active keep it with their outbox row
(`current_carrier`), the relay sends it as the record's `traceparent`/`tracestate` headers, and
the consumer runs the handler in a span that is the record's child (`consumer_span`), so what
the handler enqueues carries the same trace id onward. Stripe calls and SMTP sends run in client
spans (`client_span`). Propagation goes through `opentelemetry.propagate` (W3C trace context
and baggage by default, or what `OTEL_PROPAGATORS` names).

Spans are exported only when an OTLP endpoint is configured (the standard
`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): then an SDK tracer
provider with a batching OTLP/HTTP exporter, its resource named by `OTEL_SERVICE_NAME` (the
service's name by default). Otherwise `PropagatingTracerProvider`: spans that record nothing but
still get their own span id under their parent's trace id (a new trace id at a root), so trace
ids flow and reach the logs at a few microseconds per span and nothing is kept or sent.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
    Tracer,
    TracerProvider,
)
from opentelemetry.util import types

log = logging.getLogger(__name__)

_TRACER_NAME = "bookpay"
_EXPORT_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

RecordHeaders = Sequence[tuple[str, bytes]]
"""A Kafka record's headers, as aiokafka gives them."""


class _KafkaHeaders(Getter[RecordHeaders]):
    """Reads propagation fields from a Kafka record's headers (bytes values, names as sent)."""

    def get(self, carrier: RecordHeaders, key: str) -> list[str] | None:
        values = [value.decode("latin-1") for name, value in carrier if name == key]
        return values or None

    def keys(self, carrier: RecordHeaders) -> list[str]:
        return [name for name, _ in carrier]


KAFKA_HEADERS = _KafkaHeaders()


def tracer() -> Tracer:
    """The tracer of the process's provider (whichever `configure` chose)."""
    return trace.get_tracer(_TRACER_NAME)


def current_carrier() -> dict[str, str]:
    """The active trace context as propagation headers (`traceparent`, `tracestate`...);
    empty when no span is active. What the outbox keeps with a row."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract_from_record(headers: RecordHeaders) -> otel_context.Context | None:
    """The context a Kafka record carries, or None when it carries none (no parsing then)."""
    if not any(name == "traceparent" for name, _ in headers):
        return None
    return propagate.extract(headers, getter=KAFKA_HEADERS)


def extract_from_http(headers: Mapping[str, str]) -> otel_context.Context | None:
    """The context HTTP-style headers carry (`traceparent`, lower-case names), or None."""
    if "traceparent" not in headers:
        return None
    return propagate.extract(headers)


@contextmanager
def consumer_span(
    topic: str, partition: int, offset: int, headers: RecordHeaders
) -> Iterator[Span]:
    """Handle a Kafka record in a CONSUMER span, the child of the context its headers carry
    (a new trace when they carry none)."""
    parent = extract_from_record(headers)
    span = tracer().start_span(f"{topic} process", context=parent, kind=SpanKind.CONSUMER)
    if span.is_recording():
        span.set_attributes(
            {
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": topic,
                "messaging.destination.partition.id": str(partition),
                "messaging.kafka.offset": offset,
            }
        )
    with trace.use_span(span, end_on_exit=True):
        yield span


@contextmanager
def continued(name: str, carrier: Mapping[str, str]) -> Iterator[Span]:
    """A span continuing the trace of a stored carrier (`current_carrier` kept with a row and
    acted on later, away from the request or event that wrote it); a new trace when empty."""
    parent = extract_from_http(carrier) if carrier else None
    with tracer().start_as_current_span(name, context=parent) as span:
        yield span


@contextmanager
def client_span(name: str, attributes: Mapping[str, types.AttributeValue]) -> Iterator[Span]:
    """A CLIENT span around a call to another system (Stripe, an SMTP server). An exception
    is recorded on the span and raised again."""
    span = tracer().start_span(name, kind=SpanKind.CLIENT)
    if span.is_recording():
        span.set_attributes(attributes)
    with trace.use_span(span, end_on_exit=True):
        yield span


def ids(span_context: SpanContext) -> tuple[str, str] | None:
    """(trace id, span id) in hex, as `traceparent` writes them; None when invalid."""
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


def current_ids() -> tuple[str, str] | None:
    """The active span's (trace id, span id), or None outside any span."""
    return ids(trace.get_current_span().get_span_context())


# --- without an exporter ---------------------------------------------------------------------


class PropagatingTracer(trace.NoOpTracer):
    """Spans that record nothing, each with a span id of its own under its parent's trace id and
    flags (a new random trace id, not sampled, at a root): the trace id flows to every hop and
    every log line for the price of a few random numbers. (The API's no-op tracer, whose
    `start_as_current_span` this inherits, would hand on the parent's span itself, and no trace
    at a root.)"""

    def start_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        parent = trace.get_current_span(context).get_span_context()
        span_id = random.getrandbits(64) or 1
        if parent.is_valid:
            span_context = SpanContext(
                parent.trace_id, span_id, False, parent.trace_flags, parent.trace_state
            )
        else:
            trace_id = random.getrandbits(128) or 1
            span_context = SpanContext(trace_id, span_id, False, TraceFlags(TraceFlags.DEFAULT))
        return NonRecordingSpan(span_context)


class PropagatingTracerProvider(TracerProvider):
    """The provider without an exporter: every tracer is a `PropagatingTracer`."""

    _tracer = PropagatingTracer()

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: types.Attributes = None,
    ) -> Tracer:
        return self._tracer


class Tracing:
    """The process's tracer provider, chosen once by `configure`; `shutdown` flushes spans."""

    def __init__(self, provider: TracerProvider, exporting: bool) -> None:
        self.provider = provider
        self.exporting = exporting

    def shutdown(self) -> None:
        shutdown = getattr(self.provider, "shutdown", None)
        if callable(shutdown):
            shutdown()


_configured: Tracing | None = None


def configure(service: str, environ: Mapping[str, str] = os.environ) -> Tracing:
    """Choose the process's tracer provider once: exporting over OTLP/HTTP when an endpoint is
    configured (and `OTEL_SDK_DISABLED` is not true), else propagating only."""
    global _configured
    if _configured is not None:
        return _configured
    endpoint = next((environ[name] for name in _EXPORT_ENDPOINTS if environ.get(name)), None)
    disabled = environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    if endpoint and not disabled:
        provider: TracerProvider = _exporting_provider(environ.get("OTEL_SERVICE_NAME") or service)
        log.info("exporting traces over OTLP/HTTP to %s", endpoint)
    else:
        provider = PropagatingTracerProvider()
    trace.set_tracer_provider(provider)
    _configured = Tracing(provider, exporting=bool(endpoint and not disabled))
    return _configured


def _exporting_provider(service_name: str) -> TracerProvider:
    # Imported here: a process that exports nothing never loads the SDK or the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = SdkTracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider
