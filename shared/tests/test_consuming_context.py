"""A consumed record's handler runs in the record's trace, and every line it (or the consumer,
retrying or dead-lettering) logs names the record and its event."""

from __future__ import annotations

import io
import logging
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from aiokafka import ConsumerRecord
from bookpay_shared import tracing
from bookpay_shared.consuming import (
    DeadLetters,
    RetryPolicy,
    UnprocessableEvent,
    handle_record,
)
from bookpay_shared.events import NotificationFailed
from bookpay_shared.kafka import OutgoingMessage
from bookpay_shared.logs import TextFormatter
from bookpay_shared.metrics import Metrics

tracing.configure("test", environ={})

TRACE_ID = secrets.token_hex(16)
FAST = RetryPolicy(max_attempts_for_errors=2, base_delay=0.0)

METRICS = Metrics("test").consumer("notification-failed", "test.notification-failed")


class KeptMessages:
    """A producer that keeps what it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    async def send(self, message: OutgoingMessage) -> None:
        self.sent.append(message)


def event() -> NotificationFailed:
    return NotificationFailed(
        correlation_id=uuid.uuid4(),
        notification_id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        kind="payment_link",
        recipient="someone@example.com",
        reason="550 no such user",
    )


def record(body: bytes, headers: list[tuple[str, bytes]]) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="notification-failed",
        partition=2,
        offset=41,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=body,
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=len(body),
        headers=headers,
    )


@contextmanager
def lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(TextFormatter("test-service"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield out
    finally:
        root.removeHandler(handler)


def traced_headers(e: NotificationFailed) -> list[tuple[str, bytes]]:
    return [
        ("event_type", e.event_type.encode()),
        ("event_id", str(e.event_id).encode()),
        ("correlation_id", str(e.correlation_id).encode()),
        ("traceparent", f"00-{TRACE_ID}-{secrets.token_hex(8)}-01".encode()),
    ]


async def test_the_handler_runs_in_the_records_trace_and_its_lines_name_the_event() -> None:
    e = event()
    seen: list[tuple[str, str] | None] = []

    async def handler(received: NotificationFailed) -> None:
        seen.append(tracing.current_ids())
        seen.append(None if tracing.current_carrier() else ("no", "carrier"))
        logging.getLogger("test.handler").warning("handling %s", received.notification_id)

    dead = DeadLetters(KeptMessages(), consumer="test.notification-failed", metrics=METRICS)  # type: ignore[arg-type]
    with lines() as out:
        await handle_record(
            record(e.model_dump_json().encode(), traced_headers(e)),
            NotificationFailed,
            handler,
            dead,
            FAST,
        )
    ids = seen[0]
    assert ids is not None and ids[0] == TRACE_ID and seen[1] is None
    [line] = [x for x in out.getvalue().splitlines() if "handling" in x]
    assert line.endswith(
        f"handling {e.notification_id} [notification-failed[2]@41 NotificationFailed "
        f"event={e.event_id} correlation={e.correlation_id}] trace={TRACE_ID}"
    )


async def test_dead_lettering_names_the_event_and_keeps_the_trace_headers() -> None:
    e = event()

    async def refuse(_: NotificationFailed) -> None:
        raise UnprocessableEvent("never")

    producer = KeptMessages()
    dead = DeadLetters(producer, consumer="test.notification-failed", metrics=METRICS)  # type: ignore[arg-type]
    headers = traced_headers(e)
    with lines() as out:
        await handle_record(
            record(e.model_dump_json().encode(), headers), NotificationFailed, refuse, dead, FAST
        )
    [line] = [x for x in out.getvalue().splitlines() if "dead-lettering" in x]
    assert f"event={e.event_id}" in line and f"trace={TRACE_ID}" in line
    [message] = producer.sent
    assert message.headers["traceparent"] == headers[-1][1].decode()


async def test_an_unparseable_record_is_named_by_its_headers() -> None:
    e = event()
    dead = DeadLetters(KeptMessages(), consumer="test.notification-failed", metrics=METRICS)  # type: ignore[arg-type]
    with lines() as out:
        await handle_record(
            record(b"{not json", traced_headers(e)), NotificationFailed, _never, dead, FAST
        )
    [line] = [x for x in out.getvalue().splitlines() if "dead-lettering" in x]
    assert f"[notification-failed[2]@41 NotificationFailed event={e.event_id}" in line


async def test_a_transient_failure_line_names_the_event() -> None:
    e = event()
    calls = 0

    async def flaky(_: NotificationFailed) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("database unreachable")

    dead = DeadLetters(KeptMessages(), consumer="test.notification-failed", metrics=METRICS)  # type: ignore[arg-type]
    headers = [h for h in traced_headers(e) if h[0] == "traceparent"]  # no event headers
    with lines() as out:
        await handle_record(
            record(e.model_dump_json().encode(), headers), NotificationFailed, flaky, dead, FAST
        )
    [line] = [x for x in out.getvalue().splitlines() if "transient failure" in x]
    assert f"NotificationFailed event={e.event_id} correlation={e.correlation_id}]" in line


async def _never(_: NotificationFailed) -> None:
    raise AssertionError("not called")
