"""Kafka's trust boundaries: each service writes only the topics it owns and reads only those it
consumes (the broker refuses the rest), and consumers act only on what the owner of a fact
publishes: a payment link only for a charge charge-service accepted, an email only for a link
on bookpay's own payment page, nothing for an event dated in the future."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError
from bookpay_devstack.events import EventLog, about
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services
from bookpay_shared import topics
from bookpay_shared.consuming import consumer_group
from bookpay_shared.events import ChargeMethod, PaymentSucceeded
from bookpay_shared.kafka_acls import INTERNAL_PUBLISHER

from .links import Links, settle
from .notifications_support import (
    body,
    customer_with_bookings,
    link_created,
    link_paid,
    link_url,
    publish,
    wait_emails,
)
from .support import Bookpay

pytestmark = pytest.mark.asyncio(loop_scope="session")

EXPIRES = datetime(2030, 1, 1, tzinfo=UTC)


async def produce_as(stack: Stack, principal: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(
        **stack.kafka_client_args(principal), acks="all", request_timeout_ms=10_000
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"forged")
    finally:
        await producer.stop()


@pytest.mark.parametrize(
    ("principal", "topic"),
    [
        ("notification-service", topics.PAYMENT_SUCCEEDED),
        ("link-service", topics.PAYMENT_SUCCEEDED),
        (INTERNAL_PUBLISHER, topics.PAYMENT_SUCCEEDED),
        ("booking-service", topics.PAYMENT_LINK_CREATED),
        ("link-service", topics.CHARGE_ACCEPTED),
        (INTERNAL_PUBLISHER, topics.CHARGE_ACCEPTED),
    ],
)
async def test_the_broker_refuses_a_principal_writing_a_topic_it_does_not_own(
    stack: Stack, principal: str, topic: str
) -> None:
    customer = uuid.uuid4()
    forged = link_paid_for(customer).to_json()
    with pytest.raises(TopicAuthorizationFailedError):
        await produce_as(stack, principal, topic, forged)


async def test_the_owner_writes_its_topics_and_a_consumer_reads_only_in_its_own_group(
    stack: Stack,
) -> None:
    await produce_as(stack, "charge-service", topics.dlq(topics.CHARGE_REQUESTED), b"{}")
    await produce_as(stack, INTERNAL_PUBLISHER, topics.CHARGE_REQUESTED, b"{}")

    someone_elses = AIOKafkaConsumer(
        topics.PAYMENT_SUCCEEDED,
        **stack.kafka_client_args("notification-service"),
        group_id=consumer_group("booking-service", topics.PAYMENT_SUCCEEDED),
        request_timeout_ms=10_000,
    )
    with pytest.raises((GroupAuthorizationFailedError, TopicAuthorizationFailedError)):
        await someone_elses.start()
        await someone_elses.getmany(timeout_ms=5_000)
    await someone_elses.stop()


def link_paid_for(customer_id: uuid.UUID) -> PaymentSucceeded:
    charge_id = uuid.uuid4()
    return PaymentSucceeded(
        correlation_id=charge_id,
        charge_id=charge_id,
        account_id=uuid.uuid4(),
        customer_id=customer_id,
        booking_ids=[uuid.uuid4()],
        amount=100,
        currency="usd",
        method=ChargeMethod.PAYMENT_LINK,
        stripe_payment_intent_id="pi_forged",
        card_brand="visa",
        card_last4="4242",
        paid_at=datetime.now(UTC),
    )


async def test_a_payment_link_charge_that_charge_service_refuses_makes_no_link_and_no_email(
    bookpay: Bookpay, links: Links, stack: Stack, event_log: EventLog
) -> None:
    account = await bookpay.new_account()
    customer, email = await customer_with_bookings(bookpay, account, [("Kayak tour", 5000)])

    over_balance = await links.request_charge(customer, 9000)
    refused = await bookpay.wait_charge_done(customer, over_balance)
    accepted = await links.request_charge(customer, 5000)

    assert (refused["status"], refused["failure"]["reason"]) == ("failed", "invalid_request")
    [created] = await links.created(event_log, accepted)
    [sent] = await wait_emails(stack, email)
    assert created.get("url") in body(sent["text"])
    await settle()
    assert event_log.matching(topics.CHARGE_ACCEPTED, about("charge_id", over_balance)) == []
    assert event_log.matching(topics.PAYMENT_LINK_CREATED, about("charge_id", over_balance)) == []
    assert len(await stack.mail.messages(to=email)) == 1


async def test_a_link_off_bookpays_payment_page_is_dead_lettered_and_never_emailed(
    bookpay: Bookpay, system: Services, stack: Stack, event_log: EventLog, kafka: AIOKafkaProducer
) -> None:
    account = await bookpay.new_account()
    customer, email = await customer_with_bookings(bookpay, account, [("Kayak tour", 5000)])
    foreign = link_created(
        customer, 5000, url="https://pay.attacker.example/pay/abc", expires_at=EXPIRES
    )
    genuine = link_created(customer, 5000, url=link_url(system), expires_at=EXPIRES)

    await publish(kafka, foreign)
    await publish(kafka, genuine)

    [dead] = await event_log.wait_for(
        topics.dlq(topics.PAYMENT_LINK_CREATED), about("link_id", str(foreign.link_id))
    )
    assert "not on bookpay's payment page" in dead.headers["dlq.reason"]
    assert dead.headers["dlq.consumer"] == "notification-service.payment-link-created"
    [sent] = await wait_emails(stack, email)
    assert genuine.url in body(sent["text"])
    await settle()
    assert len(await stack.mail.messages(to=email)) == 1


async def test_an_event_dated_in_the_future_is_dead_lettered_and_changes_nothing(
    bookpay: Bookpay, stack: Stack, event_log: EventLog, kafka: AIOKafkaProducer
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [5000])
    paid = link_paid(customer, 5000)
    from_the_future = paid.model_copy(
        update={"occurred_at": datetime.now(UTC) + timedelta(hours=1)}
    )

    await publish(kafka, from_the_future)

    [dead] = await event_log.wait_for(
        topics.dlq(topics.PAYMENT_SUCCEEDED),
        lambda r: (
            r.get("charge_id") == str(paid.charge_id)
            and r.headers.get("dlq.consumer") == "booking-service.payment-succeeded"
        ),
    )
    assert "in the future" in dead.headers["dlq.reason"]
    booking = await bookpay.get_booking(customer, customer.booking_ids[0])
    assert (booking["status"], booking["amount_paid"]) == ("unpaid", 0)
    assert event_log.matching(topics.BOOKING_CHARGED, about("charge_id", str(paid.charge_id))) == []
