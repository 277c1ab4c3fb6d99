"""notification-service's SQL. Functions take a connection (the caller owns the transaction) and
return domain objects."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bookpay_shared.db import Connection
from bookpay_shared.pagination import START, Cursor
from bookpay_shared.tracing import current_carrier

from notification_service.domain.notifications import (
    BookingCharge,
    Delivery,
    DeliveryStatus,
    LinkPayment,
    NewNotification,
    NotificationKind,
    PaidCharge,
    ReceiptDecision,
    Recipient,
    RenderedEmail,
    Sender,
)

Row = Any  # asyncpg.Record


# --- notifications -------------------------------------------------------------------------


async def add_notifications(conn: Connection, notifications: list[NewNotification]) -> None:
    """Write each notification unless its (dedupe_key, recipient) was written before, with the
    trace context active now (its sends continue that trace)."""
    carrier = current_carrier()
    trace_context = json.dumps(carrier) if carrier else None
    await conn.executemany(
        """INSERT INTO notifications (id, dedupe_key, kind, account_id, charge_id, recipient,
                                      recipient_name, subject, html, text, link_url,
                                      customer_id, trace_context, sender_name, reply_to)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14, $15)
           ON CONFLICT (dedupe_key, lower(recipient)) DO NOTHING""",
        [
            (
                n.id,
                n.dedupe_key,
                n.kind.value,
                n.account_id,
                n.charge_id,
                n.recipient.email,
                n.recipient.name,
                n.email.subject,
                n.email.html,
                n.email.text,
                n.link_url,
                n.customer_id,
                trace_context,
                n.sender.name if n.sender else None,
                n.sender.reply_to if n.sender else None,
            )
            for n in notifications
        ],
    )


async def claim_due(conn: Connection, *, limit: int, lease_seconds: float) -> list[Delivery]:
    """Claim up to `limit` emails due now (pending ones, and sending ones whose lease ended):
    each becomes `sending` with its attempt counted, leased for `lease_seconds`. Taking over
    an ended lease counts the earlier attempt as interrupted (it may have gone out)."""
    rows = await conn.fetch(
        """WITH due AS (
               SELECT id FROM notifications
               WHERE (status = 'pending' AND next_attempt_at <= now())
                  OR (status = 'sending' AND lease_until <= now())
               ORDER BY next_attempt_at, created_at
               LIMIT $1
               FOR UPDATE SKIP LOCKED)
           UPDATE notifications n
           SET status = 'sending', attempts = n.attempts + 1,
               interrupted_attempts = n.interrupted_attempts + (n.status = 'sending')::int,
               lease_until = now() + make_interval(secs => $2)
           FROM due WHERE n.id = due.id
           RETURNING n.*""",
        limit,
        lease_seconds,
    )
    return [_delivery(r) for r in rows]


def _delivery(r: Row) -> Delivery:
    return Delivery(
        id=r["id"],
        kind=NotificationKind(r["kind"]),
        account_id=r["account_id"],
        charge_id=r["charge_id"],
        recipient=Recipient(r["recipient"], r["recipient_name"]),
        email=RenderedEmail(r["subject"], r["html"], r["text"]),
        attempt=r["attempts"],
        link_url=r["link_url"],
        trace_context=json.loads(r["trace_context"]) if r["trace_context"] else {},
        sender=None if r["sender_name"] is None else Sender(r["sender_name"], r["reply_to"]),
    )


_STILL_MINE = "id = $1 AND status = 'sending' AND attempts = $2"
"""The attempt still holds the row (its lease was not taken over by another sender)."""


async def mark_sent(conn: Connection, delivery: Delivery, reply: str) -> bool:
    """Sent: the email's secret link is forgotten (its stored bodies hold it redacted)."""
    return await _updated(
        conn,
        f"""UPDATE notifications SET status = 'sent', sent_at = now(), smtp_reply = $3,
                lease_until = NULL, link_url = NULL WHERE {_STILL_MINE}""",
        delivery,
        reply,
    )


async def reschedule(conn: Connection, delivery: Delivery, delay: float, reason: str) -> bool:
    return await _updated(
        conn,
        f"""UPDATE notifications SET status = 'pending', lease_until = NULL, last_error = $4,
                next_attempt_at = now() + make_interval(secs => $3) WHERE {_STILL_MINE}""",
        delivery,
        delay,
        reason,
    )


