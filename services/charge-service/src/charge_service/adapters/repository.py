"""charge-service's SQL. Functions take a connection (the caller owns the transaction) and
return domain objects."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from bookpay_shared.db import Connection
from bookpay_shared.events import ChargeMethod, FailureReason
from bookpay_shared.pagination import START, Cursor

from charge_service.domain.model import (
    BalanceClaim,
    Charge,
    ChargeFilter,
    ChargeStatus,
    Failure,
    HistoryEntry,
    SavedCard,
    StripeConnection,
    amount_claimed,
)

Row = Any  # asyncpg.Record

# --- Stripe connections -------------------------------------------------------------------


async def account_connected_to(conn: Connection, stripe_account_id: str) -> uuid.UUID | None:
    """The account connected to this Stripe account now, if any."""
    account_id: uuid.UUID | None = await conn.fetchval(
        "SELECT account_id FROM stripe_connections WHERE stripe_account_id = $1",
        stripe_account_id,
    )
    return account_id


async def record_connection(
    conn: Connection, account_id: uuid.UUID, stripe_account_id: str, connected_by: str
) -> StripeConnection | None:
    """Make `stripe_account_id` the account's connection and add it to the history; None when
    it is the connection already (nothing changes). Call inside a transaction."""
    current = await conn.fetchrow(
        "SELECT stripe_account_id FROM stripe_connections WHERE account_id = $1 FOR UPDATE",
        account_id,
    )
    if current is not None and current["stripe_account_id"] == stripe_account_id:
        return None
    row = await conn.fetchrow(
        """INSERT INTO stripe_connections (account_id, stripe_account_id, connected_by)
           VALUES ($1, $2, $3)
           ON CONFLICT (account_id) DO UPDATE
           SET stripe_account_id = excluded.stripe_account_id,
               connected_by = excluded.connected_by, connected_at = now(), updated_at = now(),
               version = stripe_connections.version + 1
           RETURNING version, connected_at""",
        account_id,
        stripe_account_id,
        connected_by,
    )
    assert row is not None
    change = StripeConnection(
        account_id=account_id,
        stripe_account_id=stripe_account_id,
        version=row["version"],
        connected_by=connected_by,
        connected_at=row["connected_at"],
        previous_stripe_account_id=current["stripe_account_id"] if current else None,
    )
    await conn.execute(
        """INSERT INTO stripe_connection_changes (account_id, version, stripe_account_id,
               previous_stripe_account_id, connected_by, connected_at)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        account_id,
        change.version,
        stripe_account_id,
        change.previous_stripe_account_id,
        connected_by,
        change.connected_at,
    )
    return change


async def connection_history(conn: Connection, account_id: uuid.UUID) -> list[StripeConnection]:
    """The account's connections, newest first (the first is the current one)."""
    rows = await conn.fetch(
        """SELECT account_id, stripe_account_id, version, connected_by, connected_at,
                  previous_stripe_account_id
           FROM stripe_connection_changes WHERE account_id = $1 ORDER BY version DESC""",
        account_id,
    )
    return [StripeConnection(**dict(row)) for row in rows]


