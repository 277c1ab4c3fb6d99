"""bookpay-ops topics and lag on the real broker: the offsets a test produces and commits are
the ones the commands report, and bookpay's own groups catch up after a charge."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services
from bookpay_ops.config import SERVICES

from .ops_cli import run_ops
from .support import Bookpay, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_lag_reports_the_offsets_produced_and_committed(
    stack: Stack, system: Services, kafka: AIOKafkaProducer
) -> None:
    topic = f"ops-lag-{uuid.uuid4().hex[:8]}"
    group = f"ops-test.{topic}"
    admin = AIOKafkaAdminClient(**stack.kafka_client_args())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    for i in range(7):
        await kafka.send_and_wait(topic, f"m{i}".encode(), partition=0)
    for i in range(3):
        await kafka.send_and_wait(topic, f"n{i}".encode(), partition=1)
    # A group that processed 5 of partition 0's 7 and nothing of partition 1.
    consumer = AIOKafkaConsumer(**stack.kafka_client_args(), group_id=group)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        await consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(5, "")})
    finally:
        await consumer.stop()

    result = await run_ops(stack, system, "lag", "--group", group, "--json")
    assert result.exit_code == 0, result.output
    rows = {r["partition"]: r for r in json.loads(result.output)}
    assert rows[0]["committed"] == 5 and rows[0]["end"] == 7 and rows[0]["lag"] == 2
    assert rows[1]["committed"] is None and rows[1]["end"] == 3 and rows[1]["lag"] == 3
    assert {r["state"] for r in rows.values()} == {"Empty"}
    # With no member the group consumes nothing: --max-lag says so in its exit code.
    assert (await run_ops(stack, system, "lag", "--group", group, "--max-lag", "10")).exit_code == 1

    result = await run_ops(stack, system, "topics", "--interval", "0", "--json")
    assert result.exit_code == 0, result.output
    (row,) = [r for r in json.loads(result.output) if r["topic"] == topic]
    assert row["partitions"] == 2 and row["written"] == 10 and row["retained"] == 10


async def test_bookpays_groups_are_stable_and_catch_up_after_a_charge(
    stack: Stack, system: Services, bookpay: Bookpay
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [1500])
    await bookpay.save_card(customer)
    accepted = await bookpay.charge_card_on_file(customer, 1500)
    assert accepted.status_code == 202, accepted.text
    charge = await bookpay.wait_charge_done(customer, accepted.json()["charge_id"])
    assert charge["status"] == "succeeded"

    async def caught_up() -> list[dict[str, Any]] | None:
        result = await run_ops(stack, system, "lag", "--json")
        assert result.exit_code == 0, result.output
        rows = [r for r in json.loads(result.output) if r["group"].split(".")[0] in SERVICES]
        done = all(r["lag"] == 0 and r["state"] == "Stable" for r in rows)
        return rows if done else None

    rows = await eventually(caught_up, timeout=60)
    groups = {r["group"] for r in rows}
    assert "charge-service.charge-requested" in groups
    assert "booking-service.payment-succeeded" in groups
    assert all(r["lag"] == 0 and r["state"] == "Stable" for r in rows)

    # The dashboard's frame counts the account's charge by method and outcome.
    frame = await run_ops(
        stack, system, "watch", "--once", "--interval", "0.5", "--account", account
    )
    assert frame.exit_code == 0, frame.output
    assert "Charges of" in frame.output
    (line,) = [x for x in frame.output.splitlines() if "card_on_file" in x]
    assert "succeeded" in line and line.split("│")[1].split()[-1] == "1"
    # Every charge-service group Stable, none lagging: "charge-service  9/9  0".
    assert re.search(r"charge-service\s+(\d+)/\1\s+0\s", frame.output), frame.output
