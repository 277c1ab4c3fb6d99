"""link-service use cases driven by events and by staff: create, pay, cancel, resend links.

Every change of a link is one transaction that also writes its history and, through the
outbox, the events it causes. Handlers are idempotent: a link is unique per charge, and an
event already processed is recorded in the inbox.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from bookpay_shared import inbox, outbox
from bookpay_shared.db import Connection, Pool
from bookpay_shared.events import (
    ChargeAccepted,
    PaymentFailed,
    PaymentSucceeded,
    StripeConnectionChanged,
    utcnow,
)
from bookpay_shared.pagination import START, Cursor

from link_service.adapters import repository as repo
from link_service.domain.links import (
    Link,
    LinkState,
    check_transition,
    expiry,
    new_link,
    starts_link,
)
from link_service.domain.tokens import new_token, token_hash
from link_service.usecases.ports import CardShown, StripeGateway

log = logging.getLogger(__name__)

SERVICE = "link-service"


@dataclass(frozen=True)
class Deps:
    pool: Pool
    stripe: StripeGateway
    public_base_url: str
    default_expiry_hours: int
    clock: Callable[[], datetime] = utcnow

    def url(self, token: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/pay/{token}"


class LinkNotFound(LookupError):
    pass


class LinkConflict(Exception):
    """The link's state does not allow this (paid, expired or cancelled)."""


# --- creating links -------------------------------------------------------------------------


async def create_link(deps: Deps, event: ChargeAccepted | PaymentFailed) -> None:
    """A link for a payment-link charge, or for a card-on-file charge whose card needs the
    customer to authenticate. Anything else is not for link-service."""
    if not starts_link(event):
        return
    token = new_token()
    now = deps.clock()
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await inbox.claim(conn, f"{SERVICE}.{event.TOPIC}", event.event_id):
            return
        if await repo.get_link_by_charge(conn, event.charge_id) is not None:
            log.info("charge %s has a payment link already", event.charge_id)
            return
        requested = event.link_expires_in_hours if isinstance(event, ChargeAccepted) else None
        account_hours = await repo.get_expiry_setting(conn, event.account_id)
        expires_at = expiry(now, requested, account_hours, deps.default_expiry_hours)
        connected_to = await repo.get_connection(conn, event.account_id)
        link = new_link(event, now=now, expires_at=expires_at, connected_to=connected_to)
        await repo.insert_link(conn, link, token_hash(token))
        actor = event.requested_by if isinstance(event, ChargeAccepted) else "charge-service"
        note = (
            "link created"
            if isinstance(event, ChargeAccepted)
            else "link created: the card needs the customer to authenticate"
        )
        await repo.add_history(conn, link.link_id, link.state, note, actor)
        await outbox.enqueue(conn, link.created_event(deps.url(token)))
    log.info("payment link %s created for charge %s", link.link_id, link.charge_id)


# --- paying ---------------------------------------------------------------------------------


async def mark_paid(
    conn: Connection,
    link: Link,
    payment_intent_id: str,
    *,
    save_card: bool,
    now: datetime,
    note: str,
    card: CardShown | None = None,
) -> Link:
    """Record that the link is paid and announce it (PaymentLinkPaid) exactly once. The card
    it was paid with, for the receipt, is kept when first named (it may come later, with
    charge-service's PaymentSucceeded)."""
    if link.state is LinkState.PAID:
        if card is not None and link.card_last4 is None:
            link = replace(link, card_brand=card.brand, card_last4=card.last4)
            await repo.save_link(conn, link)
        return link
    check_transition(link.state, LinkState.PAID)
    if link.payment_intent_id not in (None, payment_intent_id):
        log.warning(
            "link %s: paid with PaymentIntent %s, not its own %s",
            link.link_id,
            payment_intent_id,
            link.payment_intent_id,
        )
    paid = replace(
        link,
        state=LinkState.PAID,
        paid_at=now,
        payment_intent_id=link.payment_intent_id or payment_intent_id,
        intent_settled=True,
        save_card=save_card,
        card_brand=card.brand if card else link.card_brand,
        card_last4=card.last4 if card else link.card_last4,
    )
    await repo.save_link(conn, paid)
    await repo.add_history(conn, link.link_id, paid.state, note)
    await outbox.enqueue(conn, paid.paid_event(payment_intent_id, save_card))
    log.info("payment link %s paid (charge %s)", link.link_id, link.charge_id)
    return paid