async def was_connected(conn: Connection, account_id: uuid.UUID, stripe_account_id: str) -> bool:
    """Whether the account is or was connected to this Stripe account."""
    found: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM stripe_connection_changes
                          WHERE account_id = $1 AND stripe_account_id = $2)""",
        account_id,
        stripe_account_id,
    )
    return found


async def get_connection(conn: Connection, account_id: uuid.UUID) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT stripe_account_id FROM stripe_connections WHERE account_id = $1", account_id
    )
    return value


# --- Stripe customers and saved cards -----------------------------------------------------


async def get_stripe_customer(
    conn: Connection, customer_id: uuid.UUID, stripe_account_id: str
) -> str | None:
    value: str | None = await conn.fetchval(
        """SELECT stripe_customer_id FROM stripe_customers
           WHERE customer_id = $1 AND stripe_account_id = $2""",
        customer_id,
        stripe_account_id,
    )
    return value


async def insert_stripe_customer(
    conn: Connection, customer_id: uuid.UUID, stripe_account_id: str, stripe_customer_id: str
) -> str:
    """Record the Stripe customer; return the one recorded (an earlier one wins a race)."""
    await conn.execute(
        """INSERT INTO stripe_customers (customer_id, stripe_account_id, stripe_customer_id)
           VALUES ($1, $2, $3) ON CONFLICT DO NOTHING""",
        customer_id,
        stripe_account_id,
        stripe_customer_id,
    )
    return await get_stripe_customer(conn, customer_id, stripe_account_id) or stripe_customer_id


async def list_cards(
    conn: Connection, customer_id: uuid.UUID, stripe_account_id: str
) -> list[SavedCard]:
    rows = await conn.fetch(
        """SELECT * FROM payment_methods
           WHERE customer_id = $1 AND stripe_account_id = $2 AND removed_at IS NULL
           ORDER BY created_at, payment_method_id""",
        customer_id,
        stripe_account_id,
    )
    return [_card(r) for r in rows]


async def insert_card(conn: Connection, card: SavedCard) -> None:
    await conn.execute(
        """INSERT INTO payment_methods (payment_method_id, account_id, customer_id,
               stripe_account_id, brand, last4, exp_month, exp_year, fingerprint, is_default)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, false)
           ON CONFLICT (payment_method_id) DO UPDATE SET removed_at = NULL""",
        card.payment_method_id,
        card.account_id,
        card.customer_id,
        card.stripe_account_id,
        card.brand,
        card.last4,
        card.exp_month,
        card.exp_year,
        card.fingerprint,
    )


async def get_card(
    conn: Connection, customer_id: uuid.UUID, payment_method_id: str
) -> SavedCard | None:
    row = await conn.fetchrow(
        """SELECT * FROM payment_methods
           WHERE payment_method_id = $1 AND customer_id = $2 AND removed_at IS NULL""",
        payment_method_id,
        customer_id,
    )
    return None if row is None else _card(row)


async def remove_card(conn: Connection, payment_method_id: str) -> None:
    await conn.execute(
        """UPDATE payment_methods SET removed_at = now(), is_default = false
           WHERE payment_method_id = $1""",
        payment_method_id,
    )


async def record_consent(
    conn: Connection,
    *,
    payment_method_id: str,
    charge_id: uuid.UUID,
    customer_id: uuid.UUID,
    text: str,
    given_by: str,
    given_at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO card_consents (payment_method_id, charge_id, customer_id, consent_text,
                                      given_by, given_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (payment_method_id) DO NOTHING""",
        payment_method_id,
        charge_id,
        customer_id,
        text,
        given_by,
        given_at,
    )


async def make_default_card(
    conn: Connection, customer_id: uuid.UUID, stripe_account_id: str, payment_method_id: str
) -> None:
    await conn.execute(
        """UPDATE payment_methods SET is_default = false
           WHERE customer_id = $1 AND stripe_account_id = $2 AND is_default""",
        customer_id,
        stripe_account_id,
    )
    await conn.execute(
        "UPDATE payment_methods SET is_default = true WHERE payment_method_id = $1",
        payment_method_id,
    )


def _card(row: Row) -> SavedCard:
    return SavedCard(
        payment_method_id=row["payment_method_id"],
        account_id=row["account_id"],
        customer_id=row["customer_id"],
        stripe_account_id=row["stripe_account_id"],
        brand=row["brand"],
        last4=row["last4"],
        exp_month=row["exp_month"],
        exp_year=row["exp_year"],
        fingerprint=row["fingerprint"],
        is_default=row["is_default"],
        created_at=row["created_at"],
    )


# --- charges ----------------------------------------------------------------------------------


async def insert_charge(conn: Connection, charge: Charge) -> bool:
    """Insert a new charge; False when one with this charge_id exists already."""
    inserted = await conn.fetchval(
        """INSERT INTO charges (charge_id, account_id, customer_id, booking_ids, amount, currency,
               method, payment_method_id, save_card, message, requested_by, status,
               save_card_consent, fallback_to_link, requested_method, requested_payment_method_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
           ON CONFLICT (charge_id) DO NOTHING RETURNING true""",
        charge.charge_id,
        charge.account_id,
        charge.customer_id,
        list(charge.booking_ids),
        charge.amount,
        charge.currency,
        charge.method.value,
        charge.payment_method_id,
        charge.save_card,
        charge.message,
        charge.requested_by,
        charge.status.value,
        charge.save_card_consent,
        charge.fallback_to_link,
        (charge.requested_method or charge.method).value,
        charge.requested_payment_method_id,
    )
    return bool(inserted)


