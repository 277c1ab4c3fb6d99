"""How booking-service's entities are published: each change writes the entity's whole
state, keyed by its id, to its compacted state topic (accounts, customers, bookings)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict

from bookpay_shared.events import (
    AccountStateChanged,
    Administrator,
    BookingStateChanged,
    CustomerStateChanged,
)

from booking_service.domain.model import (
    Account,
    Booking,
    Customer,
)


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
