"""Charging a new card (tokenized by Stripe.js), saved to the profile or not; another card
after a decline; the saved cards on a profile; a card on file that needs authentication."""

import uuid
from typing import Any

import pytest
from bookpay_devstack.events import EventLog, about
from bookpay_shared import topics

from .support import DECLINES_AFTER_ATTACH, NEEDS_AUTHENTICATION, VISA, Bookpay, Customer

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONSENT = "The customer agrees that Harbour Kayak Tours may keep this card for future bookings."


async def charge_new_card(
    bookpay: Bookpay,
    customer: Customer,
    amount: int,
    payment_method_id: str,
    *,
    save: bool,
    charge_id: str | None = None,
) -> str:
    body: dict[str, Any] = {
        "customer_id": customer.customer_id,
        "booking_ids": customer.booking_ids,
        "amount": amount,
        "currency": "usd",
        "method": "new_card",
        "payment_method_id": payment_method_id,
        "save_card": save,
    }
    if save:
        body["save_card_consent"] = CONSENT
    if charge_id:
        body["charge_id"] = charge_id
    response = await bookpay.charge.post(f"/v1/accounts/{customer.account_id}/charges", json=body)
    assert response.status_code == 202, response.text
    accepted: str = response.json()["charge_id"]
    return accepted


async def profile(bookpay: Bookpay, customer: Customer) -> list[dict[str, Any]]:
    response = await bookpay.charge.get(
        f"/v1/accounts/{customer.account_id}/customers/{customer.customer_id}/payment-methods"
    )
    assert response.status_code == 200, response.text
    cards: list[dict[str, Any]] = response.json()["payment_methods"]
    return cards


async def test_a_new_card_saved_pays_and_is_used_by_the_next_card_on_file_charge(
    bookpay: Bookpay, event_log: EventLog
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [6000, 4000])
    pm = await bookpay.tokenize(VISA)

    charge_id = await charge_new_card(bookpay, customer, 6000, pm, save=True)

    charge = await bookpay.wait_charge_done(customer, charge_id)
    assert charge["status"] == "succeeded", charge
    assert charge["saved_payment_method_id"] == pm
    [paid] = await event_log.wait_for(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id))
    assert (paid.get("method"), paid.get("saved_payment_method_id")) == ("new_card", pm)
    await event_log.wait_for(topics.BOOKING_CHARGED, about("charge_id", charge_id))
    first = await bookpay.get_booking(customer, customer.booking_ids[0])
    assert first["status"] == "charged_in_full"
    [card] = await profile(bookpay, customer)
    assert (card["payment_method_id"], card["last4"], card["is_default"]) == (pm, "4242", True)

    later = await bookpay.charge_card_on_file(customer, 4000)
    on_file = await bookpay.wait_charge_done(customer, later.json()["charge_id"])
    assert (on_file["status"], on_file["payment_method_id"]) == ("succeeded", pm)


async def test_a_new_card_not_saved_pays_and_stays_off_the_profile(
    bookpay: Bookpay, event_log: EventLog
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [2500, 1000])
    pm = await bookpay.tokenize(VISA)

    charge_id = await charge_new_card(bookpay, customer, 2500, pm, save=False)

    charge = await bookpay.wait_charge_done(customer, charge_id)
    assert (charge["status"], charge["saved_payment_method_id"]) == ("succeeded", None)
    [paid] = await event_log.wait_for(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id))
    assert paid.get("saved_payment_method_id") is None
    assert await profile(bookpay, customer) == []
    no_card = await bookpay.charge_card_on_file(customer, 100)
    assert no_card.status_code == 202
    failed = await bookpay.wait_charge_done(customer, no_card.json()["charge_id"])
    assert failed["failure"]["reason"] == "no_card_on_file"


async def test_a_declined_new_card_then_another_card_makes_one_charge(
    bookpay: Bookpay, event_log: EventLog
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [3300])
    declined_pm = await bookpay.tokenize(DECLINES_AFTER_ATTACH)

    charge_id = await charge_new_card(bookpay, customer, 3300, declined_pm, save=False)
    failed = await bookpay.wait_charge_done(customer, charge_id)
    assert (failed["status"], failed["failure"]["reason"]) == ("failed", "card_declined")
    [failure] = await event_log.wait_for(topics.PAYMENT_FAILED, about("charge_id", charge_id))
    assert failure.get("retryable") is not None

    good_pm = await bookpay.tokenize(VISA)
    retried = await bookpay.charge.post(
        f"/v1/accounts/{customer.account_id}/charges/{charge_id}/attempts",
        json={"payment_method_id": good_pm, "save_card": True, "save_card_consent": CONSENT},
    )

    assert retried.status_code == 200, retried.text
    charge = retried.json()
    assert (charge["status"], charge["attempts"], charge["charge_id"]) == (
        "succeeded",
        2,
        charge_id,
    )
    intents = await bookpay.payment_intents(charge_id)
    assert [i["status"] for i in intents] == ["succeeded"]
    await event_log.wait_for(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id))
    assert [c["payment_method_id"] for c in await profile(bookpay, customer)] == [good_pm]
    again = await bookpay.charge.post(
        f"/v1/accounts/{customer.account_id}/charges/{charge_id}/attempts",
        json={"payment_method_id": good_pm},
    )
    assert again.status_code == 409