async def get_charge(
    conn: Connection, charge_id: uuid.UUID, *, for_update: bool = False
) -> Charge | None:
    row = await conn.fetchrow(
        "SELECT * FROM charges WHERE charge_id = $1" + (" FOR UPDATE" if for_update else ""),
        charge_id,
    )
    return None if row is None else _charge(row)


async def list_charges(
    conn: Connection,
    account_id: uuid.UUID,
    only: ChargeFilter,
    *,
    limit: int,
    after: Cursor = START,
) -> list[Charge]:
    """The account's charges that pass `only`, newest first, from the charge after `after`
    (see bookpay_shared.pagination): served by charges_account_newest, or by
    charges_customer_newest for one customer."""
    rows = await conn.fetch(
        """SELECT * FROM charges
           WHERE account_id = $1 AND ($2::uuid IS NULL OR customer_id = $2)
             AND ($3::text[] IS NULL OR status = ANY($3))
             AND ($4::text IS NULL OR method = $4)
             AND ($5::timestamptz IS NULL OR created_at >= $5)
             AND ($6::timestamptz IS NULL OR created_at < $6)
             AND ($10::text[] IS NULL OR (status = 'failed' AND failure_reason = ANY($10)))
             AND (created_at, charge_id) < ($7, $8)
           ORDER BY created_at DESC, charge_id DESC LIMIT $9""",
        account_id,
        only.customer_id,
        [s.value for s in only.statuses] or None,
        only.method.value if only.method else None,
        only.created_from,
        only.created_to,
        after.created_at,
        after.id,
        limit,
        [r.value for r in only.failure_reasons] or None,
    )
    return [_charge(r) for r in rows]


async def save_charge(conn: Connection, charge: Charge) -> None:
    """Persist a charge's mutable state (status, attempt, Stripe ids, card, failure)."""
    failure = charge.failure
    await conn.execute(
        """UPDATE charges SET status = $2, attempts = $3, stripe_account_id = $4,
               stripe_payment_intent_id = $5, card_brand = $6, card_last4 = $7,
               failure_reason = $8, failure_message = $9, decline_code = $10, paid_at = $11,
               payment_method_id = $12, method = $13, save_card = $14, save_card_consent = $15,
               saved_payment_method_id = $16, updated_at = now()
           WHERE charge_id = $1""",
        charge.charge_id,
        charge.status.value,
        charge.attempts,
        charge.stripe_account_id,
        charge.stripe_payment_intent_id,
        charge.card_brand,
        charge.card_last4,
        failure.reason.value if failure else None,
        failure.message if failure else None,
        failure.decline_code if failure else None,
        charge.paid_at,
        charge.payment_method_id,
        charge.method.value,
        charge.save_card,
        charge.save_card_consent,
        charge.saved_payment_method_id,
    )


async def amount_in_progress(
    conn: Connection, booking_ids: tuple[uuid.UUID, ...], *, exclude: uuid.UUID
) -> int:
    """What other charges for any of these bookings take from their balance due as our
    projection shows it: charges not settled yet (requested, processing, awaiting the customer)
    and charges paid but not yet applied to all their bookings by booking-service."""
    rows = await conn.fetch(
        """SELECT c.charge_id, c.amount, c.status, c.awaits_settlement,
                  (SELECT count(*) FROM known_bookings kb
                   WHERE kb.booking_id = ANY(c.booking_ids)
                     AND NOT (c.charge_id = ANY(kb.settled_charge_ids))) AS bookings_not_settled
           FROM charges c
           WHERE c.booking_ids && $1::uuid[] AND c.charge_id <> $2
             AND (c.status IN ('requested', 'processing', 'awaiting_customer')
                  OR (c.status = 'succeeded' AND c.awaits_settlement))""",
        list(booking_ids),
        exclude,
    )
    return amount_claimed(
        [
            BalanceClaim(
                charge_id=r["charge_id"],
                amount=r["amount"],
                status=ChargeStatus(r["status"]),
                awaits_settlement=r["awaits_settlement"],
                bookings_not_settled=r["bookings_not_settled"],
            )
            for r in rows
        ]
    )


async def record_over_collected(conn: Connection, charge_id: uuid.UUID, amount: int) -> bool:
    """Record what the charge took beyond its bookings' balance due, once; False when it was
    recorded before."""
    updated = await conn.fetchval(
        """UPDATE charges SET over_collected_amount = $2, updated_at = now()
           WHERE charge_id = $1 AND over_collected_amount IS NULL RETURNING true""",
        charge_id,
        amount,
    )
    return bool(updated)


