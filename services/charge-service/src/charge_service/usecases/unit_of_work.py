"""The unit of work: what charge-service's use cases see of storage.

A use case opens one transaction with `async with uow:`, reads and changes what it needs
through the repositories below (charges, cards, connections, the projections of
booking-service's records, the outbox, the inbox, Stripe's webhook events), then calls
`await uow.commit()`. Leaving the block without a commit, or on an exception, rolls
everything back: a state change, its history line and the event it publishes are kept
together or not at all. A unit of work can be entered again once left (a new transaction each
time), so a use case that calls Stripe between two transactions keeps one object.

`PostgresUnitOfWork` (adapters/postgres_unit_of_work.py) runs the SQL of adapters/repository.py
on one pooled connection; `FakeUnitOfWork` (adapters/fake_unit_of_work.py) keeps everything in
memory for unit tests.
"""

from __future__ import annotations

import abc
import uuid
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from bookpay_shared.events import Event
from bookpay_shared.projections import KnownBooking, KnownCustomer

from charge_service.domain.model import (
    Charge,
    ChargeStatus,
    HistoryEntry,
    SavedCard,
    StripeConnection,
)


class StripeAccountTaken(Exception):
    """Another account was connected to the Stripe account in a concurrent transaction."""


class Charges(Protocol):
    async def add(self, charge: Charge) -> bool:
        """Record a new charge; False when one with its charge_id exists already."""

    async def get(self, charge_id: uuid.UUID, *, for_update: bool = False) -> Charge | None:
        """The charge; `for_update` holds its row lock until the transaction ends."""

    async def save(self, charge: Charge) -> None:
        """Persist the charge's mutable state (status, attempt, Stripe ids, card, failure)."""

    async def add_history(
        self, charge_id: uuid.UUID, status: ChargeStatus, note: str, **detail: Any
    ) -> None: ...

    async def history(self, charge_id: uuid.UUID) -> list[HistoryEntry]: ...

    async def amount_in_progress(
        self, booking_ids: tuple[uuid.UUID, ...], *, exclude: uuid.UUID
    ) -> int:
        """What other charges for any of these bookings still take from their balance due."""

    async def set_payment_intent(self, charge_id: uuid.UUID, payment_intent_id: str) -> str:
        """Record the charge's PaymentIntent once; return the one recorded."""

    async def record_over_collected(self, charge_id: uuid.UUID, amount: int) -> bool:
        """Record the amount taken beyond the balance due, once; False when recorded before."""

    async def to_reconcile(self, *, idle_seconds: float, limit: int) -> list[Charge]:
        """Charges left in flight for `idle_seconds`: unfinished attempts first."""

    async def touch(self, charge_id: uuid.UUID) -> None: ...


class Cards(Protocol):
    """Stripe customers and the cards saved on customers' profiles."""

    async def stripe_customer(self, customer_id: uuid.UUID, stripe_account: str) -> str | None: ...

    async def add_stripe_customer(
        self, customer_id: uuid.UUID, stripe_account: str, stripe_customer_id: str
    ) -> str:
        """Record the Stripe customer; return the one recorded (an earlier one wins a race)."""

    async def list(self, customer_id: uuid.UUID, stripe_account: str) -> list[SavedCard]:
        """The customer's cards on that Stripe account, oldest first."""

    async def add(self, card: SavedCard) -> None: ...

    async def get(self, customer_id: uuid.UUID, payment_method_id: str) -> SavedCard | None: ...

    async def remove(self, payment_method_id: str) -> None: ...

    async def make_default(
        self, customer_id: uuid.UUID, stripe_account: str, payment_method_id: str
    ) -> None: ...

    async def record_consent(
        self,
        *,
        payment_method_id: str,
        charge_id: uuid.UUID,
        customer_id: uuid.UUID,
        text: str,
        given_by: str,
        given_at: datetime,
    ) -> None: ...


class Connections(Protocol):
    """Accounts' connections to their Stripe accounts."""

    async def current(self, account_id: uuid.UUID) -> str | None:
        """The Stripe account the account is connected to now, if any."""

    async def account_connected_to(self, stripe_account_id: str) -> uuid.UUID | None: ...

    async def record(
        self, account_id: uuid.UUID, stripe_account_id: str, connected_by: str
    ) -> StripeConnection | None:
        """Make it the account's connection (None when it is already); raise
        StripeAccountTaken when another account holds that Stripe account."""

    async def history(self, account_id: uuid.UUID) -> list[StripeConnection]:
        """Newest first."""

    async def was_connected(self, account_id: uuid.UUID, stripe_account_id: str) -> bool: ...


class Records(Protocol):
    """Our projections of booking-service's customers and bookings."""

    async def customer(
        self, account_id: uuid.UUID, customer_id: uuid.UUID
    ) -> KnownCustomer | None: ...

    async def bookings(
        self, account_id: uuid.UUID, booking_ids: tuple[uuid.UUID, ...]
    ) -> list[KnownBooking]: ...

    async def lock_bookings(self, booking_ids: tuple[uuid.UUID, ...]) -> None:
        """Hold these bookings' row locks until the transaction ends (in booking_id order):
        whoever holds them is the only one checking a charge against their balance."""


class Outbox(Protocol):
    async def enqueue(self, *events: Event) -> None:
        """Publish the events once the transaction commits (never otherwise)."""


class Inbox(Protocol):
    async def claim(self, consumer: str, event_id: uuid.UUID) -> bool:
        """Mark the event processed by `consumer`; False when it was before."""


class WebhookEvents(Protocol):
    async def seen(self, event_id: str) -> bool: ...

    async def record(self, event_id: str, event_type: str, payment_intent_id: str | None) -> bool:
        """Remember a Stripe event; False when it was received before."""


class UnitOfWork(abc.ABC):
    charges: Charges
    cards: Cards
    connections: Connections
    records: Records
    outbox: Outbox
    inbox: Inbox
    webhook_events: WebhookEvents

    _open = False
    _committed = False

    async def __aenter__(self) -> Self:
        if self._open:
            raise RuntimeError("this unit of work is in a transaction already")
        await self._begin()
        self._open, self._committed = True, False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                await self._rollback()
        finally:
            self._open = False
            await self._end()

    async def commit(self) -> None:
        """Keep everything done since `async with` began."""
        if not self._open or self._committed:
            raise RuntimeError("commit outside a transaction, or twice")
        await self._commit()
        self._committed = True

    @abc.abstractmethod
    async def _begin(self) -> None: ...

    @abc.abstractmethod
    async def _commit(self) -> None: ...

    @abc.abstractmethod
    async def _rollback(self) -> None: ...

    @abc.abstractmethod
    async def _end(self) -> None:
        """Release what the transaction held (after commit or rollback)."""
