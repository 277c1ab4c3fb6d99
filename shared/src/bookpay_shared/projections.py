"""Local read models of booking-service's entities, fed by its compacted *-state topics.

A service that needs accounts, customers or bookings (to check a charge, render a payment
page or address an email) keeps its own copy here instead of calling booking-service, so it
keeps working while booking-service is down. Each upsert keeps the highest entity version, so
redelivered or out-of-order state events change nothing: no processed-event record is needed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, TypeVar

from bookpay_shared import api_keys, topics
from bookpay_shared.business import BusinessProfile
from bookpay_shared.consuming import Consumers
from bookpay_shared.db import Connection, Pool
from bookpay_shared.events import (
    AccountStateChanged,
    Administrator,
    ApiKeyStateChanged,
    BookingStateChanged,
    BookingStatus,
    CustomerStateChanged,
    Event,
)

E = TypeVar("E", bound=Event)


def migrations() -> Traversable:
    return resources.files("bookpay_shared") / "projection_migrations"


@dataclass(frozen=True)
class KnownAccount:
    account_id: uuid.UUID
    name: str
    admins: tuple[Administrator, ...]
    notify_admins_on_link_payment: bool
    business: BusinessProfile = field(default_factory=BusinessProfile)
    """Its time zone, locale and what its customers see of it."""
    send_receipts: bool = True
    """Whether its customers receive a receipt after each successful charge."""


@dataclass(frozen=True)
class KnownCustomer:
    customer_id: uuid.UUID
    account_id: uuid.UUID
    name: str
    email: str


@dataclass(frozen=True)
class KnownBooking:
    booking_id: uuid.UUID
    account_id: uuid.UUID
    customer_id: uuid.UUID
    title: str
    starts_at: datetime
    amount: int
    currency: str
    amount_paid: int
    balance_due: int
    status: BookingStatus
    settled_charge_ids: tuple[uuid.UUID, ...] = ()
    """The charges booking-service has applied to this booking (BookingStateChanged)."""


_BUSINESS_COLUMNS = (
    "time_zone",
    "locale",
    "sender_name",
    "reply_to",
    "contact_phone",
    "contact_email",
    "logo_url",
    "brand_colour",
    "policy_text",
)


def business_of(e: AccountStateChanged) -> BusinessProfile:
    return BusinessProfile(
        time_zone=e.time_zone,
        locale=e.locale,
        sender_name=e.sender_name,
        reply_to=None if e.reply_to is None else str(e.reply_to),
        contact_phone=e.contact_phone,
        contact_email=None if e.contact_email is None else str(e.contact_email),
        logo_url=e.logo_url,
        brand_colour=e.brand_colour,
        policy_text=e.policy_text,
    )


async def apply_account(conn: Connection, e: AccountStateChanged) -> None:
    business = business_of(e)
    columns = ", ".join(_BUSINESS_COLUMNS)
    values = ", ".join(f"${i}" for i in range(7, 7 + len(_BUSINESS_COLUMNS)))
    updates = ", ".join(f"{c} = excluded.{c}" for c in _BUSINESS_COLUMNS)
    await conn.execute(
        f"""INSERT INTO known_accounts (account_id, name, admins, notify_admins_on_link_payment,
               version, send_receipts, {columns})
           VALUES ($1, $2, $3::jsonb, $4, $5, $6, {values})
           ON CONFLICT (account_id) DO UPDATE SET name = excluded.name, admins = excluded.admins,
               notify_admins_on_link_payment = excluded.notify_admins_on_link_payment,
               send_receipts = excluded.send_receipts,
               version = excluded.version, {updates}
           WHERE known_accounts.version < excluded.version""",
        e.account_id,
        e.name,
        json.dumps([a.model_dump(mode="json") for a in e.admins]),
        e.notify_admins_on_link_payment,
        e.version,
        e.send_receipts,
        *(getattr(business, c) for c in _BUSINESS_COLUMNS),
    )


async def apply_customer(conn: Connection, e: CustomerStateChanged) -> None:
    await conn.execute(
        """INSERT INTO known_customers (customer_id, account_id, name, email, version)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (customer_id) DO UPDATE SET name = excluded.name, email = excluded.email,
               version = excluded.version
           WHERE known_customers.version < excluded.version""",
        e.customer_id,
        e.account_id,
        e.name,
        e.email,
        e.version,
    )


async def apply_booking(conn: Connection, e: BookingStateChanged) -> None:
    await conn.execute(
        """INSERT INTO known_bookings (booking_id, account_id, customer_id, title, starts_at,
               amount, currency, amount_paid, balance_due, status, version, settled_charge_ids)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (booking_id) DO UPDATE SET title = excluded.title,
               starts_at = excluded.starts_at, amount = excluded.amount,
               currency = excluded.currency, amount_paid = excluded.amount_paid,
               balance_due = excluded.balance_due, status = excluded.status,
               version = excluded.version, settled_charge_ids = excluded.settled_charge_ids
           WHERE known_bookings.version < excluded.version""",
        e.booking_id,
        e.account_id,
        e.customer_id,
        e.title,
        e.starts_at,
        e.amount,
        e.currency,
        e.amount_paid,
        e.balance_due,
        e.status.value,
        e.version,
        list(e.settled_charge_ids),
    )


async def get_account(conn: Connection, account_id: uuid.UUID) -> KnownAccount | None:
    row = await conn.fetchrow("SELECT * FROM known_accounts WHERE account_id = $1", account_id)
    if row is None:
        return None
    return KnownAccount(
        account_id=row["account_id"],
        name=row["name"],
        admins=tuple(Administrator.model_validate(a) for a in json.loads(row["admins"])),
        notify_admins_on_link_payment=row["notify_admins_on_link_payment"],
        business=BusinessProfile(**{c: row[c] for c in _BUSINESS_COLUMNS}),
        send_receipts=row["send_receipts"],
    )


async def get_customer(
    conn: Connection, account_id: uuid.UUID, customer_id: uuid.UUID
) -> KnownCustomer | None:
    row = await conn.fetchrow(
        "SELECT * FROM known_customers WHERE customer_id = $1 AND account_id = $2",
        customer_id,
        account_id,
    )
    if row is None:
        return None
    return KnownCustomer(row["customer_id"], row["account_id"], row["name"], row["email"])


async def get_bookings(
    conn: Connection, account_id: uuid.UUID, booking_ids: Sequence[uuid.UUID]
) -> list[KnownBooking]:
    rows = await conn.fetch(
        """SELECT * FROM known_bookings WHERE booking_id = ANY($1::uuid[]) AND account_id = $2
           ORDER BY starts_at, booking_id""",
        list(booking_ids),
        account_id,
    )
    return [_booking(r) for r in rows]


async def lock_bookings(conn: Connection, booking_ids: Sequence[uuid.UUID]) -> None:
    """Lock these bookings' rows until the transaction ends (in booking_id order, so that two
    transactions locking overlapping sets never deadlock). Bookings not known yet lock nothing."""
    await conn.execute(
        """SELECT booking_id FROM known_bookings WHERE booking_id = ANY($1::uuid[])
           ORDER BY booking_id FOR UPDATE""",
        sorted(set(booking_ids)),
    )


def _booking(r: Any) -> KnownBooking:
    return KnownBooking(
        booking_id=r["booking_id"],
        account_id=r["account_id"],
        customer_id=r["customer_id"],
        title=r["title"],
        starts_at=r["starts_at"],
        amount=r["amount"],
        currency=r["currency"],
        amount_paid=r["amount_paid"],
        balance_due=r["balance_due"],
        status=BookingStatus(r["status"]),
        settled_charge_ids=tuple(r["settled_charge_ids"]),
    )


_ENTITY_TOPICS: dict[str, tuple[str, type[Event], Callable[[Connection, Any], Awaitable[None]]]] = {
    "accounts": (topics.ACCOUNTS_STATE, AccountStateChanged, apply_account),
    "customers": (topics.CUSTOMERS_STATE, CustomerStateChanged, apply_customer),
    "bookings": (topics.BOOKINGS_STATE, BookingStateChanged, apply_booking),
    "api_keys": (topics.API_KEYS_STATE, ApiKeyStateChanged, api_keys.apply_key),
}


def register(
    consumers: Consumers,
    pool: Pool,
    *,
    entities: Sequence[str] = ("accounts", "customers", "bookings", "api_keys"),
) -> None:
    """Keep this service's projections of `entities` up to date."""
    for entity in entities:
        topic, model, apply = _ENTITY_TOPICS[entity]
        consumers.subscribe(model, _projector(pool, apply), topic=topic)


def _projector(
    pool: Pool, apply: Callable[[Connection, Any], Awaitable[None]]
) -> Callable[[Event], Awaitable[None]]:
    async def project(event: Event) -> None:
        async with pool.acquire() as conn:
            await apply(conn, event)

    return project
