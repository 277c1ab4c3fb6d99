"""Several instances of a service: a second charge-service process joins the consumer groups,
Kafka spreads the partitions over both, and every charge is still made exactly once."""

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from bookpay_devstack.events import EventLog, about
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services, process_label
from bookpay_shared import topics
from bookpay_shared.consuming import consumer_group

from .support import Bookpay, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

GROUP = consumer_group("charge-service", topics.CHARGE_REQUESTED)


async def stable_members(stack: Stack) -> int:
    """Members of charge-service's charge-requested group once it is stable (else 0)."""
    admin = AIOKafkaAdminClient(**stack.kafka_client_args())
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([GROUP])
    finally:
        await admin.close()
    [group] = response.groups  # (error, group id, state, protocol type, protocol, members, ...)
    return len(group[5]) if group[2] == "Stable" else 0


async def test_two_charge_service_instances_share_the_work_and_charge_once(
    bookpay: Bookpay, system: Services, stack: Stack, event_log: EventLog
) -> None:
    second = system.start("charge-service", instance=2)
    try:
        await system.wait_healthy("charge-service", instance=2)

        async def both_members() -> bool:  # six partitions: each gets some
            return await stable_members(stack) == 2

        await eventually(both_members, timeout=60)

        account = await bookpay.new_account()
        customers = await asyncio.gather(
            *(bookpay.new_customer(account, [4000]) for _ in range(12))
        )
        await asyncio.gather(*(bookpay.save_card(c) for c in customers))
        accepted = await asyncio.gather(*(bookpay.charge_card_on_file(c, 4000) for c in customers))
        charge_ids = [a.json()["charge_id"] for a in accepted]

        done = await asyncio.gather(
            *(bookpay.wait_charge_done(c, i) for c, i in zip(customers, charge_ids, strict=True))
        )
        assert {c["status"] for c in done} == {"succeeded"}
        for customer, charge_id in zip(customers, charge_ids, strict=True):
            await event_log.wait_for(topics.BOOKING_CHARGED, about("charge_id", charge_id))
            assert (
                len(event_log.matching(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id)))
                == 1
            )
            assert len(await bookpay.payment_intents(charge_id)) == 1
            [booking_id] = customer.booking_ids
            booking = await bookpay.get_booking(customer, booking_id)
            assert (booking["status"], booking["amount_paid"]) == ("charged_in_full", 4000)
    finally:
        await second.stop()
        system.processes.pop(process_label("charge-service", 2), None)
