"""The dev stack starts for real, each component works, and stopping it leaves no process."""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage

import asyncpg
import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from bookpay_devstack.config import find_repo_root
from bookpay_devstack.mail import FaultMode
from bookpay_devstack.process import child_processes, is_alive, processes_in_groups
from bookpay_devstack.stack import Stack, StackConfig
from bookpay_shared.topics import ALL_TOPICS, CHARGE_REQUESTED

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

# Ports apart from both `make run`'s and the test suite's stack, so this runs beside them.
SELF_TEST_CONFIG = StackConfig(
    runtime_dir=find_repo_root() / "var" / "devstack-selftest",
    kafka_port=29092,
    kafka_controller_port=29093,
    postgres_port=25433,
    stripe_port=28420,
    smtp_port=21025,
    smtp_api_port=21080,
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack() -> AsyncIterator[Stack]:
    async with Stack(SELF_TEST_CONFIG) as running:
        yield running


async def test_all_topics_exist(stack: Stack) -> None:
    async with stack.kafka.admin() as admin:
        described = {t["topic"]: t for t in await admin.describe_topics()}
    for spec in ALL_TOPICS:
        assert len(described[spec.name]["partitions"]) == spec.partitions


async def test_kafka_round_trip(stack: Stack) -> None:
    key, value = uuid.uuid4().hex.encode(), b'{"hello": "kafka"}'
    producer = AIOKafkaProducer(**stack.kafka_client_args(), acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(CHARGE_REQUESTED, value, key=key)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        CHARGE_REQUESTED,
        **stack.kafka_client_args(),
        group_id=f"devstack-test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        received = None
        for _ in range(30):
            batches = await consumer.getmany(timeout_ms=1000)
            records = [r for batch in batches.values() for r in batch if r.key == key]
            if records:
                received = records[0]
                break
    finally:
        await consumer.stop()
    assert received is not None
    assert received.value == value
    assert received.partition == sent.partition


@pytest.mark.parametrize("database", ["booking", "charge", "link", "notification"])
async def test_each_database_answers(stack: Stack, database: str) -> None:
    conn = await asyncpg.connect(stack.postgres_dsn(database))
    try:
        assert await conn.fetchval("SELECT current_database()") == database
        assert (await conn.fetchval("SHOW server_version")).startswith("18")
    finally:
        await conn.close()


async def test_localstripe_creates_a_payment_method(stack: Stack) -> None:
    async with httpx.AsyncClient(
        base_url=stack.stripe_url, auth=(stack.config.stripe_api_key, "")
    ) as client:
        response = await client.post(
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": "4242424242424242",
                "card[exp_month]": "12",
                "card[exp_year]": "2034",
                "card[cvc]": "123",
            },
        )
        assert response.status_code == 200, response.text
        created = response.json()
        assert created["id"].startswith("pm_")
        assert created["card"]["last4"] == "4242"
        fetched = await client.get(f"/v1/payment_methods/{created['id']}")
        assert fetched.json()["id"] == created["id"]


def _send_mail(stack: Stack, to: str, subject: str) -> None:
    message = EmailMessage()
    message["From"] = "bookings@bookpay.test"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("Your booking is paid.")
    message.add_alternative("<p>Your booking is <b>paid</b>.</p>", subtype="html")
    with smtplib.SMTP(stack.smtp_host, stack.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)


async def test_smtp_sink_keeps_mail(stack: Stack) -> None:
    to = f"{uuid.uuid4().hex}@customer.test"
    _send_mail(stack, to, "Payment received")

    [message] = await stack.mail.wait_for_messages(to=to)
    assert message["mail_from"] == "bookings@bookpay.test"
    assert message["rcpt_tos"] == [to]
    assert message["subject"] == "Payment received"
    assert message["text"].strip() == "Your booking is paid."
    assert "<b>paid</b>" in message["html"]
    assert "Subject: Payment received" in message["raw"]
    assert (stack.smtp.messages_dir / f"{message['id']}.eml").is_file()

    await stack.mail.clear()
    assert await stack.mail.messages() == []


async def test_smtp_sink_fault_modes(stack: Stack) -> None:
    faults: list[tuple[FaultMode, int]] = [("tempfail", 451), ("permfail", 550)]
    for mode, code in faults:
        await stack.mail.set_fault(mode)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            _send_mail(stack, "someone@customer.test", "refused")
        assert next(iter(refused.value.recipients.values()))[0] == code
    await stack.mail.set_fault("none")
    _send_mail(stack, "someone@customer.test", "accepted again")
    assert len(await stack.mail.wait_for_messages(to="someone@customer.test")) == 1


async def test_stop_leaves_no_process(stack: Stack) -> None:
    leaders = [p.pid for p in stack.processes() if p.pid is not None]
    assert len(leaders) == 4
    # PostgreSQL's workers lead process groups of their own, so also follow the process tree.
    ours = leaders + [pid for leader in leaders for pid in child_processes(leader)]
    assert len(ours) > len(leaders)
    await stack.stop()

    assert processes_in_groups(leaders) == []
    assert [pid for pid in ours if is_alive(pid)] == []
    assert not any(p.running for p in stack.processes())
