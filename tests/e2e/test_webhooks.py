"""Stripe webhooks at charge-service: verified on the raw body, deduplicated, order-free, and
never trusted on their own — the PaymentIntent is read back from Stripe. The charges here are
cards on file that need the customer's authentication and so continue as payment links."""

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from bookpay_devstack.events import EventLog, about
from bookpay_devstack.stack import Stack
from bookpay_shared import topics

from .support import NEEDS_AUTHENTICATION, Bookpay, Customer, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


def signature_of(secret: str, payload: bytes, *, at: int | None = None) -> str:
    timestamp = at if at is not None else int(time.time())
    digest = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def signed(secret: str, event: dict[str, Any], *, at: int | None = None) -> tuple[bytes, str]:
    payload = json.dumps(event).encode()
    return payload, signature_of(secret, payload, at=at)


def intent_event(event_type: str, intent_id: str, charge_id: str) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:20]}",
        "object": "event",
        "type": event_type,
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "metadata": {"charge_id": charge_id},
            }
        },
    }


async def post_webhook(bookpay: Bookpay, payload: bytes, signature: str) -> httpx.Response:
    return await bookpay.webhooks.post(
        "/v1/stripe/webhooks",
        content=payload,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )


async def waiting_charge(bookpay: Bookpay) -> tuple[Customer, str, str]:
    """A card-on-file charge whose bank wants the customer: awaiting_customer, PaymentIntent kept."""
    customer = await bookpay.new_customer(await bookpay.new_account(), [2700])
    await bookpay.save_card(customer, NEEDS_AUTHENTICATION)
    charge_id = (await bookpay.charge_card_on_file(customer, 2700)).json()["charge_id"]

    async def waiting() -> dict[str, Any] | None:
        charge = await bookpay.charge_status(customer, charge_id)
        return charge if charge["status"] == "awaiting_customer" else None

    charge = await eventually(waiting)
    return customer, charge_id, charge["stripe_payment_intent_id"]


async def customer_authenticates(bookpay: Bookpay, intent_id: str) -> None:
    """What Stripe.js does on the page: the 3-D Secure step, which pays the PaymentIntent."""
    intent = (await bookpay.stripe.get(f"/v1/payment_intents/{intent_id}")).json()
    done = await bookpay.stripe.post(
        f"/v1/payment_intents/{intent_id}/_authenticate",
        data={"key": "pk_test_x", "client_secret": intent["client_secret"], "success": "true"},
    )
    assert done.status_code == 200, done.text


def paid_by(charge: dict[str, Any]) -> list[str]:
    return [h["note"] for h in charge["history"] if h["note"].startswith("the customer paid")]


async def test_stripes_webhook_completes_the_charge_once(
    bookpay: Bookpay, event_log: EventLog, stack: Stack
) -> None:
    customer, charge_id, intent_id = await waiting_charge(bookpay)

    await customer_authenticates(bookpay, intent_id)

    [paid] = await event_log.wait_for(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id))
    assert (paid.get("method"), paid.get("stripe_payment_intent_id")) == ("payment_link", intent_id)
    charge = await bookpay.charge_status(customer, charge_id)
    assert charge["status"] == "succeeded"
    assert paid_by(charge) == ["the customer paid (Stripe webhook)"]
    secret = stack.config.stripe_webhook_secret
    replay = intent_event("payment_intent.succeeded", intent_id, charge_id)
    first = await post_webhook(bookpay, *signed(secret, replay))
    second = await post_webhook(bookpay, *signed(secret, replay))
    late_failure = await post_webhook(
        bookpay,
        *signed(secret, intent_event("payment_intent.payment_failed", intent_id, charge_id)),
    )
    assert [r.status_code for r in (first, second, late_failure)] == [200, 200, 200]
    assert second.json() == {"received": "duplicate"}
    await event_log.wait_for(topics.BOOKING_CHARGED, about("charge_id", charge_id))
    assert len(event_log.matching(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id))) == 1
    assert (await bookpay.charge_status(customer, charge_id))["status"] == "succeeded"


async def test_a_signed_webhook_for_an_unpaid_intent_changes_nothing(
    bookpay: Bookpay, stack: Stack
) -> None:
    customer, charge_id, intent_id = await waiting_charge(bookpay)

    lie = intent_event("payment_intent.succeeded", intent_id, charge_id)
    response = await post_webhook(bookpay, *signed(stack.config.stripe_webhook_secret, lie))

    assert response.status_code == 200
    assert (await bookpay.charge_status(customer, charge_id))["status"] == "awaiting_customer"


@pytest.mark.parametrize(
    ("secret", "age", "body"),
    [
        ("whsec_forged", 0, None),
        (None, 3600, None),
        (None, 0, b"not json"),
    ],
    ids=["forged", "stale", "malformed"],
)
async def test_forged_stale_or_malformed_webhooks_are_refused(
    bookpay: Bookpay, stack: Stack, secret: str | None, age: int, body: bytes | None
) -> None:
    customer, charge_id, intent_id = await waiting_charge(bookpay)
    await customer_authenticates(bookpay, intent_id)  # Stripe really has it paid now...
    await stack.stripe.configure_webhook("http://127.0.0.1:9/", stack.config.stripe_webhook_secret)
    try:
        key = secret or stack.config.stripe_webhook_secret
        event = intent_event("payment_intent.succeeded", intent_id, charge_id)
        payload = body if body is not None else json.dumps(event).encode()
        signature = signature_of(key, payload, at=int(time.time()) - age)

        response = await post_webhook(bookpay, payload, signature)

        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_webhook"
        assert (await bookpay.charge_status(customer, charge_id))["status"] == "awaiting_customer"
    finally:
        await stack.stripe.configure_webhook(
            stack.config.stripe_webhook_url, stack.config.stripe_webhook_secret
        )


async def test_without_any_webhook_a_sweep_completes_the_charge(
    bookpay: Bookpay, event_log: EventLog, stack: Stack
) -> None:
    customer, charge_id, intent_id = await waiting_charge(bookpay)
    await stack.stripe.configure_webhook("http://127.0.0.1:9/", stack.config.stripe_webhook_secret)
    try:
        await customer_authenticates(bookpay, intent_id)

        await event_log.wait_for(
            topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id), timeout=45
        )
    finally:
        await stack.stripe.configure_webhook(
            stack.config.stripe_webhook_url, stack.config.stripe_webhook_secret
        )
    charge = await bookpay.charge_status(customer, charge_id)
    # Both sweeps see it: charge-service's own, and link-service's (through PaymentLinkPaid).
    [how] = paid_by(charge)
    assert how in ("the customer paid (reconciliation)", "the customer paid (payment page)")
    assert len(event_log.matching(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id))) == 1
