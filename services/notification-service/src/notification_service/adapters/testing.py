"""For notification-service's tests: what booking-service's state events would have told it (an
account, its customer and bookings), written into a database's projections as the consumers
write them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bookpay_shared import projections
from bookpay_shared.db import Pool
from bookpay_shared.events import (
    AccountStateChanged,
    Administrator,
    BookingStateChanged,
    BookingStatus,
    CustomerStateChanged,
)


async def know_account(
    pool: Pool,
    account_id: uuid.UUID,
    *,
    admins: Sequence[Administrator],
    name: str = "Harbour Kayak Tours",
    version: int = 1,
    **settings: Any,
) -> None:
    """The account with its administrators; `settings` are AccountStateChanged's other fields
    (notify_admins_on_link_payment, send_receipts, time_zone, reply_to, …)."""
    async with pool.acquire() as conn:
        await projections.apply_account(
            conn,
            AccountStateChanged(
                correlation_id=account_id,
                account_id=account_id,
                version=version,
                name=name,
                admins=list(admins),
                **settings,
            ),
        )


async def know_customer(
    pool: Pool,
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    *,
    name: str = "Ada Lovelace",
    email: str = "ada@example.com",
) -> None:
    async with pool.acquire() as conn:
        await projections.apply_customer(
            conn,
            CustomerStateChanged(
                correlation_id=customer_id,
                customer_id=customer_id,
                account_id=account_id,
                version=1,
                name=name,
                email=email,
            ),
        )


def booking_state(
    account_id: uuid.UUID, customer_id: uuid.UUID, booking_id: uuid.UUID, i: int, start: datetime
) -> BookingStateChanged:
    """The i-th of a customer's unpaid $50 bookings, a day after the one before."""
    return BookingStateChanged(
        correlation_id=booking_id,
        booking_id=booking_id,
        account_id=account_id,
        customer_id=customer_id,
        version=1,
        title=f"Sunset paddle #{i + 1}",
        starts_at=start + timedelta(days=i),
        amount=5000,
        currency="usd",
        amount_paid=0,
        balance_due=5000,
        status=BookingStatus.UNPAID,
    )


async def know_bookings(
    pool: Pool,
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    booking_ids: Sequence[uuid.UUID],
    start: datetime,
) -> None:
    async with pool.acquire() as conn:
        for i, booking_id in enumerate(booking_ids):
            await projections.apply_booking(
                conn, booking_state(account_id, customer_id, booking_id, i, start)
            )