async def test_the_same_new_card_charge_posted_twice_makes_one_payment_intent(
    bookpay: Bookpay, event_log: EventLog
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [1800])
    pm = await bookpay.tokenize(VISA)
    charge_id = str(uuid.uuid4())

    await charge_new_card(bookpay, customer, 1800, pm, save=False, charge_id=charge_id)
    await charge_new_card(bookpay, customer, 1800, pm, save=False, charge_id=charge_id)

    await bookpay.wait_charge_done(customer, charge_id)
    await event_log.wait_for(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id))
    assert len(await bookpay.payment_intents(charge_id)) == 1


async def test_profile_cards_set_default_and_remove(bookpay: Bookpay) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [1000])
    first = (await bookpay.save_card(customer))["payment_method_id"]
    second = (await bookpay.save_card(customer))["payment_method_id"]
    url = f"/v1/accounts/{customer.account_id}/customers/{customer.customer_id}/payment-methods"
    assert {c["payment_method_id"]: c["is_default"] for c in await profile(bookpay, customer)} == {
        first: False,
        second: True,
    }

    made_default = await bookpay.charge.post(f"{url}/{first}/default")
    assert made_default.status_code == 200 and made_default.json()["is_default"]
    assert (await bookpay.charge.delete(f"{url}/{first}")).status_code == 204

    [left] = await profile(bookpay, customer)
    assert (left["payment_method_id"], left["is_default"]) == (second, True)
    detached = await bookpay.stripe.get(f"/v1/payment_methods/{first}")
    assert detached.json()["customer"] is None
    assert (await bookpay.charge.delete(f"{url}/{first}")).status_code == 404
    assert (await bookpay.charge.post(f"{url}/pm_unknown/default")).status_code == 404


async def test_a_card_on_file_needing_authentication_without_fallback_fails(
    bookpay: Bookpay, event_log: EventLog
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [2000])
    await bookpay.save_card(customer, NEEDS_AUTHENTICATION)

    response = await bookpay.charge.post(
        f"/v1/accounts/{customer.account_id}/charges",
        json={
            "customer_id": customer.customer_id,
            "booking_ids": customer.booking_ids,
            "amount": 2000,
            "currency": "usd",
            "method": "card_on_file",
            "fallback_to_link": False,
        },
    )
    charge_id = response.json()["charge_id"]

    [failed] = await event_log.wait_for(topics.PAYMENT_FAILED, about("charge_id", charge_id))
    assert (failed.get("reason"), failed.get("next_action")) == ("authentication_required", None)
    charge = await bookpay.charge_status(customer, charge_id)
    assert charge["status"] == "failed"
    assert charge["stripe_payment_intent_id"], (
        "the charge keeps its PaymentIntent for an on-session confirmation"
    )


async def test_a_card_on_file_needing_authentication_continues_as_a_payment_link(
    bookpay: Bookpay, event_log: EventLog
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [2000])
    await bookpay.save_card(customer, NEEDS_AUTHENTICATION)

    charge_id = (await bookpay.charge_card_on_file(customer, 2000)).json()["charge_id"]

    [failed] = await event_log.wait_for(topics.PAYMENT_FAILED, about("charge_id", charge_id))
    assert (failed.get("reason"), failed.get("next_action")) == (
        "authentication_required",
        "payment_link",
    )
    assert failed.get("stripe_payment_intent_id")
    charge = await bookpay.charge_status(customer, charge_id)
    assert (charge["status"], charge["method"]) == ("awaiting_customer", "payment_link")


async def test_saving_a_new_card_needs_the_consent_text(bookpay: Bookpay) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [1000])
    response = await bookpay.charge.post(
        f"/v1/accounts/{customer.account_id}/charges",
        json={
            "customer_id": customer.customer_id,
            "booking_ids": customer.booking_ids,
            "amount": 1000,
            "currency": "usd",
            "method": "new_card",
            "payment_method_id": "pm_123",
            "save_card": True,
        },
    )
    assert response.status_code == 422
    assert "save_card_consent" in response.json()["error"]["message"]
