"""Kafka records and contract events built by hand, for the tests of decoding, tail and trace."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import ConsumerRecord
from bookpay_shared.events import (
    BookingCharged,
    BookingStatus,
    ChargeMethod,
    ChargeRequested,
    Event,
    PaymentFailed,
    PaymentSucceeded,
)

T0 = datetime(2027, 5, 1, 9, 30, tzinfo=UTC)
CHARGE = uuid.UUID("c0000000-0000-4000-8000-000000000001")
ACCOUNT = uuid.UUID("a0000000-0000-4000-8000-000000000001")
CUSTOMER = uuid.UUID("d0000000-0000-4000-8000-000000000001")
BOOKINGS = [uuid.UUID("b0000000-0000-4000-8000-000000000001"), uuid.UUID(int=7)]


def record(
    topic: str,
    value: bytes | None,
    *,
    offset: int = 0,
    partition: int = 0,
    at: datetime = T0,
    key: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> ConsumerRecord[bytes, bytes]:
    size = len(value or b"")
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=int(at.timestamp() * 1000),
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=size,
        headers=[(k, v.encode()) for k, v in (headers or {}).items()],
    )


def of(
    event: Event, *, offset: int = 0, at: datetime | None = None
) -> ConsumerRecord[bytes, bytes]:
    """The record the outbox relay would write for the event."""
    headers = {
        "event_type": event.event_type,
        "event_id": str(event.event_id),
        "correlation_id": str(event.correlation_id),
    }
    return record(
        event.TOPIC,
        event.to_json(),
        offset=offset,
        at=at or event.occurred_at,
        key=event.key().encode(),
        headers=headers,
    )


def ids(charge: uuid.UUID = CHARGE, account: uuid.UUID = ACCOUNT) -> dict[str, Any]:
    return {
        "correlation_id": charge,
        "charge_id": charge,
        "account_id": account,
        "customer_id": CUSTOMER,
    }


def requested(at: datetime = T0, **changes: Any) -> ChargeRequested:
    fields: dict[str, Any] = {
        **ids(),
        "occurred_at": at,
        "booking_ids": BOOKINGS,
        "amount": 17_500,
        "currency": "usd",
        "method": ChargeMethod.CARD_ON_FILE,
        "requested_by": "staff:ada",
    }
    return ChargeRequested(**{**fields, **changes})


def succeeded(at: datetime = T0 + timedelta(seconds=1)) -> PaymentSucceeded:
    return PaymentSucceeded(
        **ids(),
        occurred_at=at,
        booking_ids=BOOKINGS,
        amount=17_500,
        currency="usd",
        method=ChargeMethod.CARD_ON_FILE,
        stripe_payment_intent_id="pi_123",
        card_brand="visa",
        card_last4="4242",
        paid_at=at,
    )


def failed(at: datetime = T0 + timedelta(seconds=1)) -> PaymentFailed:
    return PaymentFailed(
        **ids(),
        occurred_at=at,
        booking_ids=BOOKINGS,
        amount=17_500,
        currency="usd",
        method=ChargeMethod.CARD_ON_FILE,
        reason="card_declined",
        message="Your card was declined.",
        decline_code="generic_decline",
        retryable=False,
    )


def booking_charged(at: datetime = T0 + timedelta(seconds=2)) -> BookingCharged:
    return BookingCharged(
        correlation_id=CHARGE,
        occurred_at=at,
        booking_id=BOOKINGS[0],
        account_id=ACCOUNT,
        customer_id=CUSTOMER,
        charge_id=CHARGE,
        amount_applied=10_000,
        currency="usd",
        booking_status=BookingStatus.CHARGED_IN_FULL,
        amount_paid_total=10_000,
        balance_due=0,
        charged_at=at,
    )
