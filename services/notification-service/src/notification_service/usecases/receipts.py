"""The customer's receipt after a successful charge, whatever its method (card on file, new
card, payment link).

PaymentSucceeded says what was paid; the account (its business and whether it sends receipts),
the customer (the address) and the bookings (titles and dates) come from booking-service's state
events, which may arrive later. So the paid charge is first kept (`receipts`, one row per
charge, in the transaction that records the event), and its receipt is written as soon as the
account and customer are known: at once in the usual case, else by `flush_waiting_receipts`,
which tries the waiting ones again. A receipt is never dropped for lack of data: the charge
waits as long as it must. Bookings still unknown after `projection_wait` are shown by their id.

Exactly once: the receipt is written to `notifications` (dedupe key `receipt:<charge_id>`) in
the same transaction that marks the charge decided, under the per-charge lock; the delivery
loop sends it like every other email.
"""

from __future__ import annotations

import logging
import uuid

from bookpay_shared import inbox, projections
from bookpay_shared.db import Connection
from bookpay_shared.events import PaymentSucceeded

from notification_service.adapters import repository as repo
from notification_service.domain.notifications import (
    NewNotification,
    NotificationKind,
    PaidCharge,
    ReceiptDecision,
    Recipient,
    receipt_key,
)
from notification_service.emails import ReceiptBooking, ReceiptEmail, receipt_email
from notification_service.usecases.deps import SERVICE, Deps
from notification_service.usecases.link_emails import sender_of

log = logging.getLogger(__name__)

RECEIPTS_CONSUMER = f"{SERVICE}.payment-succeeded.receipts"
"""Its own name in `processed_events`: the administrators' email records the same events."""


def paid_charge(event: PaymentSucceeded) -> PaidCharge:
    return PaidCharge(
        charge_id=event.charge_id,
        account_id=event.account_id,
        customer_id=event.customer_id,
        booking_ids=tuple(event.booking_ids),
        amount=event.amount,
        currency=event.currency,
        method=event.method.value,
        stripe_payment_intent_id=event.stripe_payment_intent_id,
        card_brand=event.card_brand,
        card_last4=event.card_last4,
        paid_at=event.paid_at,
    )


async def record_paid_charge(deps: Deps, event: PaymentSucceeded) -> None:
    """Keep the charge for its receipt, and write the receipt if everything it needs is known.
    Never waits and never refuses: what is not known yet is tried again by the sweep."""
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await inbox.claim(conn, RECEIPTS_CONSUMER, event.event_id):
            return
        await repo.lock_charge(conn, event.charge_id)
        await repo.add_paid_charge(conn, paid_charge(event))
        await _write_receipt_when_known(conn, deps, event.charge_id)


async def flush_waiting_receipts(deps: Deps, limit: int = 100) -> int:
    """Try again the receipts waiting for their account, customer or bookings. Returns how
    many were decided (written, or not sent because the account turned receipts off)."""
    async with deps.pool.acquire() as conn:
        waiting = await repo.waiting_receipts(conn, limit=limit)
    decided = 0
    for charge_id in waiting:
        async with deps.pool.acquire() as conn, conn.transaction():
            await repo.lock_charge(conn, charge_id)
            decided += await _write_receipt_when_known(conn, deps, charge_id)
    if len(waiting) > decided:
        log.info("%d receipt(s) still wait for booking-service's state", len(waiting) - decided)
    return decided


async def _write_receipt_when_known(conn: Connection, deps: Deps, charge_id: uuid.UUID) -> bool:
    """Decide the charge's receipt, once, if its account and customer are known (and its
    bookings, or it waited `projection_wait` for them). Call under `repo.lock_charge`.
    True when this call decided it."""
    waiting = await repo.get_waiting_receipt(conn, charge_id)
    if waiting is None:
        return False
    charge = waiting.charge
    account = await projections.get_account(conn, charge.account_id)
    if account is None:
        return False
    if not account.send_receipts:
        await repo.decide_receipt(conn, charge_id, ReceiptDecision.TURNED_OFF)
        return True
    customer = await projections.get_customer(conn, charge.account_id, charge.customer_id)
    if customer is None:
        return False
    known = await projections.get_bookings(conn, charge.account_id, charge.booking_ids)
    waited_enough = waiting.waited_seconds >= deps.projection_wait.total_seconds()
    if len(known) < len(set(charge.booking_ids)) and not waited_enough:
        return False
    email = receipt_email(_receipt_data(charge, account, customer, known))
    notification = NewNotification(
        id=uuid.uuid4(),
        dedupe_key=receipt_key(charge_id),
        kind=NotificationKind.RECEIPT,
        account_id=charge.account_id,
        charge_id=charge_id,
        recipient=Recipient(customer.email, customer.name),
        email=email,
        customer_id=charge.customer_id,
        sender=sender_of(account),
    )
    await repo.add_notifications(conn, [notification])
    await repo.decide_receipt(conn, charge_id, ReceiptDecision.EMAILED)
    return True


def _receipt_data(
    charge: PaidCharge,
    account: projections.KnownAccount,
    customer: projections.KnownCustomer,
    known: list[projections.KnownBooking],
) -> ReceiptEmail:
    """The receipt's content: the bookings known in start order, then any not known, by id."""
    by_id = {b.booking_id for b in known}
    unknown = [i for i in dict.fromkeys(charge.booking_ids) if i not in by_id]
    bookings = [ReceiptBooking(b.title, b.starts_at) for b in known]
    bookings += [ReceiptBooking(f"Booking {i}", None) for i in unknown]
    return ReceiptEmail(
        merchant_name=account.name,
        customer_name=customer.name,
        bookings=tuple(bookings),
        amount=charge.amount,
        currency=charge.currency,
        card_brand=charge.card_brand,
        card_last4=charge.card_last4,
        paid_at=charge.paid_at,
        charge_id=charge.charge_id,
        stripe_payment_intent_id=charge.stripe_payment_intent_id,
        profile=account.business,
    )
