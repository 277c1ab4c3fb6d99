"""booking-service use cases. Each runs in one transaction and writes the events that follow
from it to the outbox in that same transaction."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from bookpay_shared import inbox, outbox
from bookpay_shared.business import BusinessProfile
from bookpay_shared.db import Connection, Pool
from bookpay_shared.events import (
    AccountStateChanged,
    Administrator,
    BookingCharged,
    BookingStateChanged,
    CustomerStateChanged,
    PaymentOverCollected,
    PaymentSucceeded,
    utcnow,
)

from booking_service.adapters import repository as repo
from booking_service.domain.model import Account, Admin, Booking, BookingPayment, Customer, allocate

log = logging.getLogger(__name__)

PAYMENTS_CONSUMER = "booking-service.payment-succeeded"  # the consumer group


class UnknownEntity(LookupError):
    """An account, customer or booking that does not exist (for this account)."""


def account_state(account: Account) -> AccountStateChanged:
    return AccountStateChanged(
        correlation_id=account.id,
        account_id=account.id,
        version=account.version,
        name=account.name,
        admins=[Administrator(name=a.name, email=a.email) for a in account.admins],
        notify_admins_on_link_payment=account.notify_admins_on_link_payment,
        send_receipts=account.send_receipts,
        **asdict(account.business),
    )


def customer_state(customer: Customer) -> CustomerStateChanged:
    return CustomerStateChanged(
        correlation_id=customer.id,
        customer_id=customer.id,
        account_id=customer.account_id,
        version=customer.version,
        name=customer.name,
        email=customer.email,
    )


def booking_state(
    booking: Booking,
    settled_charge_ids: Sequence[uuid.UUID] = (),
    correlation_id: uuid.UUID | None = None,
) -> BookingStateChanged:
    return BookingStateChanged(
        correlation_id=correlation_id or booking.id,
        booking_id=booking.id,
        account_id=booking.account_id,
        customer_id=booking.customer_id,
        version=booking.version,
        title=booking.title,
        starts_at=booking.starts_at,
        amount=booking.amount,
        currency=booking.currency,
        amount_paid=booking.amount_paid,
        balance_due=booking.balance_due,
        status=booking.status,
        settled_charge_ids=list(settled_charge_ids),
    )


async def create_account(
    pool: Pool,
    *,
    name: str,
    admins: list[Admin],
    notify: bool,
    business: BusinessProfile | None = None,
    send_receipts: bool = True,
) -> Account:
    account = Account(
        uuid.uuid4(),
        name,
        tuple(admins),
        notify,
        version=1,
        business=business or BusinessProfile(),
        send_receipts=send_receipts,
    )
    async with pool.acquire() as conn, conn.transaction():
        await repo.insert_account(conn, account)
        await outbox.enqueue(conn, account_state(account))
    return account


async def update_account(
    pool: Pool,
    account_id: uuid.UUID,
    *,
    name: str | None = None,
    admins: list[Admin] | None = None,
    notify: bool | None = None,
    business_changes: Mapping[str, Any] | None = None,
    send_receipts: bool | None = None,
) -> Account:
    """`business_changes`: the BusinessProfile fields to set (None clears an optional one)."""
    async with pool.acquire() as conn, conn.transaction():
        current = await repo.get_account(conn, account_id, for_update=True)
        if current is None:
            raise UnknownEntity(f"account {account_id} not found")
        account = replace(
            current,
            name=current.name if name is None else name,
            admins=current.admins if admins is None else tuple(admins),
            notify_admins_on_link_payment=(
                current.notify_admins_on_link_payment if notify is None else notify
            ),
            business=replace(current.business, **(business_changes or {})),
            send_receipts=current.send_receipts if send_receipts is None else send_receipts,
            version=current.version + 1,
        )
        await repo.update_account(conn, account)
        await outbox.enqueue(conn, account_state(account))
    return account


async def create_customer(pool: Pool, account_id: uuid.UUID, *, name: str, email: str) -> Customer:
    async with pool.acquire() as conn, conn.transaction():
        await _require_account(conn, account_id)
        customer = Customer(uuid.uuid4(), account_id, name, email, version=1)
        await repo.insert_customer(conn, customer)
        await outbox.enqueue(conn, customer_state(customer))
    return customer


async def create_booking(
    pool: Pool,
    account_id: uuid.UUID,
    *,
    customer_id: uuid.UUID,
    title: str,
    starts_at: datetime,
    amount: int,
    currency: str,
) -> Booking:
    async with pool.acquire() as conn, conn.transaction():
        if await repo.get_customer(conn, account_id, customer_id) is None:
            raise UnknownEntity(f"customer {customer_id} not found in account {account_id}")
        booking = Booking(
            id=uuid.uuid4(),
            account_id=account_id,
            customer_id=customer_id,
            title=title,
            starts_at=starts_at,
            amount=amount,
            currency=currency,
            amount_paid=0,
            version=1,
            created_at=utcnow(),
        )
        await repo.insert_booking(conn, booking)
        await outbox.enqueue(conn, booking_state(booking))
    return booking


async def _require_account(conn: Connection, account_id: uuid.UUID) -> Account:
    account = await repo.get_account(conn, account_id)
    if account is None:
        raise UnknownEntity(f"account {account_id} not found")
    return account


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
