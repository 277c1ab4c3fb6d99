"""An in-memory `UnitOfWork` for fast tests of the use cases, with no database.

It keeps the committed state (`state`) and gives each `async with` a copy to work on: a commit
makes the copy the committed state, leaving without one throws it away, as a transaction
would. It counts what happened (`commits`, `rollbacks`), and tests seed it with what
booking-service's events would have projected (`add_customer`, `add_booking`) and with a
Stripe connection (`connect`). Events reach `state.published` only when committed.

What it cannot show: row locks. Transactions here never overlap, so concurrency (two charges
for the same bookings at once) is proven on PostgreSQL, not here.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bookpay_shared.events import BookingStatus, Event, utcnow
from bookpay_shared.projections import KnownBooking, KnownCustomer

from charge_service.domain.model import (
    BalanceClaim,
    Charge,
    ChargeStatus,
    HistoryEntry,
    SavedCard,
    StripeConnection,
    amount_claimed,
)
from charge_service.usecases.unit_of_work import StripeAccountTaken, UnitOfWork

__all__ = ["FakeState", "FakeUnitOfWork"]


@dataclass
class FakeState:
    charges: dict[uuid.UUID, Charge] = field(default_factory=dict)
    history: dict[uuid.UUID, list[HistoryEntry]] = field(default_factory=dict)
    customers: dict[tuple[uuid.UUID, uuid.UUID], KnownCustomer] = field(default_factory=dict)
    """(account_id, customer_id) → customer."""
    bookings: dict[uuid.UUID, KnownBooking] = field(default_factory=dict)
    connections: dict[uuid.UUID, StripeConnection] = field(default_factory=dict)
    connection_changes: list[StripeConnection] = field(default_factory=list)
    stripe_customers: dict[tuple[uuid.UUID, str], str] = field(default_factory=dict)
    cards: dict[str, SavedCard] = field(default_factory=dict)
    removed_cards: set[str] = field(default_factory=set)
    consents: dict[str, dict[str, Any]] = field(default_factory=dict)
    published: list[Event] = field(default_factory=list)
    """The outbox: events in the order they were committed."""
    processed: set[tuple[str, uuid.UUID]] = field(default_factory=set)
    webhook_events: dict[str, tuple[str, str | None]] = field(default_factory=dict)


class FakeCharges:
    def __init__(self, state: FakeState) -> None:
        self._s = state

    async def add(self, charge: Charge) -> bool:
        if charge.charge_id in self._s.charges:
            return False
        now = utcnow()
        self._s.charges[charge.charge_id] = replace(
            charge, link_expires_in_hours=None, requested_at=now, updated_at=now
        )
        return True

    async def get(self, charge_id: uuid.UUID, *, for_update: bool = False) -> Charge | None:
        return self._s.charges.get(charge_id)

    async def save(self, charge: Charge) -> None:
        stored = self._s.charges[charge.charge_id]
        self._s.charges[charge.charge_id] = replace(
            charge,
            link_expires_in_hours=None,
            requested_at=stored.requested_at,
            updated_at=utcnow(),
            requested_method=stored.requested_method,
            requested_payment_method_id=stored.requested_payment_method_id,
            over_collected=stored.over_collected,
            message=stored.message,
            requested_by=stored.requested_by,
        )

    async def add_history(
        self, charge_id: uuid.UUID, status: ChargeStatus, note: str, **detail: Any
    ) -> None:
        entry = HistoryEntry(utcnow(), status.value, note, detail)
        self._s.history.setdefault(charge_id, []).append(entry)

    async def history(self, charge_id: uuid.UUID) -> list[HistoryEntry]:
        return list(self._s.history.get(charge_id, []))

    async def amount_in_progress(
        self, booking_ids: tuple[uuid.UUID, ...], *, exclude: uuid.UUID
    ) -> int:
        claims = [
            BalanceClaim(
                charge_id=c.charge_id,
                amount=c.amount,
                status=c.status,
                awaits_settlement=True,
                bookings_not_settled=sum(
                    1
                    for b in c.booking_ids
                    if b in self._s.bookings
                    and c.charge_id not in self._s.bookings[b].settled_charge_ids
                ),
            )
            for c in self._s.charges.values()
            if c.charge_id != exclude and set(c.booking_ids) & set(booking_ids)
        ]
        return amount_claimed(claims)

    async def set_payment_intent(self, charge_id: uuid.UUID, payment_intent_id: str) -> str:
        charge = self._s.charges[charge_id]
        if charge.stripe_payment_intent_id is None:
            charge = replace(
                charge, stripe_payment_intent_id=payment_intent_id, updated_at=utcnow()
            )
            self._s.charges[charge_id] = charge
        assert charge.stripe_payment_intent_id is not None
        return charge.stripe_payment_intent_id

    async def record_over_collected(self, charge_id: uuid.UUID, amount: int) -> bool:
        charge = self._s.charges.get(charge_id)
        if charge is None or charge.over_collected is not None:
            return False
        self._s.charges[charge_id] = replace(charge, over_collected=amount, updated_at=utcnow())
        return True

    async def to_reconcile(self, *, idle_seconds: float, limit: int) -> list[Charge]:
        now = utcnow()
        idle = [
            c
            for c in self._s.charges.values()
            if (
                c.status is ChargeStatus.PROCESSING
                or (c.status is ChargeStatus.AWAITING_CUSTOMER and c.stripe_payment_intent_id)
            )
            and c.updated_at is not None
            and (now - c.updated_at).total_seconds() > idle_seconds
        ]
        idle.sort(key=lambda c: (c.status is not ChargeStatus.PROCESSING, c.updated_at))
        return idle[:limit]

    async def touch(self, charge_id: uuid.UUID) -> None:
        self._s.charges[charge_id] = replace(self._s.charges[charge_id], updated_at=utcnow())


class FakeCards:
    def __init__(self, state: FakeState) -> None:
        self._s = state

    async def stripe_customer(self, customer_id: uuid.UUID, stripe_account: str) -> str | None:
        return self._s.stripe_customers.get((customer_id, stripe_account))

    async def add_stripe_customer(
        self, customer_id: uuid.UUID, stripe_account: str, stripe_customer_id: str
    ) -> str:
        return self._s.stripe_customers.setdefault(
            (customer_id, stripe_account), stripe_customer_id
        )

    async def list(self, customer_id: uuid.UUID, stripe_account: str) -> list[SavedCard]:
        return [
            c
            for c in self._s.cards.values()
            if c.customer_id == customer_id
            and c.stripe_account_id == stripe_account
            and c.payment_method_id not in self._s.removed_cards
        ]

    async def add(self, card: SavedCard) -> None:
        if card.payment_method_id in self._s.cards:
            self._s.removed_cards.discard(card.payment_method_id)
            return
        self._s.cards[card.payment_method_id] = replace(card, is_default=False, created_at=utcnow())

    async def get(self, customer_id: uuid.UUID, payment_method_id: str) -> SavedCard | None:
        card = self._s.cards.get(payment_method_id)
        if card is None or card.customer_id != customer_id:
            return None
        return None if payment_method_id in self._s.removed_cards else card

    async def remove(self, payment_method_id: str) -> None:
        self._s.removed_cards.add(payment_method_id)
        card = self._s.cards[payment_method_id]
        self._s.cards[payment_method_id] = replace(card, is_default=False)

    async def make_default(
        self, customer_id: uuid.UUID, stripe_account: str, payment_method_id: str
    ) -> None:
        for pm, card in self._s.cards.items():
            if card.customer_id == customer_id and card.stripe_account_id == stripe_account:
                self._s.cards[pm] = replace(card, is_default=pm == payment_method_id)

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
        self._s.consents.setdefault(
            payment_method_id,
            {"charge_id": charge_id, "customer_id": customer_id, "text": text, "by": given_by},
        )


class FakeConnections:
    def __init__(self, state: FakeState) -> None:
        self._s = state

    async def current(self, account_id: uuid.UUID) -> str | None:
        connection = self._s.connections.get(account_id)
        return connection.stripe_account_id if connection else None

    async def account_connected_to(self, stripe_account_id: str) -> uuid.UUID | None:
        return next(
            (a for a, c in self._s.connections.items() if c.stripe_account_id == stripe_account_id),
            None,
        )

    async def record(
        self, account_id: uuid.UUID, stripe_account_id: str, connected_by: str
    ) -> StripeConnection | None:
        current = self._s.connections.get(account_id)
        if current is not None and current.stripe_account_id == stripe_account_id:
            return None
        if await self.account_connected_to(stripe_account_id) not in (None, account_id):
            raise StripeAccountTaken(stripe_account_id)
        change = StripeConnection(
            account_id=account_id,
            stripe_account_id=stripe_account_id,
            version=current.version + 1 if current else 1,
            connected_by=connected_by,
            connected_at=utcnow(),
            previous_stripe_account_id=current.stripe_account_id if current else None,
        )
        self._s.connections[account_id] = change
        self._s.connection_changes.append(change)
        return change

    async def history(self, account_id: uuid.UUID) -> list[StripeConnection]:
        mine = [c for c in self._s.connection_changes if c.account_id == account_id]
        return sorted(mine, key=lambda c: -c.version)

    async def was_connected(self, account_id: uuid.UUID, stripe_account_id: str) -> bool:
        return any(
            c.account_id == account_id and c.stripe_account_id == stripe_account_id
            for c in self._s.connection_changes
        )


class FakeRecords:
    def __init__(self, state: FakeState, locked: list[tuple[uuid.UUID, ...]]) -> None:
        self._s = state
        self._locked = locked

    async def customer(self, account_id: uuid.UUID, customer_id: uuid.UUID) -> KnownCustomer | None:
        return self._s.customers.get((account_id, customer_id))

    async def bookings(
        self, account_id: uuid.UUID, booking_ids: tuple[uuid.UUID, ...]
    ) -> list[KnownBooking]:
        found = [self._s.bookings[b] for b in booking_ids if b in self._s.bookings]
        return [b for b in found if b.account_id == account_id]

    async def lock_bookings(self, booking_ids: tuple[uuid.UUID, ...]) -> None:
        self._locked.append(tuple(sorted(set(booking_ids))))


class FakeOutbox:
    def __init__(self, state: FakeState) -> None:
        self._s = state

    async def enqueue(self, *events: Event) -> None:
        known = {e.event_id for e in self._s.published}
        self._s.published.extend(e for e in events if e.event_id not in known)


class FakeInbox:
    def __init__(self, state: FakeState) -> None:
        self._s = state

    async def claim(self, consumer: str, event_id: uuid.UUID) -> bool:
        if (consumer, event_id) in self._s.processed:
            return False
        self._s.processed.add((consumer, event_id))
        return True


class FakeWebhookEvents:
    def __init__(self, state: FakeState) -> None:
        self._s = state

    async def seen(self, event_id: str) -> bool:
        return event_id in self._s.webhook_events

    async def record(self, event_id: str, event_type: str, payment_intent_id: str | None) -> bool:
        if event_id in self._s.webhook_events:
            return False
        self._s.webhook_events[event_id] = (event_type, payment_intent_id)
        return True


class FakeUnitOfWork(UnitOfWork):
    def __init__(self) -> None:
        self.state = FakeState()
        """What is committed."""
        self.commits = 0
        self.rollbacks = 0
        self.locked_bookings: list[tuple[uuid.UUID, ...]] = []
        """Every set of bookings whose locks a transaction took, in order."""
        self._working = self.state

    # --- seeding: what booking-service's events and a connection would have recorded ---------

    def add_customer(
        self, account_id: uuid.UUID, customer_id: uuid.UUID, *, email: str = "ada@example.com"
    ) -> KnownCustomer:
        customer = KnownCustomer(customer_id, account_id, "Ada Lovelace", email)
        self.state.customers[(account_id, customer_id)] = customer
        return customer

    def add_booking(
        self,
        account_id: uuid.UUID,
        customer_id: uuid.UUID,
        booking_id: uuid.UUID,
        *,
        balance_due: int,
        currency: str = "usd",
        settled_charge_ids: tuple[uuid.UUID, ...] = (),
    ) -> KnownBooking:
        booking = KnownBooking(
            booking_id=booking_id,
            account_id=account_id,
            customer_id=customer_id,
            title="Kayak tour",
            starts_at=utcnow(),
            amount=balance_due,
            currency=currency,
            amount_paid=0,
            balance_due=balance_due,
            status=BookingStatus.UNPAID,
            settled_charge_ids=settled_charge_ids,
        )
        self.state.bookings[booking_id] = booking
        return booking

    def connect(self, account_id: uuid.UUID, stripe_account_id: str) -> None:
        version = len([c for c in self.state.connection_changes if c.account_id == account_id])
        change = StripeConnection(account_id, stripe_account_id, version + 1, "test", utcnow())
        self.state.connections[account_id] = change
        self.state.connection_changes.append(change)

    def backdate(self, charge_id: uuid.UUID, seconds: float) -> None:
        """Make the charge look unchanged for `seconds` (for the reconciliation sweep)."""
        charge = self.state.charges[charge_id]
        assert charge.updated_at is not None
        self.state.charges[charge_id] = replace(
            charge, updated_at=charge.updated_at - timedelta(seconds=seconds)
        )

    # --- UnitOfWork -------------------------------------------------------------------------

    async def _begin(self) -> None:
        self._working = copy.deepcopy(self.state)
        self.charges = FakeCharges(self._working)
        self.cards = FakeCards(self._working)
        self.connections = FakeConnections(self._working)
        self.records = FakeRecords(self._working, self.locked_bookings)
        self.outbox = FakeOutbox(self._working)
        self.inbox = FakeInbox(self._working)
        self.webhook_events = FakeWebhookEvents(self._working)

    async def _commit(self) -> None:
        self.state = self._working
        self.commits += 1

    async def _rollback(self) -> None:
        self._working = self.state
        self.rollbacks += 1

    async def _end(self) -> None:
        pass