async def mark_failed(conn: Connection, delivery: Delivery, reason: str) -> bool:
    """Failed for good: the email's secret link is forgotten too."""
    return await _updated(
        conn,
        f"""UPDATE notifications SET status = 'failed', failed_at = now(), last_error = $3,
                lease_until = NULL, link_url = NULL WHERE {_STILL_MINE}""",
        delivery,
        reason,
    )


async def _updated(conn: Connection, sql: str, delivery: Delivery, *args: object) -> bool:
    result = await conn.execute(sql, delivery.id, delivery.attempt, *args)
    return str(result).endswith(" 1")


@dataclass(frozen=True)
class NotificationView:
    """One notification as the deliveries endpoint lists it."""

    notification_id: uuid.UUID
    kind: str
    charge_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    recipient: str
    subject: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    failed_at: datetime | None


async def list_notifications(
    conn: Connection,
    account_id: uuid.UUID,
    *,
    status: DeliveryStatus | None,
    charge_id: uuid.UUID | None,
    limit: int,
    after: Cursor = START,
    customer_id: uuid.UUID | None = None,
) -> list[NotificationView]:
    """Newest first, from the notification after `after` (see bookpay_shared.pagination):
    served by notifications_account_paged, or notifications_customer_paged for a customer."""
    rows = await conn.fetch(
        """SELECT * FROM notifications
           WHERE account_id = $1 AND ($2::text IS NULL OR status = $2)
             AND ($3::uuid IS NULL OR charge_id = $3)
             AND ($7::uuid IS NULL OR customer_id = $7)
             AND (created_at, id) < ($5, $6)
           ORDER BY created_at DESC, id DESC LIMIT $4""",
        account_id,
        None if status is None else status.value,
        charge_id,
        limit,
        after.created_at,
        after.id,
        customer_id,
    )
    return [_view(r) for r in rows]


def _view(r: Row) -> NotificationView:
    return NotificationView(
        notification_id=r["id"],
        kind=r["kind"],
        charge_id=r["charge_id"],
        customer_id=r["customer_id"],
        recipient=r["recipient"],
        subject=r["subject"],
        status=r["status"],
        attempts=r["attempts"],
        last_error=r["last_error"],
        created_at=r["created_at"],
        next_attempt_at=r["next_attempt_at"] if r["status"] == "pending" else None,
        sent_at=r["sent_at"],
        failed_at=r["failed_at"],
    )


# --- link payments and the bookings they paid ----------------------------------------------


async def lock_charge(conn: Connection, charge_id: uuid.UUID) -> None:
    """Serialize, until the transaction ends, everything done about one charge's payment."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text, 0))", charge_id
    )


async def add_link_payment(conn: Connection, p: LinkPayment) -> None:
    await conn.execute(
        """INSERT INTO link_payments (charge_id, account_id, merchant_name, customer_name,
               customer_email, booking_ids, amount, currency, stripe_payment_intent_id, paid_at,
               admins, customer_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12)
           ON CONFLICT (charge_id) DO NOTHING""",
        p.charge_id,
        p.account_id,
        p.merchant_name,
        p.customer_name,
        p.customer_email,
        list(p.booking_ids),
        p.amount,
        p.currency,
        p.stripe_payment_intent_id,
        p.paid_at,
        json.dumps([{"name": a.name, "email": a.email} for a in p.admins]),
        p.customer_id,
    )


async def get_unnotified_link_payment(conn: Connection, charge_id: uuid.UUID) -> LinkPayment | None:
    row = await conn.fetchrow(
        "SELECT * FROM link_payments WHERE charge_id = $1 AND notified_at IS NULL", charge_id
    )
    return None if row is None else _link_payment(row)


def _link_payment(r: Row) -> LinkPayment:
    return LinkPayment(
        charge_id=r["charge_id"],
        account_id=r["account_id"],
        merchant_name=r["merchant_name"],
        customer_name=r["customer_name"],
        customer_email=r["customer_email"],
        booking_ids=tuple(r["booking_ids"]),
        amount=r["amount"],
        currency=r["currency"],
        stripe_payment_intent_id=r["stripe_payment_intent_id"],
        paid_at=r["paid_at"],
        admins=tuple(Recipient(a["email"], a["name"]) for a in json.loads(r["admins"])),
        customer_id=r["customer_id"],
    )


async def mark_link_payment_notified(conn: Connection, charge_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE link_payments SET notified_at = now() WHERE charge_id = $1", charge_id
    )


async def waiting_link_payments(
    conn: Connection, *, older_than_seconds: float, limit: int
) -> list[uuid.UUID]:
    """Link payments still waiting for BookingCharged events after `older_than_seconds`."""
    rows = await conn.fetch(
        """SELECT charge_id FROM link_payments
           WHERE notified_at IS NULL AND received_at <= now() - make_interval(secs => $1)
           ORDER BY received_at LIMIT $2""",
        older_than_seconds,
        limit,
    )
    return [r["charge_id"] for r in rows]


async def add_booking_charge(
    conn: Connection, c: BookingCharge, *, account_id: uuid.UUID, currency: str, at: datetime
) -> None:
    await conn.execute(
        """INSERT INTO booking_charges (charge_id, booking_id, account_id, booking_status,
               amount_applied, balance_due, currency, charged_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
        c.charge_id,
        c.booking_id,
        account_id,
        c.booking_status,
        c.amount_applied,
        c.balance_due,
        currency,
        at,
    )


