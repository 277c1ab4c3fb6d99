"""Creating customers and bookings. Each runs in one transaction and writes the new state to
the outbox in that same transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

from bookpay_shared import outbox
from bookpay_shared.db import Connection, Pool
from bookpay_shared.events import (
    utcnow,
)

from booking_service.adapters import repository as repo
from booking_service.domain.model import (
    Account,
    Booking,
    Customer,
    UnknownEntity,
)
from booking_service.usecases.states import booking_state, customer_state


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
