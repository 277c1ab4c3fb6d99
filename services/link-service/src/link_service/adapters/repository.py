"""link-service's SQL: links, their history, account settings, Stripe connections."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bookpay_shared.db import Connection
from bookpay_shared.events import StripeConnectionChanged
from bookpay_shared.pagination import START, Cursor

from link_service.domain.links import Link, LinkOrigin, LinkState

_COLUMNS = """link_id, charge_id, account_id, customer_id, booking_ids, amount, currency, message,
    origin, state, expires_at, created_at, payment_intent_id, save_card, intent_settled,
    paid_at, closed_at, sent_count, payment_started_at, stripe_account_id,
    card_brand, card_last4"""


def _link(row: Any) -> Link:
    return Link(
        link_id=row["link_id"],
        charge_id=row["charge_id"],
        account_id=row["account_id"],
        customer_id=row["customer_id"],
        booking_ids=tuple(row["booking_ids"]),
        amount=row["amount"],
        currency=row["currency"],
        message=row["message"],
        origin=LinkOrigin(row["origin"]),
        state=LinkState(row["state"]),
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        payment_intent_id=row["payment_intent_id"],
        save_card=row["save_card"],
        intent_settled=row["intent_settled"],
        paid_at=row["paid_at"],
        closed_at=row["closed_at"],
        sent_count=row["sent_count"],
        payment_started_at=row["payment_started_at"],
        stripe_account_id=row["stripe_account_id"],
        card_brand=row["card_brand"],
        card_last4=row["card_last4"],
    )


async def insert_link(conn: Connection, link: Link, token_hash: bytes) -> bool:
    """Insert a new link; False when the charge has a link already."""
    inserted = await conn.fetchval(
        """INSERT INTO links (link_id, charge_id, account_id, customer_id, booking_ids, amount,
               currency, message, origin, state, token_hash, expires_at, created_at,
               payment_intent_id, stripe_account_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
           ON CONFLICT (charge_id) DO NOTHING RETURNING true""",
        link.link_id,
        link.charge_id,
        link.account_id,
        link.customer_id,
        list(link.booking_ids),
        link.amount,
        link.currency,
        link.message,
        link.origin.value,
        link.state.value,
        token_hash,
        link.expires_at,
        link.created_at,
        link.payment_intent_id,
        link.stripe_account_id,
    )
    return bool(inserted)


async def get_link(
    conn: Connection, link_id: uuid.UUID, *, for_update: bool = False
) -> Link | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM links WHERE link_id = $1{lock}", link_id)
    return _link(row) if row else None


async def get_link_by_replaced_token_hash(conn: Connection, token_hash: bytes) -> Link | None:
    """The link whose token a resend replaced with a newer one."""
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM links
            WHERE link_id = (SELECT link_id FROM replaced_link_tokens WHERE token_hash = $1)""",
        token_hash,
    )
    return _link(row) if row else None


async def get_link_by_token_hash(conn: Connection, token_hash: bytes) -> Link | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM links WHERE token_hash = $1", token_hash)
    return _link(row) if row else None


async def get_link_by_charge(conn: Connection, charge_id: uuid.UUID) -> Link | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM links WHERE charge_id = $1", charge_id)
    return _link(row) if row else None


@dataclass(frozen=True)
class Addressee:
    """Whom a link was sent to, as this service's projection of booking-service's customers
    knows them now."""

    name: str
    email: str


@dataclass(frozen=True)
class ListedLink:
    link: Link
    customer: Addressee | None
    """None while the customer is unknown to the projection (not read yet, or never will be)."""


_LINK_COLUMNS = ", ".join(f"l.{column.strip()}" for column in _COLUMNS.split(","))


async def list_links(
    conn: Connection,
    account_id: uuid.UUID,
    *,
    customer_id: uuid.UUID | None = None,
    charge_id: uuid.UUID | None = None,
    state: LinkState | None = None,
    limit: int = 100,
    after: Cursor = START,
) -> list[ListedLink]:
    """Newest first, from the link after `after` (see bookpay_shared.pagination), each with
    its customer's name and email (one query: a join with the projection of customers)."""
    rows = await conn.fetch(
        f"""SELECT {_LINK_COLUMNS}, c.name AS customer_name, c.email AS customer_email
            FROM links l
            LEFT JOIN known_customers c
                   ON c.customer_id = l.customer_id AND c.account_id = l.account_id
            WHERE l.account_id = $1 AND ($2::uuid IS NULL OR l.customer_id = $2)
              AND ($3::text IS NULL OR l.state = $3)
              AND ($7::uuid IS NULL OR l.charge_id = $7)
              AND (l.created_at, l.link_id) < ($5, $6)
            ORDER BY l.created_at DESC, l.link_id DESC LIMIT $4""",
        account_id,
        customer_id,
        state.value if state else None,
        limit,
        after.created_at,
        after.id,
        charge_id,
    )
    return [ListedLink(_link(r), _addressee(r)) for r in rows]


