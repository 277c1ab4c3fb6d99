"""Applying a successful charge to its bookings (PaymentSucceeded): once per charge (the inbox),
in one transaction with the bookings' new states, BookingCharged and any over-collection."""

from __future__ import annotations

import logging

from bookpay_shared import inbox, outbox
from bookpay_shared.db import Connection, Pool
from bookpay_shared.events import (
    BookingCharged,
    PaymentOverCollected,
    PaymentSucceeded,
)

from booking_service.adapters import repository as repo
from booking_service.domain.model import (
    Booking,
    BookingPayment,
    allocate,
)
from booking_service.usecases.states import booking_state

log = logging.getLogger(__name__)

PAYMENTS_CONSUMER = "booking-service.payment-succeeded"  # the consumer group


async def apply_payment(pool: Pool, event: PaymentSucceeded) -> None:
    """Apply a successful charge to its bookings, once, and announce each booking charged.

    Every booking of the charge, one that got no share included, gets a new state listing the
    charge as settled; what could not be applied is announced as PaymentOverCollected."""
    async with pool.acquire() as conn, conn.transaction():
        if not await inbox.claim(conn, PAYMENTS_CONSUMER, event.event_id):
            return
        bookings = await repo.lock_bookings(
            conn, event.account_id, event.customer_id, event.booking_ids
        )
        allocation = allocate(event.amount, event.currency, bookings)
        if not await repo.record_received_payment(
            conn,
            charge_id=event.charge_id,
            account_id=event.account_id,
            customer_id=event.customer_id,
            amount=event.amount,
            currency=event.currency,
            unapplied_amount=allocation.unapplied,
        ):
            log.info(
                "charge %s was already applied; ignoring event %s", event.charge_id, event.event_id
            )
            return
        for booking, share in allocation.shares:
            await _settle(conn, event, booking, share)
        log.info(
            "charge %s: %d %s applied to its %d bookings",
            event.charge_id,
            event.amount - allocation.unapplied,
            event.currency,
            len(allocation.shares),
        )
        if allocation.unapplied:
            log.warning(
                "charge %s: %d %s could not be applied to its bookings",
                event.charge_id,
                allocation.unapplied,
                event.currency,
            )
            await outbox.enqueue(conn, over_collected(event, allocation.unapplied))


def over_collected(event: PaymentSucceeded, unapplied: int) -> PaymentOverCollected:
    return PaymentOverCollected(
        correlation_id=event.charge_id,
        charge_id=event.charge_id,
        account_id=event.account_id,
        customer_id=event.customer_id,
        booking_ids=event.booking_ids,
        amount=event.amount,
        currency=event.currency,
        unapplied_amount=unapplied,
        stripe_payment_intent_id=event.stripe_payment_intent_id,
    )


async def _settle(conn: Connection, event: PaymentSucceeded, booking: Booking, share: int) -> None:
    """Record the charge on one of its bookings (`booking` as it is after the payment) and
    publish the booking's new state; a share of it also as a payment and BookingCharged."""
    if share:
        await _apply_share(conn, event, booking, share)
    else:
        await repo.save_booking_version(conn, booking)
    await repo.record_settled_charge(conn, booking.id, event.charge_id)
    settled = await repo.settled_charge_ids(conn, booking.id)
    await outbox.enqueue(conn, booking_state(booking, settled, correlation_id=event.charge_id))


async def _apply_share(
    conn: Connection, event: PaymentSucceeded, booking: Booking, share: int
) -> None:
    payment = BookingPayment(
        booking_id=booking.id,
        charge_id=event.charge_id,
        amount_applied=share,
        currency=event.currency,
        method=event.method.value,
        stripe_payment_intent_id=event.stripe_payment_intent_id,
        applied_at=event.paid_at,
    )
    await repo.save_booking_payment(conn, booking, payment)
    charged = BookingCharged(
        correlation_id=event.charge_id,
        booking_id=booking.id,
        account_id=booking.account_id,
        customer_id=booking.customer_id,
        charge_id=event.charge_id,
        amount_applied=share,
        currency=booking.currency,
        booking_status=booking.status,  # type: ignore[arg-type]
        amount_paid_total=booking.amount_paid,
        balance_due=booking.balance_due,
        charged_at=event.paid_at,
        method=event.method,
    )
    await outbox.enqueue(conn, charged)
