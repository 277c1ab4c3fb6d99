"""A booking's balance is never over-charged: concurrent charges for the same bookings are
checked one at a time (over HTTP and Kafka alike), a failed charge given another card is
checked again, a charge paid but not yet applied by booking-service still counts, and money
that could not be applied is reported on the charge."""

import asyncio
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from bookpay_devstack.events import EventLog, about
from bookpay_devstack.system import Services
from bookpay_shared import topics

from .support import DECLINES_AFTER_ATTACH, VISA, Bookpay, Customer, eventually
from .test_charge_safety import publish_closed, request
from .test_new_card import charge_new_card
from .test_webhooks import customer_authenticates, waiting_charge

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def paid_in_full(bookpay: Bookpay, customer: Customer) -> dict[str, Any]:
    async def applied() -> dict[str, Any] | None:
        booking = await bookpay.get_booking(customer, customer.booking_ids[0])
        return booking if booking["status"] == "charged_in_full" else None

    booking: dict[str, Any] = await eventually(applied)
    return booking


async def test_concurrent_charges_over_http_and_kafka_take_no_more_than_the_balance(
    bookpay: Bookpay, event_log: EventLog, kafka: AIOKafkaProducer
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [5000])
    await bookpay.save_card(customer)
    over_kafka = [request(customer, 2500) for _ in range(3)]

    async def publish(value: bytes) -> httpx.Response | None:
        await kafka.send_and_wait(topics.CHARGE_REQUESTED, value, key=customer.customer_id.encode())
        return None

    answers = await asyncio.gather(
        *(bookpay.charge_card_on_file(customer, 2500) for _ in range(3)),
        *(publish(e.to_json()) for e in over_kafka),
    )

    over_http = [a for a in answers if a is not None]
    assert sorted(a.status_code for a in over_http) in ([202, 202, 422], [202, 422, 422], [422] * 3)
    for refused in (a for a in over_http if a.status_code == 422):
        assert refused.json()["error"]["code"] == "charge_mismatch"
    charge_ids = [a.json()["charge_id"] for a in over_http if a.status_code == 202]
    charge_ids += [str(e.charge_id) for e in over_kafka]
    outcomes = [await bookpay.wait_charge_done(customer, c) for c in charge_ids]
    succeeded = [c for c in outcomes if c["status"] == "succeeded"]
    refused_over_kafka = [c for c in outcomes if c["status"] == "failed"]
    assert len(succeeded) == 2
    assert sum(c["amount"] for c in succeeded) == 5000
    assert all(c["failure"]["reason"] == "invalid_request" for c in refused_over_kafka)
    for charge in succeeded:
        [intent] = await bookpay.payment_intents(charge["charge_id"])
        assert intent["status"] == "succeeded"
    for charge in refused_over_kafka:
        assert await bookpay.payment_intents(charge["charge_id"]) == []
    booking = await paid_in_full(bookpay, customer)
    assert booking["amount_paid"] == booking["amount"] == 5000
    await asyncio.sleep(1)  # nothing more arrives
    assert (await bookpay.get_booking(customer, customer.booking_ids[0]))["amount_paid"] == 5000


async def test_another_card_is_refused_when_other_charges_took_the_balance_meanwhile(
    bookpay: Bookpay,
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [3300])
    declined = await bookpay.tokenize(DECLINES_AFTER_ATTACH)
    charge_id = await charge_new_card(bookpay, customer, 3300, declined, save=False)
    assert (await bookpay.wait_charge_done(customer, charge_id))["status"] == "failed"
    await bookpay.save_card(customer)
    assert (await bookpay.charge_card_on_file(customer, 3300)).status_code == 202

    retried = await bookpay.charge.post(
        f"/v1/accounts/{customer.account_id}/charges/{charge_id}/attempts",
        json={"payment_method_id": await bookpay.tokenize(VISA)},
    )

    assert retried.status_code == 422, retried.text
    assert retried.json()["error"]["code"] == "charge_mismatch"
    charge = await bookpay.charge_status(customer, charge_id)
    assert (charge["status"], charge["attempts"]) == ("failed", 1)
    assert all(i["status"] != "succeeded" for i in await bookpay.payment_intents(charge_id))


async def test_a_charge_paid_but_not_yet_applied_still_counts_against_the_balance(
    bookpay: Bookpay, event_log: EventLog, system: Services
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [5000])
    await bookpay.save_card(customer)
    await system.processes["booking-service"].stop()
    try:
        first = await bookpay.charge_card_on_file(customer, 3000)
        assert first.status_code == 202, first.text
        charge_id = first.json()["charge_id"]
        assert (await bookpay.wait_charge_done(customer, charge_id))["status"] == "succeeded"

        again = await bookpay.charge_card_on_file(customer, 3000)

        assert again.status_code == 422, again.text
        assert again.json()["error"]["code"] == "charge_mismatch"
    finally:
        await system.restart("booking-service")

    async def the_rest_accepted() -> httpx.Response | None:
        # Once booking-service's new state of the booking arrives, the first charge is in
        # its balance and no longer counted as in progress.
        rest = await bookpay.charge_card_on_file(customer, 2000)
        return rest if rest.status_code == 202 else None

    rest = await eventually(the_rest_accepted)
    assert (await bookpay.wait_charge_done(customer, rest.json()["charge_id"]))[
        "status"
    ] == "succeeded"
    booking = await paid_in_full(bookpay, customer)
    assert booking["amount_paid"] == booking["amount"] == 5000
    assert sorted(p["amount_applied"] for p in booking["payments"]) == [2000, 3000]
    assert len(event_log.matching(topics.BOOKING_CHARGED, about("charge_id", charge_id))) == 1


async def test_a_payment_beyond_the_balance_is_reported_on_its_charge(
    bookpay: Bookpay, event_log: EventLog, kafka: AIOKafkaProducer
) -> None:
    customer, late_id, intent_id = await waiting_charge(bookpay)
    await publish_closed(kafka, customer, late_id, "cancelled")
    await event_log.wait_for(topics.PAYMENT_FAILED, about("charge_id", late_id))
    await bookpay.save_card(customer)
    other = await bookpay.charge_card_on_file(customer, 2700)
    assert other.status_code == 202, other.text
    await paid_in_full(bookpay, customer)

    await customer_authenticates(bookpay, intent_id)  # paid after all: 27.00 too much

    [over] = await event_log.wait_for(
        topics.PAYMENT_OVER_COLLECTED, about("charge_id", late_id), timeout=30
    )
    assert (over.get("amount"), over.get("unapplied_amount")) == (2700, 2700)
    assert over.get("stripe_payment_intent_id") == intent_id
    assert over.key == customer.customer_id

    async def reported() -> dict[str, Any] | None:
        charge = await bookpay.charge_status(customer, late_id)
        return charge if charge["over_collected"] else None

    charge = await eventually(reported)
    assert charge["status"] == "succeeded"
    assert charge["over_collected"] == {"amount": 2700, "currency": "usd"}
    assert any("over the bookings' balance due" in h["note"] for h in charge["history"])
    assert (await bookpay.get_booking(customer, customer.booking_ids[0]))["amount_paid"] == 2700
