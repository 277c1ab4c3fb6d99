"""The administrators' email after booking(s) were paid through a payment link.

It needs two kinds of events, which arrive in any order: PaymentSucceeded (method
payment_link) says who paid what, and is when the account's setting and administrators are
read; BookingCharged, one per booking the payment was applied to, says which bookings are now
Charged in Full. Whichever event completes the picture writes the emails, once, under a
per-charge lock. A payment whose BookingCharged events do not all arrive within
`admin_email_settle` is emailed with what is known by `flush_waiting_link_payments`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace

from bookpay_shared import inbox, projections
from bookpay_shared.business import BusinessProfile
from bookpay_shared.db import Connection
from bookpay_shared.events import BookingCharged, ChargeMethod, PaymentSucceeded

from notification_service.adapters import repository as repo
from notification_service.domain.notifications import (
    BookingCharge,
    LinkPayment,
    NewNotification,
    NotificationKind,
    Recipient,
    Sender,
    admin_email_key,
    bookings_settled,
    charge_url,
    unique_recipients,
)
from notification_service.emails import AdminLinkPaidEmail, PaidBooking, admin_link_paid_email
from notification_service.usecases.deps import SERVICE, Deps, MissingEntity, or_wait

log = logging.getLogger(__name__)

PAYMENTS_CONSUMER = f"{SERVICE}.payment-succeeded"
BOOKINGS_CONSUMER = f"{SERVICE}.booking-charged"


async def record_link_payment(deps: Deps, event: PaymentSucceeded) -> None:
    """Remember a link payment with the account's administrators to notify as they are now
    (none when the account turned the email off); email them once its bookings are known."""
    if event.method is not ChargeMethod.PAYMENT_LINK:
        return
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await inbox.claim(conn, PAYMENTS_CONSUMER, event.event_id):
            return
        await repo.lock_charge(conn, event.charge_id)
        payment = await or_wait(deps, event, _link_payment(conn, event))
        await repo.add_link_payment(conn, payment)
        await _notify_admins_when_settled(conn, deps, event.charge_id)


async def _link_payment(conn: Connection, event: PaymentSucceeded) -> LinkPayment:
    account = await projections.get_account(conn, event.account_id)
    if account is None:
        raise MissingEntity(f"account {event.account_id} is not known")
    customer = await projections.get_customer(conn, event.account_id, event.customer_id)
    if customer is None:
        raise MissingEntity(f"customer {event.customer_id} is not known in this account")
    admins = account.admins if account.notify_admins_on_link_payment else ()
    return LinkPayment(
        charge_id=event.charge_id,
        account_id=event.account_id,
        merchant_name=account.name,
        customer_name=customer.name,
        customer_email=customer.email,
        booking_ids=tuple(event.booking_ids),
        amount=event.amount,
        currency=event.currency,
        stripe_payment_intent_id=event.stripe_payment_intent_id,
        paid_at=event.paid_at,
        admins=tuple(Recipient(str(a.email), a.name) for a in admins),
        customer_id=event.customer_id,
    )


async def record_booking_charged(deps: Deps, event: BookingCharged) -> None:
    """Remember a booking a link payment was applied to; email the administrators once every
    booking of the payment is known."""
    if event.method not in (None, ChargeMethod.PAYMENT_LINK):
        return
    charge = BookingCharge(
        charge_id=event.charge_id,
        booking_id=event.booking_id,
        booking_status=event.booking_status.value,
        amount_applied=event.amount_applied,
        balance_due=event.balance_due,
    )
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await inbox.claim(conn, BOOKINGS_CONSUMER, event.event_id):
            return
        await repo.lock_charge(conn, event.charge_id)
        await repo.add_booking_charge(
            conn, charge, account_id=event.account_id, currency=event.currency, at=event.charged_at
        )
        await _notify_admins_when_settled(conn, deps, event.charge_id)


async def flush_waiting_link_payments(deps: Deps, limit: int = 100) -> int:
    """Email the administrators of link payments still waiting for BookingCharged events after
    `admin_email_settle` (a payment left partly unapplied, booking-service far behind), with
    the bookings known so far. Returns how many payments were flushed."""
    settle = deps.admin_email_settle.total_seconds()
    async with deps.pool.acquire() as conn:
        waiting = await repo.waiting_link_payments(conn, older_than_seconds=settle, limit=limit)
    flushed = 0
    for charge_id in waiting:
        async with deps.pool.acquire() as conn, conn.transaction():
            await repo.lock_charge(conn, charge_id)
            if await _notify_admins_when_settled(conn, deps, charge_id, force=True):
                log.warning("charge %s: emailing administrators without every booking", charge_id)
                flushed += 1
    return flushed


async def _notify_admins_when_settled(
    conn: Connection, deps: Deps, charge_id: uuid.UUID, *, force: bool = False
) -> bool:
    """Write the administrators' emails of a link payment, once, when its bookings are known
    (or `force`). Call under `repo.lock_charge`. True when this call decided it."""
    payment = await repo.get_unnotified_link_payment(conn, charge_id)
    if payment is None:
        return False
    charges = await repo.booking_charges(conn, charge_id)
    if not (force or bookings_settled(payment, charges)):
        return False
    if payment.admins:
        account = await projections.get_account(conn, payment.account_id)
        profile = account.business if account else BusinessProfile()
        data = await _admin_email_data(conn, payment, charges, profile)
        url = charge_url(deps.charge_service_base_url, payment.account_id, charge_id)
        email = admin_link_paid_email(replace(data, charge_url=url))
        sender = Sender(profile.sender_name or payment.merchant_name, profile.reply_to)
        await repo.add_notifications(
            conn,
            [
                NewNotification(
                    id=uuid.uuid4(),
                    dedupe_key=admin_email_key(charge_id),
                    kind=NotificationKind.ADMIN_LINK_PAID,
                    account_id=payment.account_id,
                    charge_id=charge_id,
                    recipient=admin,
                    email=email,
                    customer_id=payment.customer_id,
                    sender=sender,
                )
                for admin in unique_recipients(list(payment.admins))
            ],
        )
    await repo.mark_link_payment_notified(conn, charge_id)
    return True


async def _admin_email_data(
    conn: Connection,
    payment: LinkPayment,
    charges: list[BookingCharge],
    profile: BusinessProfile,
) -> AdminLinkPaidEmail:
    applied = {c.booking_id: c for c in charges}
    known = await projections.get_bookings(conn, payment.account_id, list(applied))
    by_id = {b.booking_id: b for b in known}
    order = [b.booking_id for b in known] + [i for i in applied if i not in by_id]
    return AdminLinkPaidEmail(
        merchant_name=payment.merchant_name,
        customer_name=payment.customer_name,
        customer_email=payment.customer_email,
        amount=payment.amount,
        currency=payment.currency,
        stripe_payment_intent_id=payment.stripe_payment_intent_id,
        paid_at=payment.paid_at,
        bookings=tuple(_paid_booking(applied[i], by_id.get(i), payment.currency) for i in order),
        profile=profile,
    )


def _paid_booking(
    charge: BookingCharge, booking: projections.KnownBooking | None, currency: str
) -> PaidBooking:
    return PaidBooking(
        title=booking.title if booking else f"Booking {charge.booking_id}",
        starts_at=booking.starts_at if booking else None,
        status=charge.booking_status,
        amount_applied=charge.amount_applied,
        balance_due=charge.balance_due,
        currency=currency,
    )
