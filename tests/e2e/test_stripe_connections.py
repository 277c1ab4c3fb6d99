"""Verified Stripe connections: an account connects only a Stripe account that Stripe says is
connected to our platform, every connection is kept with who made it, and a charge or link
stays on the Stripe account it was made on when the account reconnects to another one."""

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from bookpay_devstack.events import EventLog, about
from bookpay_devstack.stack import Stack
from bookpay_shared import topics

from .links import Links, intents_of, settle
from .support import VISA, Bookpay, eventually
from .test_payment_links import start_payment

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_stripe_account_not_connected_to_the_platform_is_refused_and_not_recorded(
    bookpay: Bookpay, event_log: EventLog
) -> None:
    account = await bookpay.new_account(connected=False)
    path = f"/v1/accounts/{account}/stripe-connection"

    refused = await bookpay.charge.put(path, json={"stripe_account_id": "acct_1NotOurPlatform"})

    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "stripe_account_not_connected"
    assert "acct_1NotOurPlatform" in refused.json()["error"]["message"]
    assert (await bookpay.charge.get(path)).status_code == 404
    first = await bookpay.new_stripe_account()
    await bookpay.connect(account, first)
    again = await bookpay.charge.put(path, json={"stripe_account_id": "acct_1NotOurPlatform"})
    assert again.status_code == 422
    connection = (await bookpay.charge.get(path)).json()
    assert connection["stripe_account_id"] == first
    assert [c["stripe_account_id"] for c in connection["history"]] == [first]
    await settle()
    announced = event_log.matching(topics.STRIPE_CONNECTIONS_STATE, about("account_id", account))
    assert [r.get("stripe_account_id") for r in announced] == [first]


async def test_the_platforms_own_stripe_account_is_refused(bookpay: Bookpay) -> None:
    account = await bookpay.new_account(connected=False)
    own = (await bookpay.stripe.get("/v1/account")).json()["id"]

    refused = await bookpay.charge.put(
        f"/v1/accounts/{account}/stripe-connection", json={"stripe_account_id": own}
    )

    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "stripe_account_not_connected"
    assert "platform's own account" in refused.json()["error"]["message"]


async def test_a_stripe_account_belongs_to_one_account(bookpay: Bookpay) -> None:
    first = await bookpay.new_account(connected=False)
    second = await bookpay.new_account(connected=False)
    stripe_account, other = await bookpay.new_stripe_account(), await bookpay.new_stripe_account()
    await bookpay.connect(first, stripe_account)

    taken = await bookpay.charge.put(
        f"/v1/accounts/{second}/stripe-connection", json={"stripe_account_id": stripe_account}
    )

    assert taken.status_code == 409, taken.text
    assert taken.json()["error"]["code"] == "stripe_account_in_use"
    assert (await bookpay.charge.get(f"/v1/accounts/{second}/stripe-connection")).status_code == 404
    # Once the first account moves to another Stripe account, the second may take it.
    await bookpay.connect(first, other)
    assert (await bookpay.connect(second, stripe_account))["stripe_account_id"] == stripe_account


async def test_every_connection_is_kept_with_who_made_it(bookpay: Bookpay) -> None:
    account = await bookpay.new_account(connected=False)
    first, second = await bookpay.new_stripe_account(), await bookpay.new_stripe_account()

    await bookpay.connect(account, first)
    reconnected = await bookpay.connect(account, second)
    unchanged = await bookpay.connect(account, second)

    assert reconnected["stripe_account_id"] == second
    assert reconnected["charges_enabled"] is True
    # Who connected it: the caller's credential (the account's key).
    assert reconnected["connected_by"].startswith("key:")
    assert unchanged["connected_by"] == reconnected["connected_by"]
    assert [
        (c["stripe_account_id"], c["previous_stripe_account_id"], c["connected_by"])
        for c in unchanged["history"]
    ] == [(second, first, reconnected["connected_by"]), (first, None, reconnected["connected_by"])]
    assert unchanged["connected_at"] == reconnected["connected_at"]


