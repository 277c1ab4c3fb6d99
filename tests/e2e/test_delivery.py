"""Delivery guarantees on the card-on-file flow: duplicates, dead letters and a crash at the
worst moment — nothing lost, nothing charged twice."""

import json
import signal
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from bookpay_devstack.events import EventLog, about
from bookpay_devstack.system import Services
from bookpay_shared import topics
from bookpay_shared.events import ChargeMethod, ChargeRequested

from .support import Bookpay, Customer

pytestmark = pytest.mark.asyncio(loop_scope="session")


def charge_requested(customer: Customer, amount: int) -> ChargeRequested:
    charge_id = uuid.uuid4()
    return ChargeRequested(
        correlation_id=charge_id,
        charge_id=charge_id,
        account_id=uuid.UUID(customer.account_id),
        customer_id=uuid.UUID(customer.customer_id),
        booking_ids=[uuid.UUID(b) for b in customer.booking_ids],
        amount=amount,
        currency="usd",
        method=ChargeMethod.CARD_ON_FILE,
        requested_by="reservations-service",
    )


async def publish(kafka: AIOKafkaProducer, customer: Customer, value: bytes) -> None:
    await kafka.send_and_wait(
        topics.CHARGE_REQUESTED, value=value, key=customer.customer_id.encode()
    )


async def test_the_same_event_delivered_twice_charges_once(
    bookpay: Bookpay, event_log: EventLog, kafka: AIOKafkaProducer
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [3000, 3000])
    await bookpay.save_card(customer)
    event = charge_requested(customer, 3000)
    marker = charge_requested(customer, 1000)

    await publish(kafka, customer, event.to_json())
    await publish(kafka, customer, event.to_json())
    await publish(
        kafka, customer, marker.to_json()
    )  # same key, same partition: processed after both

    await event_log.wait_for(topics.PAYMENT_SUCCEEDED, about("charge_id", marker.charge_id))
    assert (
        len(event_log.matching(topics.PAYMENT_SUCCEEDED, about("charge_id", event.charge_id))) == 1
    )
    assert len(await bookpay.payment_intents(str(event.charge_id))) == 1
    await event_log.wait_for(topics.BOOKING_CHARGED, about("charge_id", marker.charge_id))
    first, second = [await bookpay.get_booking(customer, b) for b in customer.booking_ids]
    assert (first["amount_paid"], second["amount_paid"]) == (3000, 1000)


async def test_bad_messages_go_to_the_dead_letter_topic_and_the_next_is_processed(
    bookpay: Bookpay, event_log: EventLog, kafka: AIOKafkaProducer
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [2000])
    await bookpay.save_card(customer)
    malformed = b'{"event_type": "ChargeRequested", "charge_id": '
    invalid = json.loads(charge_requested(customer, 2000).to_json())
    invalid["amount"] = -5
    future_version = json.loads(charge_requested(customer, 2000).to_json())
    future_version["schema_version"] = 2
    valid = charge_requested(customer, 2000)

    for value in (malformed, json.dumps(invalid).encode(), json.dumps(future_version).encode()):
        await publish(kafka, customer, value)
    await publish(kafka, customer, valid.to_json())

    await event_log.wait_for(topics.PAYMENT_SUCCEEDED, about("charge_id", valid.charge_id))
    # Each consumer group dead-letters on its own (link-service reads charge-requested too).
    mine = lambda r: (  # noqa: E731
        r.key == customer.customer_id
        and r.headers["dlq.consumer"] == "charge-service.charge-requested"
    )
    dead = await event_log.wait_for(topics.dlq(topics.CHARGE_REQUESTED), mine, count=3)
    assert [r.value for r in dead] == [
        malformed,
        json.dumps(invalid).encode(),
        json.dumps(future_version).encode(),
    ]
    assert all(r.headers["dlq.original_topic"] == topics.CHARGE_REQUESTED for r in dead)
    reasons = [r.headers["dlq.reason"] for r in dead]
    assert "json" in reasons[0].lower()
    assert "amount" in reasons[1]
    assert "schema_version" in reasons[2]


@pytest.mark.parametrize(
    "fault_point", ["charge.after_stripe_confirm", "charge.after_outcome_committed"]
)
async def test_charge_service_killed_mid_charge_completes_once_after_restart(
    bookpay: Bookpay, event_log: EventLog, system: Services, fault_point: str
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [4500])
    await bookpay.save_card(customer)
    doomed = await system.restart(
        "charge-service", {"CHARGE_FAULT_POINTS": json.dumps([fault_point])}
    )

    charge_id = (await bookpay.charge_card_on_file(customer, 4500)).json()["charge_id"]

    assert await doomed.wait(timeout=30) == -signal.SIGKILL
    [intent] = await bookpay.payment_intents(charge_id)
    assert intent["status"] == "succeeded"
    assert event_log.matching(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id)) == []

    await system.restart("charge-service")

    charge = await bookpay.wait_charge_done(customer, charge_id)
    assert charge["status"] == "succeeded"
    await event_log.wait_for(topics.BOOKING_CHARGED, about("charge_id", charge_id))
    assert len(await bookpay.payment_intents(charge_id)) == 1
    assert len(event_log.matching(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id))) == 1
    booking = await bookpay.get_booking(customer, customer.booking_ids[0])
    assert (booking["status"], booking["amount_paid"]) == ("charged_in_full", 4500)
