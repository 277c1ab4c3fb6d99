"""notification-service's Kafka consumers: thin, each parses one event and calls one handler.
(The projections of booking-service's accounts, customers and bookings are registered by the
runtime.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from bookpay_shared.consuming import subscribe
from bookpay_shared.events import BookingCharged, Event, PaymentLinkCreated, PaymentSucceeded
from bookpay_shared.runtime import ServiceRuntime

from notification_service import admin_emails, handlers

E = TypeVar("E", bound=Event)


def register(runtime: ServiceRuntime, deps: handlers.Deps) -> None:
    _subscribe(runtime, PaymentLinkCreated, lambda e: handlers.email_payment_link(deps, e))
    _subscribe(runtime, PaymentSucceeded, lambda e: admin_emails.record_link_payment(deps, e))
    _subscribe(runtime, BookingCharged, lambda e: admin_emails.record_booking_charged(deps, e))


def _subscribe(
    runtime: ServiceRuntime, model: type[E], handler: Callable[[E], Awaitable[None]]
) -> None:
    subscribe(
        runtime.broker,
        topic=model.TOPIC,
        service=handlers.SERVICE,
        model=model,
        handler=handler,
        producer=runtime.producer,
    )
