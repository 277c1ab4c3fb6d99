"""link-service's use cases on real PostgreSQL with an in-memory Stripe: links closed exactly
once (PaymentLinkClosed through the outbox), one PaymentIntent per link without holding a row
lock or a connection while Stripe answers, and no payment for bookings paid in the meantime."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bookpay_shared import projections
from bookpay_shared.db import Pool
from bookpay_shared.events import (
    AccountStateChanged,
    BookingStateChanged,
    BookingStatus,
    ChargeAccepted,
    ChargeMethod,
    CustomerStateChanged,
    FailureReason,
    PaymentFailed,
    StripeConnectionChanged,
)
from link_service.adapters import repository as repo
from link_service.usecases import links, payments
from link_service.usecases.links import Deps
from link_service.usecases.ports import Intent, StripeUnavailable

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ACCOUNT, CUSTOMER = uuid.uuid4(), uuid.uuid4()
B1, B2 = uuid.uuid4(), uuid.uuid4()
STRIPE_ACCOUNT = "acct_test_links"
_ids = itertools.count(1)


@dataclass
class FakeStripe:
    """PaymentIntents in memory. Like localstripe, it ignores idempotency keys unless told
    otherwise; `gate`, when given, holds every create until it is set."""

    honours_idempotency_keys: bool = False
    gate: asyncio.Event | None = None
    fail_creates: int = 0
    intents: dict[str, Intent] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    creates: int = 0
    cancelled: list[str] = field(default_factory=list)
    create_started: asyncio.Event = field(default_factory=asyncio.Event)

    async def create_intent(
        self,
        *,
        stripe_account: str,
        amount: int,
        currency: str,
        metadata: Mapping[str, str],
        save_card: bool,
        idempotency_key: str,
    ) -> Intent:
        self.creates += 1
        self.create_started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_creates:
            self.fail_creates -= 1
            raise StripeUnavailable("Stripe unavailable (APIConnectionError)")
        if self.honours_idempotency_keys and idempotency_key in self.by_key:
            return self.intents[self.by_key[idempotency_key]]
        intent_id = f"pi_{next(_ids)}"
        intent = Intent(
            id=intent_id,
            status="requires_payment_method",
            amount=amount,
            currency=currency,
            metadata=dict(metadata),
            client_secret=f"{intent_id}_secret_{uuid.uuid4().hex}",
        )
        self.intents[intent_id] = intent
        self.by_key[idempotency_key] = intent_id
        return intent

    async def retrieve_intent(self, *, stripe_account: str, intent_id: str) -> Intent:
        return self.intents[intent_id]

    async def update_intent(
        self, *, stripe_account: str, intent_id: str, metadata: Mapping[str, str], save_card: bool
    ) -> Intent:
        updated = replace(self.intents[intent_id], metadata=dict(metadata))
        self.intents[intent_id] = updated
        return updated

    async def cancel_intent(self, *, stripe_account: str, intent_id: str) -> Intent:
        canceled = replace(self.intents[intent_id], status="canceled")
        self.intents[intent_id] = canceled
        self.cancelled.append(intent_id)
        return canceled

    def succeed(self, intent_id: str) -> None:
        self.intents[intent_id] = replace(self.intents[intent_id], status="succeeded")


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now


def deps(pool: Pool, stripe: FakeStripe, clock: Clock | None = None) -> Deps:
    return Deps(
        pool=pool,
        stripe=stripe,
        public_base_url="https://pay.example.com",
        default_expiry_hours=168,
        clock=clock or Clock(),
    )


async def known(pool: Pool, *, balances: tuple[int, int] = (5000, 7500)) -> None:
    """What booking-service and charge-service told link-service (state events)."""
    async with pool.acquire() as conn:
        await projections.apply_account(
            conn,
            AccountStateChanged(
                correlation_id=ACCOUNT,
                account_id=ACCOUNT,
                version=1,
                name="Harbour Kayak Tours",
                admins=[],
                notify_admins_on_link_payment=True,
            ),
        )
        await repo.apply_connection(
            conn,
            StripeConnectionChanged(
                correlation_id=ACCOUNT,
                account_id=ACCOUNT,
                stripe_account_id=STRIPE_ACCOUNT,
                version=1,
            ),
        )
    await set_balances(pool, balances, version=1)


async def set_balances(pool: Pool, balances: tuple[int, int], *, version: int) -> None:
    async with pool.acquire() as conn:
        for booking_id, amount, balance in ((B1, 5000, balances[0]), (B2, 7500, balances[1])):
            await projections.apply_booking(
                conn,
                BookingStateChanged(
                    correlation_id=booking_id,
                    booking_id=booking_id,
                    account_id=ACCOUNT,
                    customer_id=CUSTOMER,
                    version=version,
                    title="Sunset paddle",
                    starts_at=datetime(2027, 5, 1, 9, tzinfo=UTC),
                    amount=amount,
                    currency="usd",
                    amount_paid=amount - balance,
                    balance_due=balance,
                    status=BookingStatus.UNPAID if balance else BookingStatus.CHARGED_IN_FULL,
                ),
            )


def charge_accepted(amount: int = 12500) -> ChargeAccepted:
    charge_id = uuid.uuid4()
    return ChargeAccepted(
        correlation_id=charge_id,
        charge_id=charge_id,
        account_id=ACCOUNT,
        customer_id=CUSTOMER,
        booking_ids=[B1, B2],
        amount=amount,
        currency="usd",
        method=ChargeMethod.PAYMENT_LINK,
        requested_by="front desk",
    )


def authentication_needed() -> PaymentFailed:
    charge_id = uuid.uuid4()
    return PaymentFailed(
        correlation_id=charge_id,
        charge_id=charge_id,
        account_id=ACCOUNT,
        customer_id=CUSTOMER,
        booking_ids=[B1, B2],
        amount=12500,
        currency="usd",
        method=ChargeMethod.CARD_ON_FILE,
        reason=FailureReason.AUTHENTICATION_REQUIRED,
        message="The bank wants the customer",
        retryable=False,
        stripe_payment_intent_id="pi_fallback",
        next_action="payment_link",
    )


def with_fallback_intent(stripe: FakeStripe) -> FakeStripe:
    """The PaymentIntent charge-service made for the card that needs authentication."""
    stripe.intents["pi_fallback"] = Intent(
        "pi_fallback", "requires_action", 12500, "usd", {}, client_secret="pi_fallback_secret_x"
    )
    return stripe


async def new_link(d: Deps, event: ChargeAccepted | PaymentFailed | None = None) -> uuid.UUID:
    event = event or charge_accepted()
    await links.create_link(d, event)
    async with d.pool.acquire() as conn:
        link = await repo.get_link_by_charge(conn, event.charge_id)
    assert link is not None
    return link.link_id


async def published(pool: Pool, event_type: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT message_key, payload FROM outbox WHERE event_type = $1 ORDER BY id", event_type
    )
    return [{"key": r["message_key"], **json.loads(r["payload"])} for r in rows]


# --- staff lists ---------------------------------------------------------------------------


async def test_listed_links_show_their_customer_once_known_and_one_charges_link(
    pool: Pool,
) -> None:
    await known(pool)
    clock = Clock()
    d = deps(pool, FakeStripe(), clock)
    first, second = charge_accepted(), charge_accepted(3000)
    first_link = await new_link(d, first)
    clock.now += timedelta(seconds=1)  # newest first needs two moments, not one
    second_link = await new_link(d, second)

    before = await links.list_links(pool, ACCOUNT)
    async with pool.acquire() as conn:
        await projections.apply_customer(
            conn,
            CustomerStateChanged(
                correlation_id=CUSTOMER,
                customer_id=CUSTOMER,
                account_id=ACCOUNT,
                version=1,
                name="Ada Lovelace",
                email="ada@example.com",
            ),
        )
    after = await links.list_links(pool, ACCOUNT)
    only = await links.list_links(pool, ACCOUNT, charge_id=second.charge_id)

    assert [f.link.link_id for f in before] == [second_link, first_link]
    assert [f.customer for f in before] == [None, None]
    ada = repo.Addressee("Ada Lovelace", "ada@example.com")
    assert [f.customer for f in after] == [ada, ada]
    assert [(f.link.link_id, f.customer) for f in only] == [(second_link, ada)]
    assert await links.list_links(pool, ACCOUNT, charge_id=uuid.uuid4()) == []
    assert await links.list_links(pool, uuid.uuid4(), charge_id=second.charge_id) == []


# --- PaymentLinkClosed -----------------------------------------------------------------------


async def test_a_cancelled_link_is_announced_once(pool: Pool) -> None:
    await known(pool)
    d = deps(pool, FakeStripe())
    event = charge_accepted()
    link_id = await new_link(d, event)

    await payments.cancel(d, ACCOUNT, link_id, "Grace")
    await payments.cancel(d, ACCOUNT, link_id, "Grace")

    [closed] = await published(pool, "PaymentLinkClosed")
    assert closed["key"] == str(CUSTOMER)
    assert (closed["link_id"], closed["charge_id"], closed["reason"]) == (
        str(link_id),
        str(event.charge_id),
        "cancelled",
    )
    assert (closed["account_id"], closed["customer_id"]) == (str(ACCOUNT), str(CUSTOMER))
    assert closed["correlation_id"] == str(event.charge_id)


async def test_the_sweep_announces_expired_links_fallbacks_included(pool: Pool) -> None:
    await known(pool)
    clock = Clock()
    d = deps(pool, with_fallback_intent(FakeStripe()), clock)
    normal = await new_link(d)
    fallback = await new_link(d, authentication_needed())
    clock.now += timedelta(days=8)

    await payments.sweep_once(d, recheck_after_seconds=0)
    await payments.sweep_once(d, recheck_after_seconds=0)

    closed = await published(pool, "PaymentLinkClosed")
    assert sorted((c["link_id"], c["reason"]) for c in closed) == sorted(
        [(str(normal), "expired"), (str(fallback), "expired")]
    )


async def test_a_closed_link_paid_after_all_is_announced_paid_not_closed_again(
    pool: Pool,
) -> None:
    await known(pool)
    stripe = FakeStripe()
    clock = Clock()
    d = deps(pool, stripe, clock)
    link_id = await new_link(d)
    started = await payments.start_payment(d, link_id, save_card=False)
    assert started.status == "requires_payment_method"
    async with pool.acquire() as conn:
        link = await repo.get_link(conn, link_id)
    assert link is not None and link.payment_intent_id is not None
    stripe.succeed(link.payment_intent_id)  # the customer confirmed just before the expiry
    clock.now += timedelta(days=8)

    await payments.sweep_once(d, recheck_after_seconds=0)
    await payments.sweep_once(d, recheck_after_seconds=0)

    assert [c["reason"] for c in await published(pool, "PaymentLinkClosed")] == ["expired"]
    [paid] = await published(pool, "PaymentLinkPaid")
    assert paid["stripe_payment_intent_id"] == link.payment_intent_id
    async with pool.acquire() as conn:
        final = await repo.get_link(conn, link_id)
    assert final is not None and final.state.value == "paid"


async def test_a_refused_cancel_announces_nothing(pool: Pool) -> None:
    await known(pool)
    clock = Clock()
    d = deps(pool, FakeStripe(), clock)
    link_id = await new_link(d)
    clock.now += timedelta(days=8)  # expired, not yet swept

    with pytest.raises(links.LinkConflict):
        await payments.cancel(d, ACCOUNT, link_id, "Grace")

    assert await published(pool, "PaymentLinkClosed") == []


# --- one PaymentIntent per link, no lock held while Stripe answers -----------------------------


async def test_two_requests_at_once_make_one_payment_intent_without_holding_the_row(
    pool: Pool,
) -> None:
    await known(pool)
    gate = asyncio.Event()
    stripe = FakeStripe(gate=gate)
    d = deps(pool, stripe)
    link_id = await new_link(d)

    first = asyncio.create_task(payments.start_payment(d, link_id, save_card=False))
    await asyncio.wait_for(stripe.create_started.wait(), 5)
    async with pool.acquire() as conn, conn.transaction():
        # The request does not hold the link's row (nor a transaction) while Stripe answers...
        row = await conn.fetchrow(
            "SELECT intent_claimed_until FROM links WHERE link_id = $1 FOR UPDATE NOWAIT", link_id
        )
        assert row["intent_claimed_until"] is not None  # ...it holds a claim.
    busy = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND state = 'idle in transaction'"
    )
    assert busy == 0
    second = asyncio.create_task(payments.start_payment(d, link_id, save_card=False))
    await asyncio.sleep(0.5)  # the second one waits for the first one's PaymentIntent
    assert not second.done()
    gate.set()
    a, b = await asyncio.gather(first, second)

    assert stripe.creates == 1
    assert a.client_secret is not None and a.client_secret == b.client_secret
    async with pool.acquire() as conn:
        link = await repo.get_link(conn, link_id)
    assert link is not None and link.payment_intent_id in stripe.intents
    assert link.payment_started_at is not None
    assert await pool.fetchval(
        "SELECT intent_claimed_until IS NULL FROM links WHERE link_id = $1", link_id
    )


async def test_a_claim_that_ran_out_gives_way_to_the_payment_intent_recorded_first(
    pool: Pool,
) -> None:
    await known(pool)
    gate = asyncio.Event()
    slow = FakeStripe(gate=gate)
    clock = Clock()
    link_id = await new_link(deps(pool, slow, clock))
    stuck = asyncio.create_task(payments.start_payment(deps(pool, slow, clock), link_id, False))
    await asyncio.wait_for(slow.create_started.wait(), 5)

    later = Clock(clock.now + timedelta(seconds=payments.CLAIM_SECONDS + 1))
    slow.gate = None  # Stripe answers the second request at once
    fresh = await payments.start_payment(deps(pool, slow, later), link_id, False)
    gate.set()
    late = await stuck

    assert slow.creates == 2  # localstripe ignores idempotency keys: two were made...
    assert late.client_secret == fresh.client_secret  # ...but both pages confirm the first
    [discarded] = slow.cancelled
    async with pool.acquire() as conn:
        link = await repo.get_link(conn, link_id)
    assert link is not None and link.payment_intent_id != discarded


async def test_a_failed_create_gives_up_its_claim(pool: Pool) -> None:
    await known(pool)
    stripe = FakeStripe(fail_creates=1)
    d = deps(pool, stripe)
    link_id = await new_link(d)

    with pytest.raises(payments.NotPayable) as refused:
        await payments.start_payment(d, link_id, save_card=False)
    assert refused.value.reason == "stripe_unavailable"
    started = await payments.start_payment(d, link_id, save_card=True)

    assert started.client_secret is not None
    assert stripe.creates == 2
    async with pool.acquire() as conn:
        link = await repo.get_link(conn, link_id)
    assert link is not None and link.save_card


async def test_stripe_returns_the_same_payment_intent_for_the_same_key(pool: Pool) -> None:
    await known(pool)
    stripe = FakeStripe(honours_idempotency_keys=True)
    d = deps(pool, stripe)
    link_id = await new_link(d)

    first = await payments.start_payment(d, link_id, save_card=False)
    again = await payments.start_payment(d, link_id, save_card=True)

    assert first.client_secret == again.client_secret
    assert stripe.creates == 1
    [intent] = stripe.intents.values()
    assert intent.metadata["save_card"] == "true"


async def test_a_link_cancelled_while_stripe_answers_takes_no_payment(pool: Pool) -> None:
    await known(pool)
    gate = asyncio.Event()
    stripe = FakeStripe(gate=gate)
    d = deps(pool, stripe)
    link_id = await new_link(d)
    paying = asyncio.create_task(payments.start_payment(d, link_id, save_card=False))
    await asyncio.wait_for(stripe.create_started.wait(), 5)

    await payments.cancel(d, ACCOUNT, link_id, "Grace")  # not blocked by the Stripe call
    gate.set()

    with pytest.raises(payments.NotPayable) as refused:
        await paying
    assert refused.value.reason == "cancelled"
    await payments.sweep_once(d, recheck_after_seconds=0)
    assert list(stripe.cancelled) == list(stripe.intents)  # the sweep cancelled it


# --- bookings paid in the meantime ----------------------------------------------------------


async def test_no_payment_intent_for_bookings_paid_in_the_meantime(pool: Pool) -> None:
    await known(pool)
    stripe = FakeStripe()
    d = deps(pool, stripe)
    link_id = await new_link(d)
    await set_balances(pool, (0, 7500), version=2)  # the first booking was paid by card on file

    with pytest.raises(payments.NotPayable) as refused:
        await payments.start_payment(d, link_id, save_card=False)

    assert (refused.value.reason, refused.value.merchant) == (
        "paid_elsewhere",
        "Harbour Kayak Tours",
    )
    assert stripe.creates == 0
    async with pool.acquire() as conn:
        link = await repo.get_link(conn, link_id)
    assert link is not None
    page = await payments.open_page(d, link)
    assert page.paid_elsewhere


async def test_an_existing_payment_intent_is_not_handed_out_once_the_bookings_are_paid(
    pool: Pool,
) -> None:
    await known(pool)
    stripe = FakeStripe()
    d = deps(pool, stripe)
    link_id = await new_link(d)
    await payments.start_payment(d, link_id, save_card=False)
    await set_balances(pool, (0, 0), version=2)

    with pytest.raises(payments.NotPayable) as refused:
        await payments.start_payment(d, link_id, save_card=False)

    assert refused.value.reason == "paid_elsewhere"


async def test_a_partial_payment_that_leaves_enough_due_does_not_stop_the_link(
    pool: Pool,
) -> None:
    await known(pool)
    d = deps(pool, FakeStripe())
    link_id = await new_link(d, charge_accepted(amount=5000))
    await set_balances(pool, (0, 7500), version=2)  # 7500 still due, the link asks 5000

    started = await payments.start_payment(d, link_id, save_card=False)

    assert started.client_secret is not None


async def test_a_fallback_link_is_never_refused_for_the_balance(pool: Pool) -> None:
    await known(pool)
    d = deps(pool, with_fallback_intent(FakeStripe()))
    link_id = await new_link(d, authentication_needed())
    await set_balances(pool, (0, 0), version=2)

    started = await payments.start_payment(d, link_id, save_card=False)

    assert started.client_secret == "pi_fallback_secret_x"
    assert "pi_fallback_secret_x" not in repr(started)
