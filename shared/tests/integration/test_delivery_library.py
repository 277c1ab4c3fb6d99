"""The shared delivery machinery on real PostgreSQL and Kafka: the outbox relay publishes what
committed transactions wrote, in order per key, once marked; consumers commit offsets only
after the handler's effect, retry transient failures and dead-letter the rest."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib import resources

import asyncpg
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from bookpay_devstack.events import EventLog, about
from bookpay_devstack.stack import Stack
from bookpay_shared import outbox, topics
from bookpay_shared.consuming import Consumers, RetryPolicy, TransientError
from bookpay_shared.db import apply_migrations, new_pool, open_pool
from bookpay_shared.events import AccountStateChanged
from bookpay_shared.kafka import Producer
from bookpay_shared.outbox import OutboxRelay

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session")
async def pool(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    name = f"lib_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(stack.config.postgres_server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = stack.postgres_dsn(name)
    created = new_pool(dsn)
    await open_pool(created, dsn)
    await apply_migrations(
        created, [("service", resources.files("bookpay_shared") / "projection_migrations")]
    )
    yield created
    await created.close()


@pytest_asyncio.fixture(loop_scope="session")
async def producer(stack: Stack) -> AsyncIterator[Producer]:
    started = Producer(stack.kafka_connection(), client_id="library-tests")
    await started.start()
    yield started
    await started.stop()


def account_state(account_id: uuid.UUID, version: int) -> AccountStateChanged:
    return AccountStateChanged(
        correlation_id=account_id,
        account_id=account_id,
        version=version,
        name=f"v{version}",
        admins=[],
        notify_admins_on_link_payment=True,
    )


async def test_the_relay_publishes_committed_events_in_order_and_never_rolled_back_ones(
    pool: asyncpg.Pool, producer: Producer, event_log: EventLog
) -> None:
    account = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, *(account_state(account, v) for v in range(1, 51)))
    rolled_back = uuid.uuid4()
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, account_state(rolled_back, 1))
            raise RuntimeError("the business change failed")

    relay = OutboxRelay(pool, producer, batch_size=20)
    published = sum([await relay.relay_once() for _ in range(4)])

    assert published == 50
    records = await event_log.wait_for(
        topics.ACCOUNTS_STATE, about("account_id", account), count=50
    )
    assert [r.get("version") for r in records] == list(range(1, 51))
    assert len({r.partition for r in records}) == 1
    assert event_log.matching(topics.ACCOUNTS_STATE, about("account_id", rolled_back)) == []
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_a_consumer_retries_transient_failures_and_dead_letters_a_bug(
    stack: Stack, producer: Producer, event_log: EventLog
) -> None:
    topic = topics.ACCOUNTS_STATE
    flaky, broken = uuid.uuid4(), uuid.uuid4()
    attempts: dict[uuid.UUID, int] = {flaky: 0, broken: 0}
    handled: list[uuid.UUID] = []

    async def handler(event: AccountStateChanged) -> None:
        if event.account_id not in attempts:
            return
        attempts[event.account_id] += 1
        if event.account_id == flaky and attempts[flaky] < 3:
            raise TransientError("the database is restarting")
        if event.account_id == broken:
            raise KeyError("a bug")
        handled.append(event.account_id)

    service = f"library-test-{uuid.uuid4().hex[:6]}"
    consumers = Consumers(stack.kafka_connection(), service, producer)
    consumers.subscribe(
        AccountStateChanged,
        handler,
        topic=topic,
        retry=RetryPolicy(max_attempts_for_errors=3, base_delay=0.01),
    )
    plain = AIOKafkaProducer(**stack.kafka_client_args())
    await plain.start()
    await consumers.start()
    try:
        for account in (broken, flaky):
            await plain.send_and_wait(
                topic, account_state(account, 1).to_json(), key=str(account).encode()
            )
        await plain.send_and_wait(topic, b'{"not": "an event"}', key=str(flaky).encode())
        [dead] = await event_log.wait_for(
            topics.dlq(topic),
            lambda r: (
                r.headers.get("dlq.consumer") == f"{service}.{topic}" and r.key == str(broken)
            ),
        )
        await event_log.wait_for(
            topics.dlq(topic),
            lambda r: r.headers.get("dlq.consumer") == f"{service}.{topic}" and r.key == str(flaky),
        )
        for _ in range(100):
            if handled:
                break
            await asyncio.sleep(0.1)
    finally:
        await consumers.stop()
        await plain.stop()
    assert handled == [flaky]
    assert attempts == {flaky: 3, broken: 3}
    assert "handler error" in dead.headers["dlq.reason"]
    assert json.loads(dead.value)["account_id"] == str(broken)


async def test_a_consumer_dead_letters_an_event_dated_in_the_future(
    stack: Stack, producer: Producer, event_log: EventLog
) -> None:
    topic = topics.ACCOUNTS_STATE
    ahead, skewed = uuid.uuid4(), uuid.uuid4()
    handled: list[uuid.UUID] = []

    async def handler(event: AccountStateChanged) -> None:
        if event.account_id in (ahead, skewed):
            handled.append(event.account_id)

    service = f"library-test-{uuid.uuid4().hex[:6]}"
    consumers = Consumers(stack.kafka_connection(), service, producer)
    consumers.subscribe(AccountStateChanged, handler, topic=topic)
    now = datetime.now(UTC)
    forged = account_state(ahead, 1).model_copy(update={"occurred_at": now + timedelta(days=1)})
    # Clocks differ a little: an event a minute ahead is still taken.
    late_clock = account_state(skewed, 1).model_copy(
        update={"occurred_at": now + timedelta(minutes=1)}
    )
    plain = AIOKafkaProducer(**stack.kafka_client_args())
    await plain.start()
    await consumers.start()
    try:
        for event in (forged, late_clock):
            await plain.send_and_wait(topic, event.to_json(), key=event.key().encode())
        [dead] = await event_log.wait_for(
            topics.dlq(topic),
            lambda r: r.headers.get("dlq.consumer") == f"{service}.{topic}" and r.key == str(ahead),
        )
        for _ in range(100):
            if skewed in handled:
                break
            await asyncio.sleep(0.1)
    finally:
        await consumers.stop()
        await plain.stop()
    assert handled == [skewed]
    assert "in the future" in dead.headers["dlq.reason"]
    assert dead.headers["dlq.reason"].startswith("unprocessable: occurred_at")
