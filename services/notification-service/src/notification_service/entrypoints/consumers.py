"""notification-service's Kafka consumers: thin, each parses one event and calls its use cases.
(The projections of booking-service's accounts, customers and bookings are registered by the
runtime.)"""

from __future__ import annotations

from bookpay_shared.events import BookingCharged, PaymentLinkCreated, PaymentSucceeded
from bookpay_shared.runtime import ServiceRuntime

from notification_service.usecases import admin_emails, link_emails, receipts
from notification_service.usecases.deps import Deps


def register(runtime: ServiceRuntime, deps: Deps) -> None:
    consume = runtime.consumers.subscribe
    consume(PaymentLinkCreated, lambda e: link_emails.email_payment_link(deps, e))
    consume(PaymentSucceeded, lambda e: payment_succeeded(deps, e))
    consume(BookingCharged, lambda e: admin_emails.record_booking_charged(deps, e))


async def payment_succeeded(deps: Deps, event: PaymentSucceeded) -> None:
    """The customer's receipt first (kept in its own transaction, it never waits), then the
    administrators' email of a link payment (which may wait for the account): a retry of the
    second finds the first done and does not repeat it."""
    await receipts.record_paid_charge(deps, event)
    await admin_emails.record_link_payment(deps, event)
