"""notification-service's Kafka consumers: thin, each parses one event and calls one handler.
(The projections of booking-service's accounts, customers and bookings are registered by the
runtime.)"""

from __future__ import annotations

from bookpay_shared.events import BookingCharged, PaymentLinkCreated, PaymentSucceeded
from bookpay_shared.runtime import ServiceRuntime

from notification_service import admin_emails, handlers


def register(runtime: ServiceRuntime, deps: handlers.Deps) -> None:
    consume = runtime.consumers.subscribe
    consume(PaymentLinkCreated, lambda e: handlers.email_payment_link(deps, e))
    consume(PaymentSucceeded, lambda e: admin_emails.record_link_payment(deps, e))
    consume(BookingCharged, lambda e: admin_emails.record_booking_charged(deps, e))