def _addressee(row: Any) -> Addressee | None:
    if row["customer_name"] is None:
        return None
    return Addressee(row["customer_name"], row["customer_email"])


async def get_addressee(conn: Connection, link: Link) -> Addressee | None:
    row = await conn.fetchrow(
        """SELECT name AS customer_name, email AS customer_email FROM known_customers
           WHERE customer_id = $1 AND account_id = $2""",
        link.customer_id,
        link.account_id,
    )
    return None if row is None else _addressee(row)


async def pin_stripe_account(conn: Connection, link_id: uuid.UUID, stripe_account_id: str) -> str:
    """Pin a link made before any connection was known here; the Stripe account it is pinned
    to (an earlier pin stays)."""
    pinned: str = await conn.fetchval(
        """UPDATE links SET stripe_account_id = coalesce(stripe_account_id, $2), updated_at = now()
           WHERE link_id = $1 RETURNING stripe_account_id""",
        link_id,
        stripe_account_id,
    )
    return pinned


async def save_link(conn: Connection, link: Link) -> None:
    """Write a link's mutable fields."""
    await conn.execute(
        """UPDATE links SET state = $2, payment_intent_id = $3, save_card = $4,
               intent_settled = $5, paid_at = $6, closed_at = $7, expires_at = $8,
               payment_started_at = $9, card_brand = $10, card_last4 = $11, updated_at = now()
           WHERE link_id = $1""",
        link.link_id,
        link.state.value,
        link.payment_intent_id,
        link.save_card,
        link.intent_settled,
        link.paid_at,
        link.closed_at,
        link.expires_at,
        link.payment_started_at,
        link.card_brand,
        link.card_last4,
    )


async def payment_started(conn: Connection, link_id: uuid.UUID, at: datetime) -> None:
    """The customer pressed Pay (the first time counts)."""
    await conn.execute(
        """UPDATE links SET payment_started_at = coalesce(payment_started_at, $2),
               updated_at = now() WHERE link_id = $1""",
        link_id,
        at,
    )


async def claim_intent_creation(
    conn: Connection, link_id: uuid.UUID, now: datetime, until: datetime
) -> bool:
    """Claim the creation of the link's PaymentIntent until `until`; False when it has one or
    another request's claim still holds."""
    claimed = await conn.fetchval(
        """UPDATE links SET intent_claimed_until = $3
           WHERE link_id = $1 AND payment_intent_id IS NULL
             AND (intent_claimed_until IS NULL OR intent_claimed_until <= $2)
           RETURNING true""",
        link_id,
        now,
        until,
    )
    return bool(claimed)


async def release_intent_claim(conn: Connection, link_id: uuid.UUID, until: datetime) -> None:
    """Give up a claim (only this one: `until` identifies it) after Stripe failed."""
    await conn.execute(
        """UPDATE links SET intent_claimed_until = NULL
           WHERE link_id = $1 AND intent_claimed_until = $2""",
        link_id,
        until,
    )


async def record_intent(
    conn: Connection, link_id: uuid.UUID, payment_intent_id: str, save_card: bool
) -> str | None:
    """Record the link's PaymentIntent unless it has one already; return the one recorded."""
    await conn.execute(
        """UPDATE links SET payment_intent_id = $2, save_card = $3, intent_claimed_until = NULL,
               updated_at = now()
           WHERE link_id = $1 AND payment_intent_id IS NULL""",
        link_id,
        payment_intent_id,
        save_card,
    )
    # A statement of its own: it sees what a concurrent request committed meanwhile.
    recorded: str | None = await conn.fetchval(
        "SELECT payment_intent_id FROM links WHERE link_id = $1", link_id
    )
    return recorded


async def set_save_card(
    conn: Connection, link_id: uuid.UUID, payment_intent_id: str, save_card: bool
) -> None:
    """What the link's PaymentIntent now says about saving the card."""
    await conn.execute(
        """UPDATE links SET save_card = $3, updated_at = now()
           WHERE link_id = $1 AND payment_intent_id = $2 AND state = 'active'
             AND save_card <> $3""",
        link_id,
        payment_intent_id,
        save_card,
    )


