"""Trace context across hops without a broker: what the outbox keeps, what a record carries,
and the consumer span that continues it."""

from __future__ import annotations

import secrets

from bookpay_shared import tracing
from opentelemetry import propagate, trace

tracing.configure("test", environ={})  # no exporter: spans propagate, record nothing

TRACE_ID = secrets.token_hex(16)
PARENT_SPAN = secrets.token_hex(8)
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN}-01"


def as_kafka_headers(carrier: dict[str, str]) -> list[tuple[str, bytes]]:
    """As the relay sends them (`Producer.send_batch`) and aiokafka hands them back."""
    return [(name, value.encode()) for name, value in carrier.items()]


def test_no_carrier_outside_a_span() -> None:
    assert tracing.current_carrier() == {}
    assert tracing.current_ids() is None


def test_a_request_context_survives_the_outbox_and_kafka_into_the_consumer_span() -> None:
    incoming = propagate.extract({"traceparent": TRACEPARENT, "tracestate": "vendor=1"})
    with tracing.tracer().start_as_current_span("request", context=incoming) as request_span:
        stored = tracing.current_carrier()  # what enqueue keeps with the row
    request_ids = tracing.ids(request_span.get_span_context())
    assert request_ids is not None and request_ids[0] == TRACE_ID
    assert request_ids[1] != PARENT_SPAN  # the request got a span of its own
    assert stored["traceparent"] == f"00-{TRACE_ID}-{request_ids[1]}-01"
    assert stored["tracestate"] == "vendor=1"

    headers = [("event_type", b"PaymentSucceeded"), *as_kafka_headers(stored)]
    with tracing.consumer_span("payment-succeeded", 3, 120, headers):
        handler_ids = tracing.current_ids()
        onward = tracing.current_carrier()  # what the handler's own events carry
    assert handler_ids is not None
    assert handler_ids[0] == TRACE_ID and handler_ids[1] not in (request_ids[1], PARENT_SPAN)
    assert onward["traceparent"] == f"00-{TRACE_ID}-{handler_ids[1]}-01"
    assert trace.get_current_span().get_span_context().is_valid is False  # ended, detached


def test_a_record_without_trace_context_starts_a_trace() -> None:
    with tracing.consumer_span("charge-requested", 0, 7, [("event_id", b"x")]):
        first = tracing.current_ids()
    with tracing.consumer_span("charge-requested", 0, 8, []):
        second = tracing.current_ids()
    assert first is not None and second is not None
    assert first[0] != second[0]


def test_a_malformed_traceparent_starts_a_trace_instead() -> None:
    headers = [("traceparent", b"00-not-a-trace-01"), ("traceparent", b"\xff\xfe")]
    with tracing.consumer_span("charge-requested", 0, 9, headers):
        ids = tracing.current_ids()
    assert ids is not None and ids[0] != TRACE_ID


def test_client_spans_are_children_of_the_current_span() -> None:
    parent = propagate.extract({"traceparent": TRACEPARENT})
    with (
        tracing.tracer().start_as_current_span("handler", context=parent),
        tracing.client_span("stripe create payment intent", {"stripe.operation": "x"}),
    ):
        inner = tracing.current_ids()
    assert inner is not None and inner[0] == TRACE_ID