async def record_payment_succeeded(deps: Deps, event: PaymentSucceeded) -> None:
    """charge-service recorded the charge as paid: a link for it is paid too."""
    async with deps.pool.acquire() as conn, conn.transaction():
        found = await repo.get_link_by_charge(conn, event.charge_id)
        if found is None:
            return
        link = await repo.get_link(conn, found.link_id, for_update=True)
        assert link is not None
        await mark_paid(
            conn,
            link,
            event.stripe_payment_intent_id,
            save_card=link.save_card,
            now=deps.clock(),
            note="charge-service recorded the payment",
            card=CardShown(event.card_brand, event.card_last4)
            if event.card_brand and event.card_last4
            else None,
        )


async def close(
    conn: Connection, link: Link, state: LinkState, note: str, now: datetime, actor: str | None
) -> Link:
    """Expire or cancel an active link, and announce it (PaymentLinkClosed) in the same
    transaction. Only an active link can close, so this happens once per link; a payment Stripe
    reports later still makes it paid (`mark_paid`, PaymentLinkPaid)."""
    check_transition(link.state, state)
    closed = replace(link, state=state, closed_at=now)
    await repo.save_link(conn, closed)
    await repo.add_history(conn, link.link_id, state, note, actor)
    await outbox.enqueue(conn, closed.closed_event())
    log.info("payment link %s %s (charge %s)", link.link_id, state, link.charge_id)
    return closed


# --- staff ----------------------------------------------------------------------------------


async def get_link(pool: Pool, account_id: uuid.UUID, link_id: uuid.UUID) -> Link:
    async with pool.acquire() as conn:
        return _owned(await repo.get_link(conn, link_id), account_id)


def _owned(link: Link | None, account_id: uuid.UUID) -> Link:
    if link is None or link.account_id != account_id:
        raise LinkNotFound("payment link not found")
    return link


async def cancel(deps: Deps, account_id: uuid.UUID, link_id: uuid.UUID, actor: str) -> Link:
    """Cancel an active link: its page stops taking payments at once (the caller then cancels
    its PaymentIntent in Stripe, see `payments.cancel`)."""
    now = deps.clock()
    async with deps.pool.acquire() as conn, conn.transaction():
        link = _owned(await repo.get_link(conn, link_id, for_update=True), account_id)
        state = link.state_at(now)
        if state is LinkState.CANCELLED:
            return link
        if state is not LinkState.ACTIVE:
            raise LinkConflict(f"the payment link is {state}; it cannot be cancelled")
        return await close(conn, link, LinkState.CANCELLED, "cancelled", now, actor)


async def resend(deps: Deps, account_id: uuid.UUID, link_id: uuid.UUID, actor: str) -> Link:
    """Send an active link again: a new token (the previous URL stops working) and a new
    PaymentLinkCreated for the same link and charge. No new charge, no new PaymentIntent."""
    token = new_token()
    now = deps.clock()
    async with deps.pool.acquire() as conn, conn.transaction():
        link = _owned(await repo.get_link(conn, link_id, for_update=True), account_id)
        state = link.state_at(now)
        if state is not LinkState.ACTIVE:
            raise LinkConflict(f"the payment link is {state}; it cannot be sent again")
        await repo.rotate_token(conn, link.link_id, token_hash(token))
        await repo.add_history(
            conn, link.link_id, state, "sent again; the previous URL no longer works", actor
        )
        await outbox.enqueue(conn, link.created_event(deps.url(token)))
    return replace(link, sent_count=link.sent_count + 1)


async def list_links(
    pool: Pool,
    account_id: uuid.UUID,
    *,
    customer_id: uuid.UUID | None = None,
    charge_id: uuid.UUID | None = None,
    state: LinkState | None = None,
    limit: int = 100,
    after: Cursor = START,
) -> list[repo.ListedLink]:
    async with pool.acquire() as conn:
        return await repo.list_links(
            conn,
            account_id,
            customer_id=customer_id,
            charge_id=charge_id,
            state=state,
            limit=limit,
            after=after,
        )


async def addressee(pool: Pool, link: Link) -> repo.Addressee | None:
    """The link's customer's name and email, as the projection knows them now."""
    async with pool.acquire() as conn:
        return await repo.get_addressee(conn, link)


async def history(pool: Pool, link_id: uuid.UUID) -> list[repo.HistoryEntry]:
    async with pool.acquire() as conn:
        return await repo.history(conn, link_id)


async def set_expiry_setting(pool: Pool, account_id: uuid.UUID, hours: int) -> None:
    async with pool.acquire() as conn:
        await repo.set_expiry_setting(conn, account_id, hours)


async def get_expiry_setting(pool: Pool, account_id: uuid.UUID) -> int | None:
    async with pool.acquire() as conn:
        return await repo.get_expiry_setting(conn, account_id)


async def apply_connection(pool: Pool, event: StripeConnectionChanged) -> None:
    async with pool.acquire() as conn:
        await repo.apply_connection(conn, event)
