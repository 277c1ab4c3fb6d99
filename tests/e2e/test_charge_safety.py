"""Money safety across flows: the balance a charge may take counts the charges in progress;
requests over Kafka are checked like HTTP ones; a closed link ends its charge; and Stripe has
the last word when it reports a payment after we had given up on it."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from bookpay_devstack.events import EventLog, about
from bookpay_shared import topics
from bookpay_shared.events import ChargeMethod, ChargeRequested, PaymentLinkClosed

from .support import Bookpay, Customer, eventually
from .test_webhooks import customer_authenticates, waiting_charge

pytestmark = pytest.mark.asyncio(loop_scope="session")


def request(customer: Customer, amount: int, **changes: object) -> ChargeRequested:
    charge_id = uuid.uuid4()
    fields: dict[str, object] = {
        "correlation_id": charge_id,
        "charge_id": charge_id,
        "account_id": uuid.UUID(customer.account_id),
        "customer_id": uuid.UUID(customer.customer_id),
        "booking_ids": [uuid.UUID(b) for b in customer.booking_ids],
        "amount": amount,
        "currency": "usd",
        "method": ChargeMethod.CARD_ON_FILE,
        "requested_by": "reservations-service",
    }
    fields.update(changes)
    return ChargeRequested.model_validate(fields)


async def test_charges_in_progress_count_against_the_balance(bookpay: Bookpay) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [5000])
    link = await bookpay.charge.post(
        f"/v1/accounts/{customer.account_id}/charges",
        json={
            "customer_id": customer.customer_id,
            "booking_ids": customer.booking_ids,
            "amount": 3000,
            "currency": "usd",
            "method": "payment_link",
        },
    )
    assert link.status_code == 202, link.text

    too_much = await bookpay.charge_card_on_file(customer, 2500)
    the_rest = await bookpay.charge_card_on_file(customer, 2000)

    assert too_much.status_code == 422
    assert "in progress" in too_much.json()["error"]["message"]
    assert the_rest.status_code == 202


async def test_a_request_over_kafka_that_does_not_fit_our_records_fails(
    bookpay: Bookpay, event_log: EventLog, kafka: AIOKafkaProducer
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [1000])
    await bookpay.save_card(customer)
    too_much = request(customer, 1500)
    stale_unknown = request(
        customer,
        500,
        booking_ids=[uuid.uuid4()],
        occurred_at=datetime.now(UTC) - timedelta(hours=1),
    )
    no_card = json.loads(request(customer, 500).to_json()) | {"method": "new_card"}

    for event in (too_much, stale_unknown):
        await kafka.send_and_wait(
            topics.CHARGE_REQUESTED, event.to_json(), key=customer.customer_id.encode()
        )
    await kafka.send_and_wait(
        topics.CHARGE_REQUESTED, json.dumps(no_card).encode(), key=customer.customer_id.encode()
    )

    for event, words in ((too_much, "exceeds"), (stale_unknown, "unknown booking")):
        [failed] = await event_log.wait_for(
            topics.PAYMENT_FAILED, about("charge_id", event.charge_id)
        )
        assert failed.get("reason") == "invalid_request"
        assert words in failed.get("message")
    [dead] = await event_log.wait_for(
        topics.dlq(topics.CHARGE_REQUESTED),
        lambda r: (
            r.get("charge_id") == no_card["charge_id"]
            and r.headers.get("dlq.consumer") == "charge-service.charge-requested"
        ),
    )
    assert "payment_method_id is required" in dead.headers["dlq.reason"]
    assert (await bookpay.get_booking(customer, customer.booking_ids[0]))["amount_paid"] == 0


async def publish_closed(
    kafka: AIOKafkaProducer, customer: Customer, charge_id: str, reason: str
) -> None:
    closed = PaymentLinkClosed(
        correlation_id=uuid.UUID(charge_id),
        link_id=uuid.uuid4(),
        charge_id=uuid.UUID(charge_id),
        account_id=uuid.UUID(customer.account_id),
        customer_id=uuid.UUID(customer.customer_id),
        reason=reason,  # type: ignore[arg-type]
    )
    await kafka.send_and_wait(
        topics.PAYMENT_LINK_CLOSED, closed.to_json(), key=customer.customer_id.encode()
    )


async def test_a_closed_link_ends_its_charge_and_frees_the_balance(
    bookpay: Bookpay, event_log: EventLog, kafka: AIOKafkaProducer
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [4000])
    accepted = await bookpay.charge.post(
        f"/v1/accounts/{customer.account_id}/charges",
        json={
            "customer_id": customer.customer_id,
            "booking_ids": customer.booking_ids,
            "amount": 4000,
            "currency": "usd",
            "method": "payment_link",
        },
    )
    charge_id = accepted.json()["charge_id"]

    async def waiting() -> bool:
        return (await bookpay.charge_status(customer, charge_id))["status"] == "awaiting_customer"

    await eventually(waiting)
    await publish_closed(kafka, customer, charge_id, "expired")

    [failed] = await event_log.wait_for(topics.PAYMENT_FAILED, about("charge_id", charge_id))
    assert failed.get("reason") == "link_expired"
    await bookpay.save_card(customer)
    again = await bookpay.charge_card_on_file(customer, 4000)
    assert again.status_code == 202, again.text


async def test_stripe_reporting_a_payment_after_the_link_closed_wins(
    bookpay: Bookpay, event_log: EventLog, kafka: AIOKafkaProducer
) -> None:
    customer, charge_id, intent_id = await waiting_charge(bookpay)
    await publish_closed(kafka, customer, charge_id, "cancelled")
    [cancelled] = await event_log.wait_for(
        topics.PAYMENT_FAILED,
        lambda r: r.get("charge_id") == charge_id and r.get("reason") == "link_cancelled",
    )
    assert cancelled.get("retryable") is False

    await customer_authenticates(bookpay, intent_id)  # the customer was paying all along

    [paid] = await event_log.wait_for(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id))
    assert paid.get("stripe_payment_intent_id") == intent_id
    await event_log.wait_for(topics.BOOKING_CHARGED, about("charge_id", charge_id))
    charge = await bookpay.charge_status(customer, charge_id)
    assert charge["status"] == "succeeded"
    assert any("after all" in h["note"] for h in charge["history"])
    assert (await bookpay.get_booking(customer, customer.booking_ids[0]))[
        "status"
    ] == "charged_in_full"