async def _link_service_knows(stack: Stack, account_id: str, stripe_account_id: str) -> None:
    """Wait until link-service has applied the account's new connection."""
    conn = await asyncpg.connect(stack.postgres_dsn("link"))
    try:

        async def applied() -> bool:
            known = await conn.fetchval(
                "SELECT stripe_account_id FROM stripe_connections WHERE account_id = $1",
                uuid.UUID(account_id),
            )
            return bool(known == stripe_account_id)

        await eventually(applied)
    finally:
        await conn.close()


async def _pay_with_a_card(stack: Stack, client_secret: str) -> dict[str, Any]:
    """What Stripe.js does when the customer presses Pay: confirm the PaymentIntent with the
    typed card (through the local stack's Stripe.js stand-in)."""
    async with httpx.AsyncClient(base_url=stack.stripe_url, timeout=15) as stripe_js:
        confirmed = await stripe_js.post(
            "/bookpay-test/v3/confirm",
            json={
                "key": stack.config.stripe_publishable_key,
                "client_secret": client_secret,
                "card": {"number": VISA, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
            },
        )
    assert confirmed.status_code == 200, confirmed.text
    intent: dict[str, Any] = confirmed.json()["payment_intent"]
    return intent


async def test_a_reconnect_between_link_creation_and_payment_still_completes_the_charge_once(
    bookpay: Bookpay, links: Links, event_log: EventLog, stack: Stack
) -> None:
    account = await bookpay.new_account(connected=False)
    original = await bookpay.new_stripe_account()
    await bookpay.connect(account, original)
    customer = await bookpay.new_customer(account, [5400])
    link = await links.new_link(event_log, customer, 5400)

    replacement = await bookpay.new_stripe_account()
    await bookpay.connect(account, replacement)
    await _link_service_knows(stack, account, replacement)
    async with links.page_client() as page:
        started = await start_payment(page, link.url)
        assert started.status_code == 200, started.text
        paid = await _pay_with_a_card(stack, started.json()["client_secret"])
        assert paid["status"] == "succeeded"
        success = await page.get(f"{link.url}/success")
    assert success.status_code == 200
    assert "Payment received" in success.text, success.text

    [succeeded] = await event_log.wait_for(
        topics.PAYMENT_SUCCEEDED, about("charge_id", link.charge_id)
    )
    [charged] = await event_log.wait_for(topics.BOOKING_CHARGED, about("charge_id", link.charge_id))
    await links.wait_state(account, link.link_id, "paid")
    await settle(3.0)
    charge = await bookpay.charge_status(customer, link.charge_id)
    booking = await bookpay.get_booking(customer, customer.booking_ids[0])
    [intent] = await intents_of(bookpay, link.charge_id)
    on_original = await bookpay.stripe.get(
        f"/v1/payment_intents/{intent['id']}", headers={"Stripe-Account": original}
    )
    on_replacement = await bookpay.stripe.get(
        f"/v1/payment_intents/{intent['id']}", headers={"Stripe-Account": replacement}
    )

    assert succeeded.get("stripe_payment_intent_id") == intent["id"]
    assert charged.get("booking_status") == "charged_in_full"
    assert (charge["status"], charge["stripe_account_id"]) == ("succeeded", original)
    assert (booking["status"], booking["amount_paid"]) == ("charged_in_full", 5400)
    assert len(booking["payments"]) == 1
    assert (on_original.status_code, on_replacement.status_code) == (200, 404)
    for topic in (topics.PAYMENT_SUCCEEDED, topics.BOOKING_CHARGED):
        assert len(event_log.matching(topic, about("charge_id", link.charge_id))) == 1
    for spec in topics.ALL_TOPICS:
        if spec.name.endswith(topics.DLQ_SUFFIX):
            dead = event_log.matching(spec.name, about("charge_id", link.charge_id))
            assert dead == [], (spec.name, [r.headers for r in dead])
