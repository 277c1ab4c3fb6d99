"""booking-service's SQL. Functions take a connection (the caller owns the transaction) and
return domain objects."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from bookpay_shared.business import BusinessProfile
from bookpay_shared.db import Connection

from booking_service.domain.model import Account, Admin, Booking, BookingPayment, Customer

Row = Any  # asyncpg.Record


BUSINESS_COLUMNS = (
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
"""BusinessProfile's fields, each stored in the column of the same name."""


def _business_values(account: Account) -> list[object]:
    return [getattr(account.business, c) for c in BUSINESS_COLUMNS]


async def insert_account(conn: Connection, account: Account) -> None:
    columns = ", ".join(BUSINESS_COLUMNS)
    values = ", ".join(f"${i}" for i in range(6, 6 + len(BUSINESS_COLUMNS)))
    await conn.execute(
        f"""INSERT INTO accounts (id, name, notify_admins_on_link_payment, version,
                                 send_receipts, {columns})
            VALUES ($1, $2, $3, $4, $5, {values})""",
        account.id,
        account.name,
        account.notify_admins_on_link_payment,
        account.version,
        account.send_receipts,
        *_business_values(account),
    )
    await _replace_admins(conn, account)


async def update_account(conn: Connection, account: Account) -> None:
    updates = ", ".join(f"{c} = ${i}" for i, c in enumerate(BUSINESS_COLUMNS, start=6))
    await conn.execute(
        f"""UPDATE accounts SET name = $2, notify_admins_on_link_payment = $3, version = $4,
            send_receipts = $5, {updates}, updated_at = now() WHERE id = $1""",
        account.id,
        account.name,
        account.notify_admins_on_link_payment,
        account.version,
        account.send_receipts,
        *_business_values(account),
    )
    await _replace_admins(conn, account)


async def _replace_admins(conn: Connection, account: Account) -> None:
    await conn.execute("DELETE FROM account_admins WHERE account_id = $1", account.id)
    await conn.executemany(
        "INSERT INTO account_admins (account_id, position, name, email) VALUES ($1, $2, $3, $4)",
        [(account.id, i, a.name, a.email) for i, a in enumerate(account.admins)],
    )


async def get_account(
    conn: Connection, account_id: uuid.UUID, *, for_update: bool = False
) -> Account | None:
    row = await conn.fetchrow(
        "SELECT * FROM accounts WHERE id = $1" + (" FOR UPDATE" if for_update else ""), account_id
    )
    if row is None:
        return None
    admins = await conn.fetch(
        "SELECT name, email FROM account_admins WHERE account_id = $1 ORDER BY position", account_id
    )
    return Account(
        id=row["id"],
        name=row["name"],
        admins=tuple(Admin(name=a["name"], email=a["email"]) for a in admins),
        notify_admins_on_link_payment=row["notify_admins_on_link_payment"],
        version=row["version"],
        business=BusinessProfile(**{c: row[c] for c in BUSINESS_COLUMNS}),
        send_receipts=row["send_receipts"],
    )


async def insert_customer(conn: Connection, customer: Customer) -> None:
    await conn.execute(
        "INSERT INTO customers (id, account_id, name, email, version) VALUES ($1, $2, $3, $4, $5)",
        customer.id,
        customer.account_id,
        customer.name,
        customer.email,
        customer.version,
    )


async def get_customer(
    conn: Connection, account_id: uuid.UUID, customer_id: uuid.UUID
) -> Customer | None:
    row = await conn.fetchrow(
        "SELECT * FROM customers WHERE id = $1 AND account_id = $2", customer_id, account_id
    )
    return None if row is None else _customer(row)


def _customer(row: Row) -> Customer:
    return Customer(
        id=row["id"],
        account_id=row["account_id"],
        name=row["name"],
        email=row["email"],
        version=row["version"],
    )


