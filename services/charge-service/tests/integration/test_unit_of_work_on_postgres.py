"""The PostgreSQL unit of work on a real database: a commit keeps a change with its history
and its outbox row, anything else keeps nothing, and the bookings' row locks taken inside it
keep concurrent charges within the balance due."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from bookpay_shared import projections
from bookpay_shared.db import Pool
from bookpay_shared.events import (
    AccountStateChanged,
    BookingStateChanged,
    BookingStatus,
    ChargeMethod,
    CustomerStateChanged,
)
from charge_service.adapters.postgres_unit_of_work import PostgresUnitOfWork
from charge_service.domain.model import Charge
from charge_service.usecases import accepting
from charge_service.usecases.unit_of_work import StripeAccountTaken

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ACCOUNT = uuid.UUID(int=0xA1)
CUSTOMER = uuid.UUID(int=0xC1)
BOOKING = uuid.UUID(int=0xB1)


async def known(pool: Pool, *, balance_due: int = 10_000) -> None:
    """What booking-service's state events told charge-service."""
    async with pool.acquire() as conn:
        await projections.apply_account(
            conn,
            AccountStateChanged(
                correlation_id=ACCOUNT,
                account_id=ACCOUNT,
                version=1,
                name="Harbour Kayak Tours",
                admins=[],
                notify_admins_on_link_payment=True,
            ),
        )
        await projections.apply_customer(
            conn,
            CustomerStateChanged(
                correlation_id=CUSTOMER,
                customer_id=CUSTOMER,
                account_id=ACCOUNT,
                version=1,
                name="Ada Lovelace",
                email="ada@example.com",
            ),
        )
        await projections.apply_booking(
            conn,
            BookingStateChanged(
                correlation_id=BOOKING,
                booking_id=BOOKING,
                account_id=ACCOUNT,
                customer_id=CUSTOMER,
                version=1,
                title="Sunset paddle",
                starts_at=datetime(2027, 5, 1, 9, tzinfo=UTC),
                amount=balance_due,
                currency="usd",
                amount_paid=0,
                balance_due=balance_due,
                status=BookingStatus.UNPAID,
            ),
        )


def a_charge(amount: int) -> Charge:
    return Charge(
        charge_id=uuid.uuid4(),
        account_id=ACCOUNT,
        customer_id=CUSTOMER,
        booking_ids=(BOOKING,),
        amount=amount,
        currency="usd",
        method=ChargeMethod.PAYMENT_LINK,
        payment_method_id=None,
        save_card=False,
        message=None,
        requested_by="key:integration",
    )


async def outbox_rows(pool: Pool, charge: Charge) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE correlation_id = $1", charge.charge_id
    )
    return count


async def test_a_commit_keeps_the_charge_its_history_and_its_event(pool: Pool) -> None:
    charge = a_charge(100)
    uow = PostgresUnitOfWork(pool)
    async with uow:
        await uow.charges.add(charge)
        await uow.charges.add_history(charge.charge_id, charge.status, "charge requested")
        await uow.outbox.enqueue(charge.request_event())
        await uow.commit()

    async with uow:
        stored = await uow.charges.get(charge.charge_id)
        history = await uow.charges.history(charge.charge_id)
    assert stored is not None and stored.amount == 100
    assert [h.note for h in history] == ["charge requested"]
    assert await outbox_rows(pool, charge) == 1


async def test_no_commit_keeps_nothing_and_gives_the_connection_back(pool: Pool) -> None:
    charge = a_charge(100)
    uow = PostgresUnitOfWork(pool)
    with pytest.raises(RuntimeError):
        async with uow:
            await uow.charges.add(charge)
            await uow.outbox.enqueue(charge.request_event())
            raise RuntimeError("the use case failed")
    async with uow:
        await uow.charges.add(charge)  # left without a commit

    async with uow:
        assert await uow.charges.get(charge.charge_id) is None
    assert await outbox_rows(pool, charge) == 0
    assert pool.get_size() - pool.get_idle_size() == 0


async def test_concurrent_charges_never_take_more_than_the_balance(pool: Pool) -> None:
    await known(pool, balance_due=10_000)

    async def accept(charge: Charge) -> bool:
        try:
            await accepting.request_charge(PostgresUnitOfWork(pool), charge)
        except accepting.InvalidCharge:
            return False
        return True

    accepted = await asyncio.gather(*(accept(a_charge(4_000)) for _ in range(6)))

    assert sum(accepted) == 2
    total: int = await pool.fetchval(
        "SELECT sum(amount) FROM charges WHERE $1 = ANY(booking_ids)", BOOKING
    )
    assert total == 8_000


async def test_a_stripe_account_taken_concurrently_is_reported_as_such(pool: Pool) -> None:
    uow = PostgresUnitOfWork(pool)
    async with uow:
        await uow.connections.record(uuid.uuid4(), "acct_integration_1", "key:a")
        await uow.commit()

    with pytest.raises(StripeAccountTaken):
        async with uow:
            await uow.connections.record(uuid.uuid4(), "acct_integration_1", "key:b")
            await uow.commit()
