"""The unit of work on PostgreSQL: one pooled connection and one transaction per `async with`,
running the SQL of repository.py (and the shared outbox, inbox and projections) on it.

Row locks taken inside (the bookings' projection rows, a charge's row `FOR UPDATE`) are held
until the transaction commits or rolls back, as they were when the use cases held the
connection themselves: the balance check stays serialized per booking across processes.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction
from bookpay_shared import inbox, outbox, projections
from bookpay_shared.db import Connection, Pool
from bookpay_shared.events import Event

from charge_service.adapters import repository as repo
from charge_service.domain.model import (
    Charge,
    ChargeStatus,
    HistoryEntry,
    SavedCard,
    StripeConnection,
)
from charge_service.usecases.unit_of_work import StripeAccountTaken, UnitOfWork


class PostgresCharges:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, charge: Charge) -> bool:
        return await repo.insert_charge(self._conn, charge)

    async def get(self, charge_id: uuid.UUID, *, for_update: bool = False) -> Charge | None:
        return await repo.get_charge(self._conn, charge_id, for_update=for_update)

    async def save(self, charge: Charge) -> None:
        await repo.save_charge(self._conn, charge)

    async def add_history(
        self, charge_id: uuid.UUID, status: ChargeStatus, note: str, **detail: Any
    ) -> None:
        await repo.add_history(self._conn, charge_id, status, note, **detail)

    async def history(self, charge_id: uuid.UUID) -> list[HistoryEntry]:
        return await repo.get_history(self._conn, charge_id)

    async def amount_in_progress(
        self, booking_ids: tuple[uuid.UUID, ...], *, exclude: uuid.UUID
    ) -> int:
        return await repo.amount_in_progress(self._conn, booking_ids, exclude=exclude)

    async def set_payment_intent(self, charge_id: uuid.UUID, payment_intent_id: str) -> str:
        return await repo.set_payment_intent(self._conn, charge_id, payment_intent_id)

    async def record_over_collected(self, charge_id: uuid.UUID, amount: int) -> bool:
        return await repo.record_over_collected(self._conn, charge_id, amount)

    async def to_reconcile(self, *, idle_seconds: float, limit: int) -> list[Charge]:
        return await repo.charges_to_reconcile(self._conn, idle_seconds=idle_seconds, limit=limit)

    async def touch(self, charge_id: uuid.UUID) -> None:
        await repo.touch_charge(self._conn, charge_id)


class PostgresCards:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def stripe_customer(self, customer_id: uuid.UUID, stripe_account: str) -> str | None:
        return await repo.get_stripe_customer(self._conn, customer_id, stripe_account)

    async def add_stripe_customer(
        self, customer_id: uuid.UUID, stripe_account: str, stripe_customer_id: str
    ) -> str:
        return await repo.insert_stripe_customer(
            self._conn, customer_id, stripe_account, stripe_customer_id
        )

    async def list(self, customer_id: uuid.UUID, stripe_account: str) -> list[SavedCard]:
        return await repo.list_cards(self._conn, customer_id, stripe_account)

    async def add(self, card: SavedCard) -> None:
        await repo.insert_card(self._conn, card)

    async def get(self, customer_id: uuid.UUID, payment_method_id: str) -> SavedCard | None:
        return await repo.get_card(self._conn, customer_id, payment_method_id)

    async def remove(self, payment_method_id: str) -> None:
        await repo.remove_card(self._conn, payment_method_id)

    async def make_default(
        self, customer_id: uuid.UUID, stripe_account: str, payment_method_id: str
    ) -> None:
        await repo.make_default_card(self._conn, customer_id, stripe_account, payment_method_id)

    async def record_consent(
        self,
        *,
        payment_method_id: str,
        charge_id: uuid.UUID,
        customer_id: uuid.UUID,
        text: str,
        given_by: str,
        given_at: datetime,
    ) -> None:
        await repo.record_consent(
            self._conn,
            payment_method_id=payment_method_id,
            charge_id=charge_id,
            customer_id=customer_id,
            text=text,
            given_by=given_by,
            given_at=given_at,
        )


class PostgresConnections:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def current(self, account_id: uuid.UUID) -> str | None:
        return await repo.get_connection(self._conn, account_id)

    async def account_connected_to(self, stripe_account_id: str) -> uuid.UUID | None:
        return await repo.account_connected_to(self._conn, stripe_account_id)

    async def record(
        self, account_id: uuid.UUID, stripe_account_id: str, connected_by: str
    ) -> StripeConnection | None:
        try:
            return await repo.record_connection(
                self._conn, account_id, stripe_account_id, connected_by
            )
        except asyncpg.UniqueViolationError as exc:  # one account per Stripe account (007)
            raise StripeAccountTaken(stripe_account_id) from exc

    async def history(self, account_id: uuid.UUID) -> list[StripeConnection]:
        return await repo.connection_history(self._conn, account_id)

    async def was_connected(self, account_id: uuid.UUID, stripe_account_id: str) -> bool:
        return await repo.was_connected(self._conn, account_id, stripe_account_id)


class PostgresRecords:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def customer(
        self, account_id: uuid.UUID, customer_id: uuid.UUID
    ) -> projections.KnownCustomer | None:
        return await projections.get_customer(self._conn, account_id, customer_id)

    async def bookings(
        self, account_id: uuid.UUID, booking_ids: tuple[uuid.UUID, ...]
    ) -> list[projections.KnownBooking]:
        return await projections.get_bookings(self._conn, account_id, list(booking_ids))

    async def lock_bookings(self, booking_ids: tuple[uuid.UUID, ...]) -> None:
        await projections.lock_bookings(self._conn, booking_ids)


class PostgresOutbox:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def enqueue(self, *events: Event) -> None:
        await outbox.enqueue(self._conn, *events)


class PostgresInbox:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def claim(self, consumer: str, event_id: uuid.UUID) -> bool:
        return await inbox.claim(self._conn, consumer, event_id)


class PostgresWebhookEvents:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def seen(self, event_id: str) -> bool:
        return await repo.webhook_event_seen(self._conn, event_id)

    async def record(self, event_id: str, event_type: str, payment_intent_id: str | None) -> bool:
        return await repo.record_webhook_event(self._conn, event_id, event_type, payment_intent_id)


class PostgresUnitOfWork(UnitOfWork):
    """Each `async with` takes a connection from the pool and starts a transaction (READ
    COMMITTED); leaving the block gives the connection back."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._conn: PoolConnectionProxy[asyncpg.Record] | None = None
        self._transaction: Transaction | None = None

    async def _begin(self) -> None:
        conn: PoolConnectionProxy[asyncpg.Record] = await self._pool.acquire()
        try:
            transaction = conn.transaction()
            await transaction.start()
        except BaseException:
            await self._pool.release(conn)
            raise
        self._conn, self._transaction = conn, transaction
        self.charges = PostgresCharges(conn)
        self.cards = PostgresCards(conn)
        self.connections = PostgresConnections(conn)
        self.records = PostgresRecords(conn)
        self.outbox = PostgresOutbox(conn)
        self.inbox = PostgresInbox(conn)
        self.webhook_events = PostgresWebhookEvents(conn)

    async def _commit(self) -> None:
        assert self._transaction is not None
        await self._transaction.commit()

    async def _rollback(self) -> None:
        assert self._conn is not None and self._transaction is not None
        if self._conn.is_in_transaction():  # not after a commit that failed: nothing to undo
            with contextlib.suppress(asyncpg.InterfaceError):
                await self._transaction.rollback()

    async def _end(self) -> None:
        conn, self._conn, self._transaction = self._conn, None, None
        if conn is not None:
            await self._pool.release(conn)