async def rotate_token(conn: Connection, link_id: uuid.UUID, token_hash: bytes) -> None:
    """A new token for the link; the one it replaces is kept as replaced."""
    await conn.execute(
        """INSERT INTO replaced_link_tokens (token_hash, link_id)
           SELECT token_hash, link_id FROM links WHERE link_id = $1
           ON CONFLICT (token_hash) DO NOTHING""",
        link_id,
    )
    await conn.execute(
        """UPDATE links SET token_hash = $2, sent_count = sent_count + 1, updated_at = now()
           WHERE link_id = $1""",
        link_id,
        token_hash,
    )


async def add_history(
    conn: Connection, link_id: uuid.UUID, state: LinkState, note: str, actor: str | None = None
) -> None:
    await conn.execute(
        "INSERT INTO link_history (link_id, state, note, actor) VALUES ($1, $2, $3, $4)",
        link_id,
        state.value,
        note,
        actor,
    )


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    state: str
    note: str
    actor: str | None


async def history(conn: Connection, link_id: uuid.UUID) -> list[HistoryEntry]:
    rows = await conn.fetch(
        "SELECT at, state, note, actor FROM link_history WHERE link_id = $1 ORDER BY id",
        link_id,
    )
    return [HistoryEntry(r["at"], r["state"], r["note"], r["actor"]) for r in rows]


async def links_to_expire(conn: Connection, now: datetime, limit: int = 500) -> list[uuid.UUID]:
    rows = await conn.fetch(
        """SELECT link_id FROM links WHERE state = 'active' AND expires_at <= $1
           ORDER BY expires_at LIMIT $2""",
        now,
        limit,
    )
    return [r["link_id"] for r in rows]


async def links_with_unsettled_intents(
    conn: Connection, checked_before: datetime, limit: int = 200
) -> list[uuid.UUID]:
    """Links whose PaymentIntent may still change, least recently checked first: those whose
    customer started paying on the page, and closed links whose PaymentIntent may be open."""
    rows = await conn.fetch(
        """SELECT link_id FROM links WHERE payment_intent_id IS NOT NULL AND NOT intent_settled
               AND (payment_started_at IS NOT NULL OR state <> 'active')
               AND (intent_checked_at IS NULL OR intent_checked_at < $1)
           ORDER BY intent_checked_at NULLS FIRST LIMIT $2""",
        checked_before,
        limit,
    )
    return [r["link_id"] for r in rows]


async def intent_checked(conn: Connection, link_id: uuid.UUID, at: datetime) -> None:
    await conn.execute("UPDATE links SET intent_checked_at = $2 WHERE link_id = $1", link_id, at)


async def forget_published_link_urls(conn: Connection) -> int:
    """Delete relayed PaymentLinkCreated rows from the outbox: their URL holds a token."""
    result: str = await conn.execute(
        """DELETE FROM outbox WHERE event_type = 'PaymentLinkCreated'
           AND published_at IS NOT NULL"""
    )
    return int(result.split()[-1])


# --- account settings and Stripe connections ----------------------------------------------


async def get_expiry_setting(conn: Connection, account_id: uuid.UUID) -> int | None:
    hours: int | None = await conn.fetchval(
        "SELECT expires_in_hours FROM link_settings WHERE account_id = $1", account_id
    )
    return hours


async def set_expiry_setting(conn: Connection, account_id: uuid.UUID, hours: int) -> None:
    await conn.execute(
        """INSERT INTO link_settings (account_id, expires_in_hours) VALUES ($1, $2)
           ON CONFLICT (account_id) DO UPDATE SET expires_in_hours = excluded.expires_in_hours,
               updated_at = now()""",
        account_id,
        hours,
    )


async def apply_connection(conn: Connection, event: StripeConnectionChanged) -> None:
    """Keep the newest version of an account's connection (redelivery and disorder are fine)."""
    await conn.execute(
        """INSERT INTO stripe_connections (account_id, stripe_account_id, version)
           VALUES ($1, $2, $3)
           ON CONFLICT (account_id) DO UPDATE SET stripe_account_id = excluded.stripe_account_id,
               version = excluded.version
           WHERE stripe_connections.version < excluded.version""",
        event.account_id,
        event.stripe_account_id,
        event.version,
    )


async def get_connection(conn: Connection, account_id: uuid.UUID) -> str | None:
    stripe_account: str | None = await conn.fetchval(
        "SELECT stripe_account_id FROM stripe_connections WHERE account_id = $1", account_id
    )
    return stripe_account