async def insert_booking(conn: Connection, booking: Booking) -> None:
    await conn.execute(
        """INSERT INTO bookings (id, account_id, customer_id, title, starts_at, amount, currency,
                                 amount_paid, version, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        booking.id,
        booking.account_id,
        booking.customer_id,
        booking.title,
        booking.starts_at,
        booking.amount,
        booking.currency,
        booking.amount_paid,
        booking.version,
        booking.created_at,
    )


async def get_booking(
    conn: Connection, account_id: uuid.UUID, booking_id: uuid.UUID
) -> Booking | None:
    row = await conn.fetchrow(
        "SELECT * FROM bookings WHERE id = $1 AND account_id = $2", booking_id, account_id
    )
    return None if row is None else _booking(row)


async def list_customer_bookings(conn: Connection, customer_id: uuid.UUID) -> list[Booking]:
    rows = await conn.fetch(
        "SELECT * FROM bookings WHERE customer_id = $1 ORDER BY starts_at, created_at", customer_id
    )
    return [_booking(r) for r in rows]


async def lock_bookings(
    conn: Connection,
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    booking_ids: Sequence[uuid.UUID],
) -> list[Booking]:
    """The charge's bookings that belong to its account and customer, locked for update."""
    rows = await conn.fetch(
        """SELECT * FROM bookings WHERE id = ANY($1::uuid[]) AND account_id = $2 AND customer_id = $3
           ORDER BY id FOR UPDATE""",
        list(booking_ids),
        account_id,
        customer_id,
    )
    return [_booking(r) for r in rows]


async def save_booking_payment(conn: Connection, booking: Booking, payment: BookingPayment) -> None:
    await conn.execute(
        "UPDATE bookings SET amount_paid = $2, version = $3 WHERE id = $1",
        booking.id,
        booking.amount_paid,
        booking.version,
    )
    await conn.execute(
        """INSERT INTO booking_payments (booking_id, charge_id, amount_applied, currency, method,
                                         stripe_payment_intent_id, applied_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        payment.booking_id,
        payment.charge_id,
        payment.amount_applied,
        payment.currency,
        payment.method,
        payment.stripe_payment_intent_id,
        payment.applied_at,
    )


async def save_booking_version(conn: Connection, booking: Booking) -> None:
    """Save a booking's new version when a payment changed nothing else on it."""
    await conn.execute(
        "UPDATE bookings SET version = $2 WHERE id = $1", booking.id, booking.version
    )


async def record_settled_charge(
    conn: Connection, booking_id: uuid.UUID, charge_id: uuid.UUID
) -> None:
    await conn.execute(
        "INSERT INTO settled_charges (booking_id, charge_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        booking_id,
        charge_id,
    )


async def settled_charge_ids(conn: Connection, booking_id: uuid.UUID) -> list[uuid.UUID]:
    """The charges applied to this booking (a zero share included), oldest first."""
    rows = await conn.fetch(
        "SELECT charge_id FROM settled_charges WHERE booking_id = $1 ORDER BY settled_at, charge_id",
        booking_id,
    )
    return [r["charge_id"] for r in rows]


async def record_received_payment(
    conn: Connection,
    *,
    charge_id: uuid.UUID,
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    amount: int,
    currency: str,
    unapplied_amount: int,
) -> bool:
    """Record a successful charge once; False when this charge was already applied."""
    inserted = await conn.fetchval(
        """INSERT INTO received_payments (charge_id, account_id, customer_id, amount, currency,
                                          unapplied_amount)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true""",
        charge_id,
        account_id,
        customer_id,
        amount,
        currency,
        unapplied_amount,
    )
    return bool(inserted)


async def list_booking_payments(conn: Connection, booking_id: uuid.UUID) -> list[BookingPayment]:
    return (await list_payments_of_bookings(conn, [booking_id])).get(booking_id, [])


async def list_payments_of_bookings(
    conn: Connection, booking_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[BookingPayment]]:
    """The payments applied to each of the bookings, oldest first (bookings without any are
    absent)."""
    rows = await conn.fetch(
        "SELECT * FROM booking_payments WHERE booking_id = ANY($1::uuid[]) ORDER BY applied_at, id",
        booking_ids,
    )
    found: dict[uuid.UUID, list[BookingPayment]] = {}
    for r in rows:
        found.setdefault(r["booking_id"], []).append(
            BookingPayment(
                booking_id=r["booking_id"],
                charge_id=r["charge_id"],
                amount_applied=r["amount_applied"],
                currency=r["currency"],
                method=r["method"],
                stripe_payment_intent_id=r["stripe_payment_intent_id"],
                applied_at=r["applied_at"],
            )
        )
    return found


def _booking(row: Row) -> Booking:
    return Booking(
        id=row["id"],
        account_id=row["account_id"],
        customer_id=row["customer_id"],
        title=row["title"],
        starts_at=row["starts_at"],
        amount=row["amount"],
        currency=row["currency"],
        amount_paid=row["amount_paid"],
        version=row["version"],
        created_at=row["created_at"],
    )
