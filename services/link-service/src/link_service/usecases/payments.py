"""The payment page's use cases, and keeping links in line with their PaymentIntents.

A link has at most one PaymentIntent. For a payment link, link-service creates it when the
customer first presses Pay, with an idempotency key derived from the link (a crash between
Stripe and our commit gets the same one back from Stripe). No row lock or connection is held
while Stripe answers: the request that creates it claims the link in the database for a while,
and a concurrent one (two tabs, a double click) waits for the PaymentIntent to be recorded, so
both get the same one. For an authentication fallback, it is the charge's own PaymentIntent,
made by charge-service. The amount, currency and bookings always come from our records; the
browser only chooses whether to save the card. A payment link whose bookings were paid some
other way in the meantime (they now owe less than the link asks) takes no payment.

Whether a link is paid is Stripe's answer, asked on the server: by the success page, by the
page on reload, and by the sweep for customers who pressed Pay but never came back to the
success page.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bookpay_shared import projections
from bookpay_shared.db import Connection

from link_service.adapters import repository as repo
from link_service.domain.links import (
    CONFIRMABLE_INTENT_STATES,
    PAID_INTENT_STATES,
    Link,
    LinkState,
    paid_elsewhere,
)
from link_service.domain.tokens import looks_like_token, token_hash
from link_service.usecases import links
from link_service.usecases.links import Deps
from link_service.usecases.ports import Intent, StripeRejected, StripeUnavailable

log = logging.getLogger(__name__)

_SWEEP_LOCK = 0x11_4C_57  # one sweep at a time per database


class NotPayable(Exception):
    """The link cannot take a payment now; `reason` says why, for the page (with the merchant's
    name when the page's message needs it)."""

    def __init__(self, reason: str, *, merchant: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.merchant = merchant


@dataclass(frozen=True)
class Page:
    """What the payment page shows."""

    link: Link
    state: LinkState
    """As the customer sees it (an active link past its expiry is expired)."""
    account: projections.KnownAccount | None
    customer: projections.KnownCustomer | None
    bookings: list[projections.KnownBooking]
    stripe_account: str | None
    """The connected Stripe account the page pays on (the link's; None: the merchant has no
    Stripe connection, the page takes no card)."""
    intent_status: str | None
    paid_elsewhere: bool = False
    """The bookings now owe less than the link asks (see `domain.paid_elsewhere`)."""

    @property
    def accepts_cards(self) -> bool:
        return self.stripe_account is not None


@dataclass(frozen=True)
class PaymentStart:
    status: str
    client_secret: str | None = field(repr=False)
    """For Stripe.js in the customer's browser only; never log or store it."""


async def find_link(deps: Deps, token: str) -> Link | None:
    if not looks_like_token(token):
        return None
    async with deps.pool.acquire() as conn:
        return await repo.get_link_by_token_hash(conn, token_hash(token))


async def find_replaced_link(deps: Deps, token: str) -> Link | None:
    """The link whose token `token` was, before a resend replaced it."""
    if not looks_like_token(token):
        return None
    async with deps.pool.acquire() as conn:
        return await repo.get_link_by_replaced_token_hash(conn, token_hash(token))


async def open_page(deps: Deps, link: Link) -> Page:
    link, intent = await reconcile(deps, link)
    async with deps.pool.acquire() as conn:
        account = await projections.get_account(conn, link.account_id)
        customer = await projections.get_customer(conn, link.account_id, link.customer_id)
        bookings = await projections.get_bookings(conn, link.account_id, list(link.booking_ids))
        stripe_account = link.stripe_account_id or await repo.get_connection(conn, link.account_id)
    return Page(
        link=link,
        state=link.state_at(deps.clock()),
        account=account,
        customer=customer,
        bookings=bookings,
        stripe_account=stripe_account,
        intent_status=intent.status if intent else None,
        paid_elsewhere=paid_elsewhere(link, _known_balances(link, bookings)),
    )


def _known_balances(link: Link, bookings: list[projections.KnownBooking]) -> list[int] | None:
    if {b.booking_id for b in bookings} != set(link.booking_ids):
        return None
    return [b.balance_due for b in bookings]


CLAIM_SECONDS = 90.0
"""How long one request may take to create a link's PaymentIntent before another may try: more
than the gateway's worst case (three attempts of up to 20 s each)."""
CLAIM_WAIT_SECONDS = 10.0
"""How long a request waits for another one creating the same PaymentIntent."""
_CLAIM_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class _Ready:
    """A link that may take a payment now, as read (and claimed) in one short transaction."""

    link: Link
    stripe_account: str
    merchant: str
    paid_elsewhere: bool
    claim: datetime | None
    """Set when this request claimed the creation of the PaymentIntent (until then)."""


async def start_payment(deps: Deps, link_id: uuid.UUID, save_card: bool) -> PaymentStart:
    """The PaymentIntent the page confirms with Stripe.js: created once, reused after.

    No row lock or database connection is held while Stripe answers. One PaymentIntent per link
    all the same: a request that has to create it first claims the link for a while (others
    wait for the PaymentIntent to be recorded), asks Stripe with the link's idempotency key,
    then records it only if the link has none yet, and uses whatever is recorded.
    """
    ready = await _ready_to_pay(deps, link_id)
    link = ready.link
    try:
        if ready.claim is not None:
            created = await _create_intent(deps, ready, save_card)
            link, intent = await _record_created(deps, ready, created, save_card)
        else:
            link, intent = await _existing_intent(deps, ready, save_card)
    except StripeUnavailable as exc:
        raise NotPayable("stripe_unavailable") from exc
    except StripeRejected as exc:
        log.error("link %s: Stripe refused its PaymentIntent: %s", link.link_id, exc)
        raise NotPayable("stripe_unavailable") from exc
    if (intent.amount, intent.currency) != (link.amount, link.currency):
        log.error("link %s: PaymentIntent %s does not match the link", link.link_id, intent.id)
        raise NotPayable("mismatch")
    if intent.status in CONFIRMABLE_INTENT_STATES:
        if ready.paid_elsewhere:
            raise NotPayable("paid_elsewhere", merchant=ready.merchant)
        return PaymentStart(intent.status, intent.client_secret)
    return PaymentStart(intent.status, None)


async def _ready_to_pay(deps: Deps, link_id: uuid.UUID) -> _Ready:
    """Check that the link can take a payment and note that the customer pressed Pay; when it
    has no PaymentIntent yet, claim its creation, or wait (briefly) for the request that holds
    the claim to record it."""
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + CLAIM_WAIT_SECONDS
    while True:
        async with deps.pool.acquire() as conn, conn.transaction():
            link = await repo.get_link(conn, link_id, for_update=True)
            assert link is not None
            now = deps.clock()
            state = link.state_at(now)
            if state is not LinkState.ACTIVE:
                raise NotPayable(state.value)
            stripe_account = await _pinned_account(conn, link)
            if stripe_account is None:
                raise NotPayable("not_connected")
            link = replace(link, stripe_account_id=stripe_account)
            account = await projections.get_account(conn, link.account_id)
            merchant = account.name if account else "the business"
            short = paid_elsewhere(link, await _balances_due(conn, link))
            if link.payment_intent_id is None and short:
                raise NotPayable("paid_elsewhere", merchant=merchant)
            if link.payment_started_at is None:
                await repo.payment_started(conn, link.link_id, now)
                link = replace(link, payment_started_at=now)
            claim: datetime | None = None
            if link.payment_intent_id is None:
                until = now + timedelta(seconds=CLAIM_SECONDS)
                if await repo.claim_intent_creation(conn, link.link_id, now, until):
                    claim = until
            if link.payment_intent_id is not None or claim is not None:
                return _Ready(link, stripe_account, merchant, short, claim)
        if loop.time() >= give_up_at:
            log.warning("link %s: its PaymentIntent is still being created elsewhere", link_id)
            raise NotPayable("stripe_unavailable")
        await asyncio.sleep(_CLAIM_POLL_SECONDS)


async def _pinned_account(conn: Connection, link: Link) -> str | None:
    """The Stripe account the link pays on: the one it was pinned to when it was made, or for a
    link made before any connection was known here, the account's connection now (pinned from
    then on). Never the account's current connection when the link has its own."""
    if link.stripe_account_id is not None:
        return link.stripe_account_id
    connected_to = await repo.get_connection(conn, link.account_id)
    if connected_to is None:
        return None
    return await repo.pin_stripe_account(conn, link.link_id, connected_to)


async def _balances_due(conn: Connection, link: Link) -> list[int] | None:
    """The balance due of each of the link's bookings in our projection (None: not all known)."""
    bookings = await projections.get_bookings(conn, link.account_id, list(link.booking_ids))
    return _known_balances(link, bookings)


async def _create_intent(deps: Deps, ready: _Ready, save_card: bool) -> Intent:
    """Ask Stripe for the link's PaymentIntent (the claim is given up if that fails)."""
    link = ready.link
    assert ready.claim is not None
    try:
        return await deps.stripe.create_intent(
            stripe_account=ready.stripe_account,
            amount=link.amount,
            currency=link.currency,
            metadata=link.intent_metadata(save_card),
            save_card=save_card,
            idempotency_key=link.intent_idempotency_key,
        )
    except BaseException:
        async with deps.pool.acquire() as conn:
            await repo.release_intent_claim(conn, link.link_id, ready.claim)
        raise


async def _record_created(
    deps: Deps, ready: _Ready, intent: Intent, save_card: bool
) -> tuple[Link, Intent]:
    """Record the PaymentIntent just created, unless the link has one already (a request whose
    claim ran out while Stripe was slow may have recorded another): then use that one, and
    cancel ours, which nobody has seen."""
    async with deps.pool.acquire() as conn, conn.transaction():
        recorded = await repo.record_intent(conn, ready.link.link_id, intent.id, save_card)
        link = await repo.get_link(conn, ready.link.link_id)
    assert link is not None and recorded is not None
    if recorded != intent.id:
        log.warning(
            "link %s: PaymentIntent %s was recorded first; %s is cancelled",
            link.link_id,
            recorded,
            intent.id,
        )
        await _discard(deps, ready.stripe_account, intent)
        intent = await deps.stripe.retrieve_intent(
            stripe_account=ready.stripe_account, intent_id=recorded
        )
    _still_payable(deps, link)
    return link, intent


async def _existing_intent(deps: Deps, ready: _Ready, save_card: bool) -> tuple[Link, Intent]:
    """The link's PaymentIntent as Stripe has it, saving the card or not as asked now."""
    link = ready.link
    assert link.payment_intent_id is not None
    intent = await deps.stripe.retrieve_intent(
        stripe_account=ready.stripe_account, intent_id=link.payment_intent_id
    )
    wants_change = intent.save_card != save_card and intent.status in CONFIRMABLE_INTENT_STATES
    if link.intent_is_ours and wants_change and not ready.paid_elsewhere:
        intent = await deps.stripe.update_intent(
            stripe_account=ready.stripe_account,
            intent_id=intent.id,
            metadata=link.intent_metadata(save_card),
            save_card=save_card,
        )
    saves = intent.save_card if link.intent_is_ours else False
    if saves != link.save_card:
        async with deps.pool.acquire() as conn:
            await repo.set_save_card(conn, link.link_id, intent.id, saves)
        link = replace(link, save_card=saves)
    return link, intent


def _still_payable(deps: Deps, link: Link) -> None:
    """A link closed while Stripe was answering takes no payment (the sweep cancels the
    PaymentIntent of a closed link)."""
    state = link.state_at(deps.clock())
    if state is not LinkState.ACTIVE:
        raise NotPayable(state.value)


async def _discard(deps: Deps, stripe_account: str, intent: Intent) -> None:
    try:
        await deps.stripe.cancel_intent(stripe_account=stripe_account, intent_id=intent.id)
    except (StripeUnavailable, StripeRejected) as exc:
        log.warning("PaymentIntent %s not cancelled: %s", intent.id, exc)


async def reconcile(deps: Deps, link: Link) -> tuple[Link, Intent | None]:
    """Ask Stripe about the link's PaymentIntent (unless it is known to be final) and record
    what it says: paid, or (for a link no longer active) stopped."""
    if not link.intent_needs_checking or link.payment_intent_id is None:
        return link, None
    async with deps.pool.acquire() as conn:
        stripe_account = await _pinned_account(conn, link)
        await repo.intent_checked(conn, link.link_id, deps.clock())
    if stripe_account is None:
        return link, None
    try:
        intent = await deps.stripe.retrieve_intent(
            stripe_account=stripe_account, intent_id=link.payment_intent_id
        )
        if intent.status not in PAID_INTENT_STATES and link.state is not LinkState.ACTIVE:
            intent = await _stop(deps, link, intent, stripe_account)
    except (StripeUnavailable, StripeRejected) as exc:
        log.warning("link %s: PaymentIntent not checked: %s", link.link_id, exc)
        return link, None
    return await _record(deps, link, intent), intent


async def _stop(deps: Deps, link: Link, intent: Intent, stripe_account: str) -> Intent:
    """Cancel the PaymentIntent of a cancelled or expired link (only one link-service made:
    a fallback's PaymentIntent belongs to charge-service)."""
    if not link.intent_is_ours or intent.status not in CONFIRMABLE_INTENT_STATES:
        return intent
    try:
        return await deps.stripe.cancel_intent(stripe_account=stripe_account, intent_id=intent.id)
    except StripeRejected:
        # Paid in the meantime? Then Stripe's answer wins.
        return await deps.stripe.retrieve_intent(stripe_account=stripe_account, intent_id=intent.id)


async def _record(deps: Deps, link: Link, intent: Intent) -> Link:
    paid = intent.status in PAID_INTENT_STATES
    final = intent.status == "canceled" or (
        link.state is not LinkState.ACTIVE and not link.intent_is_ours
    )
    if not paid and not final:
        return link
    async with deps.pool.acquire() as conn, conn.transaction():
        current = await repo.get_link(conn, link.link_id, for_update=True)
        assert current is not None
        if paid:
            return await links.mark_paid(
                conn,
                current,
                intent.id,
                save_card=intent.save_card and current.intent_is_ours,
                now=deps.clock(),
                note="Stripe reports the payment succeeded",
                card=intent.card,
            )
        if current.intent_settled:
            return current
        settled = replace(current, intent_settled=True)
        await repo.save_link(conn, settled)
        note = (
            "PaymentIntent canceled"
            if intent.status == "canceled"
            else "link closed; its PaymentIntent is left to charge-service"
        )
        await repo.add_history(conn, link.link_id, settled.state, note)
        return settled


async def cancel(deps: Deps, account_id: uuid.UUID, link_id: uuid.UUID, actor: str) -> Link:
    """Cancel a link, then its PaymentIntent. If the customer paid in the meantime, the link is
    paid and the cancellation refused."""
    link = await links.cancel(deps, account_id, link_id, actor)
    link, _ = await reconcile(deps, link)
    if link.state is LinkState.PAID:
        raise links.LinkConflict("the customer paid the link before it could be cancelled")
    return link


# --- the sweep -----------------------------------------------------------------------------


async def sweep_once(deps: Deps, recheck_after_seconds: float) -> None:
    """Expire links past their expiry; check PaymentIntents that may have changed."""
    async with deps.pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _SWEEP_LOCK):
            return
        try:
            await _expire_due(deps, conn)
            checked_before = deps.clock() - timedelta(seconds=recheck_after_seconds)
            ids = await repo.links_with_unsettled_intents(conn, checked_before)
            for link_id in ids:
                link = await repo.get_link(conn, link_id)
                if link is not None:
                    await reconcile(deps, link)
            await repo.forget_published_link_urls(conn)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _SWEEP_LOCK)


async def _expire_due(deps: Deps, conn: Connection) -> None:
    now = deps.clock()
    for link_id in await repo.links_to_expire(conn, now):
        async with deps.pool.acquire() as tx_conn, tx_conn.transaction():
            link = await repo.get_link(tx_conn, link_id, for_update=True)
            if link is not None and link.state is LinkState.ACTIVE and link.expires_at <= now:
                await links.close(tx_conn, link, LinkState.EXPIRED, "expired", now, None)
