"""Charging a customer's saved card, end to end: booking-service, charge-service and the
Stripe stand-in as separate processes on real Kafka and PostgreSQL."""

import uuid

import pytest
from bookpay_devstack.events import EventLog, about
from bookpay_shared import topics

from .support import DECLINES_AFTER_ATTACH, Bookpay, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_card_on_file_pays_every_booking_in_full(
    bookpay: Bookpay, event_log: EventLog
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [5000, 7500])
    card = await bookpay.save_card(customer)
    assert (card["brand"], card["last4"], card["is_default"]) == ("visa", "4242", True)

    accepted = await bookpay.charge_card_on_file(customer, 12500)
    assert accepted.status_code == 202, accepted.text
    charge_id = accepted.json()["charge_id"]

    charge = await bookpay.wait_charge_done(customer, charge_id)
    assert charge["status"] == "succeeded", charge
    assert charge["card"] == {"brand": "visa", "last4": "4242"}
    [paid] = await event_log.wait_for(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id))
    assert (paid.get("card_brand"), paid.get("card_last4"), paid.get("amount")) == (
        "visa",
        "4242",
        12500,
    )
    assert paid.key == customer.customer_id

    charged = await event_log.wait_for(
        topics.BOOKING_CHARGED, about("charge_id", charge_id), count=2
    )
    assert sorted(r.get("booking_id") for r in charged) == sorted(customer.booking_ids)
    assert {r.get("booking_status") for r in charged} == {"charged_in_full"}
    for booking_id in customer.booking_ids:
        booking = await bookpay.get_booking(customer, booking_id)
        assert (booking["status"], booking["balance_due"]) == ("charged_in_full", 0)
        assert [p["charge_id"] for p in booking["payments"]] == [charge_id]
    [intent] = await bookpay.payment_intents(charge_id)
    assert intent["status"] == "succeeded" and intent["amount"] == 12500


async def test_a_partial_amount_leaves_a_balance(bookpay: Bookpay, event_log: EventLog) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [5000, 5000])
    await bookpay.save_card(customer)

    charge_id = (await bookpay.charge_card_on_file(customer, 6000)).json()["charge_id"]

    assert (await bookpay.wait_charge_done(customer, charge_id))["status"] == "succeeded"
    await event_log.wait_for(topics.BOOKING_CHARGED, about("charge_id", charge_id), count=2)
    first, second = [await bookpay.get_booking(customer, b) for b in customer.booking_ids]
    assert (first["status"], first["amount_paid"], first["balance_due"]) == (
        "charged_in_full",
        5000,
        0,
    )
    assert (second["status"], second["amount_paid"], second["balance_due"]) == (
        "partially_paid",
        1000,
        4000,
    )
    # The customer's view lists each booking's payments as the booking's own view does.
    response = await bookpay.booking.get(f"/v1/accounts/{account}/customers/{customer.customer_id}")
    assert response.status_code == 200, response.text
    listed = {b["booking_id"]: b for b in response.json()["bookings"]}
    for booking in (first, second):
        assert listed[booking["booking_id"]]["payments"] == booking["payments"]
        [payment] = booking["payments"]
        assert (payment["charge_id"], payment["amount_applied"]) == (
            charge_id,
            booking["amount_paid"],
        )


async def test_a_declined_card_fails_and_leaves_bookings_unpaid(
    bookpay: Bookpay, event_log: EventLog
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [3000])
    await bookpay.save_card(customer, DECLINES_AFTER_ATTACH)

    charge_id = (await bookpay.charge_card_on_file(customer, 3000)).json()["charge_id"]

    charge = await bookpay.wait_charge_done(customer, charge_id)
    assert charge["status"] == "failed"
    assert charge["failure"]["reason"] == "card_declined"
    [failed] = await event_log.wait_for(topics.PAYMENT_FAILED, about("charge_id", charge_id))
    assert failed.get("reason") == "card_declined"
    assert failed.get("message")
    assert "decline_code" in (failed.json or {})
    booking = await bookpay.get_booking(customer, customer.booking_ids[0])
    assert (booking["status"], booking["amount_paid"]) == ("unpaid", 0)
    assert event_log.matching(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id)) == []


async def test_a_customer_without_a_saved_card(bookpay: Bookpay, event_log: EventLog) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [3000])

    charge_id = (await bookpay.charge_card_on_file(customer, 3000)).json()["charge_id"]

    [failed] = await event_log.wait_for(topics.PAYMENT_FAILED, about("charge_id", charge_id))
    assert failed.get("reason") == "no_card_on_file"
    assert (await bookpay.charge_status(customer, charge_id))["failure"][
        "reason"
    ] == "no_card_on_file"


async def test_an_account_without_stripe(bookpay: Bookpay, event_log: EventLog) -> None:
    account = await bookpay.new_account(connected=False)
    customer = await bookpay.new_customer(account, [3000])

    charge_id = (await bookpay.charge_card_on_file(customer, 3000)).json()["charge_id"]

    [failed] = await event_log.wait_for(topics.PAYMENT_FAILED, about("charge_id", charge_id))
    assert failed.get("reason") == "stripe_not_connected"
    assert "connect" in failed.get("message").lower()


async def test_the_same_charge_id_posted_twice_charges_once(
    bookpay: Bookpay, event_log: EventLog
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [4000])
    await bookpay.save_card(customer)
    charge_id = str(uuid.uuid4())

    first = await bookpay.charge_card_on_file(customer, 4000, charge_id=charge_id)
    second = await bookpay.charge_card_on_file(customer, 4000, charge_id=charge_id)

    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["charge_id"] == second.json()["charge_id"] == charge_id
    await bookpay.wait_charge_done(customer, charge_id)
    await event_log.wait_for(topics.BOOKING_CHARGED, about("charge_id", charge_id))
    assert len(event_log.matching(topics.CHARGE_REQUESTED, about("charge_id", charge_id))) == 1
    assert len(event_log.matching(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id))) == 1
    assert len(await bookpay.payment_intents(charge_id)) == 1
    conflicting = await bookpay.charge_card_on_file(customer, 3999, charge_id=charge_id)
    assert conflicting.status_code == 409


async def test_charge_history_is_readable(bookpay: Bookpay) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [2500])
    await bookpay.save_card(customer)
    charge_id = (await bookpay.charge_card_on_file(customer, 2500)).json()["charge_id"]

    charge = await eventually(lambda: _succeeded(bookpay, customer, charge_id))

    assert [h["status"] for h in charge["history"]] == ["requested", "processing", "succeeded"]
    assert charge["stripe_payment_intent_id"].startswith("pi_")


async def _succeeded(
    bookpay: Bookpay, customer: object, charge_id: str
) -> dict[str, object] | None:
    charge = await bookpay.charge_status(customer, charge_id)  # type: ignore[arg-type]
    return charge if charge["status"] == "succeeded" else None