async def booking_charges(conn: Connection, charge_id: uuid.UUID) -> list[BookingCharge]:
    rows = await conn.fetch(
        "SELECT * FROM booking_charges WHERE charge_id = $1 ORDER BY charged_at, booking_id",
        charge_id,
    )
    return [
        BookingCharge(
            charge_id=r["charge_id"],
            booking_id=r["booking_id"],
            booking_status=r["booking_status"],
            amount_applied=r["amount_applied"],
            balance_due=r["balance_due"],
        )
        for r in rows
    ]


# --- paid charges and their receipts -------------------------------------------------------


async def add_paid_charge(conn: Connection, c: PaidCharge) -> None:
    """Keep a paid charge until its receipt is decided; the same charge again changes nothing."""
    await conn.execute(
        """INSERT INTO receipts (charge_id, account_id, customer_id, booking_ids, amount,
               currency, method, stripe_payment_intent_id, card_brand, card_last4, paid_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (charge_id) DO NOTHING""",
        c.charge_id,
        c.account_id,
        c.customer_id,
        list(c.booking_ids),
        c.amount,
        c.currency,
        c.method,
        c.stripe_payment_intent_id,
        c.card_brand,
        c.card_last4,
        c.paid_at,
    )


@dataclass(frozen=True)
class WaitingReceipt:
    charge: PaidCharge
    waited_seconds: float
    """How long ago the charge was received."""


async def get_waiting_receipt(conn: Connection, charge_id: uuid.UUID) -> WaitingReceipt | None:
    """The paid charge, if its receipt is not decided yet."""
    row = await conn.fetchrow(
        """SELECT *, extract(epoch FROM now() - received_at)::float8 AS waited
           FROM receipts WHERE charge_id = $1 AND decided_at IS NULL""",
        charge_id,
    )
    if row is None:
        return None
    charge = PaidCharge(
        charge_id=row["charge_id"],
        account_id=row["account_id"],
        customer_id=row["customer_id"],
        booking_ids=tuple(row["booking_ids"]),
        amount=row["amount"],
        currency=row["currency"],
        method=row["method"],
        stripe_payment_intent_id=row["stripe_payment_intent_id"],
        card_brand=row["card_brand"],
        card_last4=row["card_last4"],
        paid_at=row["paid_at"],
    )
    return WaitingReceipt(charge, row["waited"])


async def decide_receipt(conn: Connection, charge_id: uuid.UUID, decision: ReceiptDecision) -> None:
    await conn.execute(
        "UPDATE receipts SET decided_at = now(), decision = $2 WHERE charge_id = $1",
        charge_id,
        decision.value,
    )


async def waiting_receipts(conn: Connection, *, limit: int) -> list[uuid.UUID]:
    """Paid charges whose receipt is not decided yet, the longest waiting first."""
    rows = await conn.fetch(
        """SELECT charge_id FROM receipts WHERE decided_at IS NULL
           ORDER BY received_at LIMIT $1""",
        limit,
    )
    return [r["charge_id"] for r in rows]