async def charges_to_reconcile(
    conn: Connection, *, idle_seconds: float, limit: int
) -> list[Charge]:
    """Charges left in flight: attempts not finished first, then customer payments whose
    PaymentIntent is known but whose outcome has not been seen."""
    rows = await conn.fetch(
        """SELECT * FROM charges
           WHERE (status = 'processing'
                  OR (status = 'awaiting_customer' AND stripe_payment_intent_id IS NOT NULL))
             AND updated_at < now() - make_interval(secs => $1)
           ORDER BY status = 'processing' DESC, updated_at LIMIT $2""",
        idle_seconds,
        limit,
    )
    return [_charge(r) for r in rows]


async def touch_charge(conn: Connection, charge_id: uuid.UUID) -> None:
    await conn.execute("UPDATE charges SET updated_at = now() WHERE charge_id = $1", charge_id)


async def record_webhook_event(
    conn: Connection, event_id: str, event_type: str, payment_intent_id: str | None
) -> bool:
    """Remember a Stripe event; False when it was received before."""
    inserted = await conn.fetchval(
        """INSERT INTO stripe_webhook_events (event_id, event_type, payment_intent_id)
           VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING true""",
        event_id,
        event_type,
        payment_intent_id,
    )
    return bool(inserted)


async def webhook_event_seen(conn: Connection, event_id: str) -> bool:
    seen: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM stripe_webhook_events WHERE event_id = $1)", event_id
    )
    return seen


async def set_payment_intent(conn: Connection, charge_id: uuid.UUID, payment_intent_id: str) -> str:
    """Record the charge's PaymentIntent once; return the one recorded."""
    await conn.execute(
        """UPDATE charges SET stripe_payment_intent_id = $2, updated_at = now()
           WHERE charge_id = $1 AND stripe_payment_intent_id IS NULL""",
        charge_id,
        payment_intent_id,
    )
    recorded: str = await conn.fetchval(
        "SELECT stripe_payment_intent_id FROM charges WHERE charge_id = $1", charge_id
    )
    return recorded


async def add_history(
    conn: Connection, charge_id: uuid.UUID, status: ChargeStatus, note: str, **detail: Any
) -> None:
    await conn.execute(
        "INSERT INTO charge_history (charge_id, status, note, detail) VALUES ($1, $2, $3, $4::jsonb)",
        charge_id,
        status.value,
        note,
        json.dumps(detail, default=str),
    )


async def get_history(conn: Connection, charge_id: uuid.UUID) -> list[HistoryEntry]:
    rows = await conn.fetch(
        "SELECT at, status, note, detail FROM charge_history WHERE charge_id = $1 ORDER BY id",
        charge_id,
    )
    return [HistoryEntry(r["at"], r["status"], r["note"], json.loads(r["detail"])) for r in rows]


def _charge(row: Row) -> Charge:
    failure = None
    if row["failure_reason"]:
        failure = Failure(
            FailureReason(row["failure_reason"]), row["failure_message"] or "", row["decline_code"]
        )
    return Charge(
        charge_id=row["charge_id"],
        account_id=row["account_id"],
        customer_id=row["customer_id"],
        booking_ids=tuple(row["booking_ids"]),
        amount=row["amount"],
        currency=row["currency"],
        method=ChargeMethod(row["method"]),
        payment_method_id=row["payment_method_id"],
        save_card=row["save_card"],
        message=row["message"],
        requested_by=row["requested_by"],
        save_card_consent=row["save_card_consent"],
        fallback_to_link=row["fallback_to_link"],
        status=ChargeStatus(row["status"]),
        attempts=row["attempts"],
        stripe_account_id=row["stripe_account_id"],
        stripe_payment_intent_id=row["stripe_payment_intent_id"],
        card_brand=row["card_brand"],
        card_last4=row["card_last4"],
        failure=failure,
        paid_at=row["paid_at"],
        saved_payment_method_id=row["saved_payment_method_id"],
        requested_at=row["created_at"],
        updated_at=row["updated_at"],
        requested_method=ChargeMethod(row["requested_method"]),
        requested_payment_method_id=row["requested_payment_method_id"],
        over_collected=row["over_collected_amount"],
    )
