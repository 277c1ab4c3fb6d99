"""A booking's balance is never over-charged: concurrent charges for the same bookings are
checked one at a time (over HTTP and Kafka alike)."""

import asyncio
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from bookpay_devstack.events import EventLog
from bookpay_shared import topics

from .support import Bookpay, Customer, eventually
from .test_charge_safety import request

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
