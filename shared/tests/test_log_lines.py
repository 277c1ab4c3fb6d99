"""What a log line carries: the handled event, the trace id, JSON fields, nothing secret."""

from __future__ import annotations

import io
import json
import logging
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from bookpay_shared import tracing
from bookpay_shared.logs import EventContext, JsonFormatter, TextFormatter, handling
from opentelemetry import propagate

tracing.configure("test", environ={})

TRACE_ID = secrets.token_hex(16)
EVENT = EventContext(
    topic="payment-succeeded",
    partition=3,
    offset=120,
    event_type="PaymentSucceeded",
    event_id=str(uuid.uuid4()),
    correlation_id=str(uuid.uuid4()),
)


@contextmanager
def captured(formatter: logging.Formatter) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test.{uuid.uuid4().hex}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, out


@contextmanager
def in_trace() -> Iterator[str]:
    parent = propagate.extract({"traceparent": f"00-{TRACE_ID}-{secrets.token_hex(8)}-01"})
    with tracing.tracer().start_as_current_span("work", context=parent):
        ids = tracing.current_ids()
        assert ids is not None
        yield ids[1]


def test_a_text_line_names_the_handled_event_and_the_trace() -> None:
    with captured(TextFormatter("booking-service")) as (log, out), handling(EVENT), in_trace():
        log.info("charge %s applied", "c-1")
    line = out.getvalue().strip()
    assert " INFO booking-service test." in line
    assert line.endswith(
        f"charge c-1 applied [payment-succeeded[3]@120 PaymentSucceeded event={EVENT.event_id} "
        f"correlation={EVENT.correlation_id}] trace={TRACE_ID}"
    )


def test_a_text_line_outside_any_event_or_span_is_the_message_alone() -> None:
    with captured(TextFormatter("booking-service")) as (log, out):
        log.warning("plain")
    assert out.getvalue().strip().endswith("plain")
    assert "trace=" not in out.getvalue() and "[" not in out.getvalue()


def test_a_traceback_follows_the_first_line_with_its_context() -> None:
    with captured(TextFormatter("charge-service")) as (log, out), handling(EVENT):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("dead-lettering")
    first, *rest = out.getvalue().splitlines()
    assert first.endswith(f"dead-lettering {EVENT.text()}")
    assert rest[-1] == "RuntimeError: boom"


def test_a_json_line_has_every_field() -> None:
    with (
        captured(JsonFormatter("charge-service")) as (log, out),
        handling(EVENT),
        in_trace() as span_id,
    ):
        try:
            raise ValueError("bad")
        except ValueError:
            log.error("failed %d times", 5, exc_info=True, extra={"stripe_code": "x"})
    [line] = out.getvalue().splitlines()
    fields = json.loads(line)
    assert fields["level"] == "ERROR" and fields["service"] == "charge-service"
    assert fields["logger"].startswith("test.") and fields["message"] == "failed 5 times"
    assert fields["time"].endswith("+00:00") and "T" in fields["time"]
    assert (fields["trace_id"], fields["span_id"]) == (TRACE_ID, span_id)
    assert (fields["topic"], fields["partition"], fields["offset"]) == ("payment-succeeded", 3, 120)
    assert (fields["event_id"], fields["event_type"], fields["correlation_id"]) == (
        EVENT.event_id,
        "PaymentSucceeded",
        EVENT.correlation_id,
    )
    assert fields["stripe_code"] == "x"
    assert "ValueError: bad" in fields["exception"]


def test_a_json_line_is_redacted_and_outside_a_span_has_no_trace() -> None:
    token = "Qm9vS2luZ1Bhe-_0123456789abcdefghij"
    with captured(JsonFormatter("link-service")) as (log, out):
        log.info("GET /pay/%s with pi_3Abc_secret_XyZ123", token)
    fields = json.loads(out.getvalue())
    assert token not in out.getvalue() and "XyZ123" not in out.getvalue()
    assert fields["message"] == "GET /pay/[redacted] with pi_3Abc_secret_[redacted]"
    assert "trace_id" not in fields and "topic" not in fields
