"""Concurrent consumption with per-key order, on a real Kafka broker: same-key records strictly
in offset order while different keys overlap; a consumer killed with work in flight, or a
rebalance while work is in flight, skips nothing and applies nothing twice."""

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from bookpay_devstack.stack import Stack
from bookpay_shared import inbox
from bookpay_shared.db import apply_migrations, new_pool, open_pool
from bookpay_shared.ordered import ConsumerOptions, KeyOrderedConsumer, Record

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

NewTopicFactory = Callable[[int], Awaitable[str]]
CONSUMER_PROCESS = Path(__file__).with_name("consume_into_postgres.py")


def kafka_login_env(stack: Stack) -> dict[str, str]:
    """The consumer process's Kafka login (the super user's, as the tests' own clients)."""
    kafka = stack.kafka_connection()
    assert kafka.username and kafka.password
    return {"KAFKA_USERNAME": kafka.username, "KAFKA_PASSWORD": kafka.password.get_secret_value()}


@pytest_asyncio.fixture(loop_scope="session")
async def new_topic(stack: Stack) -> AsyncIterator[NewTopicFactory]:
    admin = AIOKafkaAdminClient(**stack.kafka_client_args())
    await admin.start()

    async def create(partitions: int) -> str:
        name = f"ordered-test-{uuid.uuid4().hex[:8]}"
        await admin.create_topics([NewTopic(name, partitions, replication_factor=1)])
        return name

    yield create
    await admin.close()


@pytest_asyncio.fixture(loop_scope="session")
async def database(stack: Stack) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    name = f"ordered_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(stack.config.postgres_server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = stack.postgres_dsn(name)
    pool = new_pool(dsn)
    await open_pool(pool, dsn)
    await apply_migrations(pool, [])  # the shared outbox and inbox
    await pool.execute(
        """CREATE TABLE applied (id bigserial PRIMARY KEY, event_id uuid NOT NULL,
                                 key text NOT NULL, seq integer NOT NULL)"""
    )
    yield dsn, pool
    await pool.close()


async def produce(stack: Stack, topic: str, keys: int, per_key: int, seed: int) -> int:
    """Interleave `per_key` records for each of `keys` keys; each says its key and sequence."""
    rng = random.Random(seed)
    order = [k for k in range(keys) for _ in range(per_key)]
    rng.shuffle(order)
    sequence: dict[int, int] = defaultdict(int)
    producer = AIOKafkaProducer(**stack.kafka_client_args(), linger_ms=5)
    await producer.start()
    try:
        sent = []
        for k in order:
            message = {"event_id": str(uuid.uuid4()), "key": f"k{k}", "seq": sequence[k]}
            sequence[k] += 1
            sent.append(
                await producer.send(topic, json.dumps(message).encode(), key=f"k{k}".encode())
            )
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return len(order)


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not done in time"
        await asyncio.sleep(0.1)


async def test_same_key_strictly_in_order_while_different_keys_overlap(
    stack: Stack, new_topic: NewTopicFactory
) -> None:
    topic = await new_topic(2)
    total = await produce(stack, topic, keys=20, per_key=25, seed=7)
    rng = random.Random(11)
    seen: dict[str, list[int]] = defaultdict(list)
    busy: set[str] = set()
    overlaps: list[str] = []
    most_at_once = 0

    async def handle(record: Record) -> None:
        nonlocal most_at_once
        message = json.loads(record.value or b"{}")
        if message["key"] in busy:
            overlaps.append(message["key"])
        busy.add(message["key"])
        most_at_once = max(most_at_once, len(busy))
        await asyncio.sleep(rng.uniform(0, 0.01))
        seen[message["key"]].append(message["seq"])
        busy.discard(message["key"])

    consumer = KeyOrderedConsumer(
        kafka=stack.kafka_connection(),
        topic=topic,
        group_id=f"{topic}.group",
        handler=handle,
        options=ConsumerOptions(max_in_flight=64),
    )
    await consumer.start()
    try:

        async def all_seen() -> bool:
            return sum(map(len, seen.values())) >= total

        await until(all_seen)
    finally:
        await consumer.stop()
    assert overlaps == []
    assert {key: seqs for key, seqs in seen.items()} == {
        f"k{k}": list(range(25)) for k in range(20)
    }
    assert most_at_once > 1


async def test_in_flight_bound_of_one_handles_one_record_at_a_time(
    stack: Stack, new_topic: NewTopicFactory
) -> None:
    topic = await new_topic(2)
    total = await produce(stack, topic, keys=5, per_key=4, seed=3)
    running = 0
    most_at_once = 0
    handled = 0

    async def handle(record: Record) -> None:
        nonlocal running, most_at_once, handled
        running += 1
        most_at_once = max(most_at_once, running)
        await asyncio.sleep(0.002)
        running -= 1
        handled += 1

    consumer = KeyOrderedConsumer(
        kafka=stack.kafka_connection(),
        topic=topic,
        group_id=f"{topic}.group",
        handler=handle,
        options=ConsumerOptions(max_in_flight=1),
    )
    await consumer.start()
    try:

        async def done() -> bool:
            return handled >= total

        await until(done)
    finally:
        await consumer.stop()
    assert most_at_once == 1


async def applied_in_order(pool: asyncpg.Pool, total: int) -> None:
    """Every record applied once, and each key's records applied in their order."""
    rows = await pool.fetch("SELECT event_id, key, seq FROM applied ORDER BY id")
    assert len(rows) == total, "a record was skipped or applied twice"
    assert len({r["event_id"] for r in rows}) == total
    by_key: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        by_key[row["key"]].append(row["seq"])
    for key, seqs in by_key.items():
        assert seqs == list(range(len(seqs))), f"{key} applied out of order: {seqs}"


async def test_a_consumer_killed_with_work_in_flight_skips_nothing_and_applies_nothing_twice(
    stack: Stack, new_topic: NewTopicFactory, database: tuple[str, asyncpg.Pool]
) -> None:
    dsn, pool = database
    topic = await new_topic(3)
    group = f"{topic}.group"
    total = await produce(stack, topic, keys=40, per_key=10, seed=5)

    def start(seed: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                str(CONSUMER_PROCESS),
                stack.kafka_bootstrap_servers,
                topic,
                group,
                dsn,
                str(seed),
            ],
            env={**os.environ, **kafka_login_env(stack)},
        )

    async def applied() -> int:
        count: int = await pool.fetchval("SELECT count(*) FROM applied")
        return count

    first = start(1)
    try:

        async def some_applied() -> bool:
            return await applied() >= total // 4

        await until(some_applied)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert await applied() < total, "the kill came too late to leave work in flight"

    second = start(2)
    try:

        async def all_applied() -> bool:
            return await applied() >= total

        await until(all_applied, timeout=90)
        await asyncio.sleep(1.0)  # anything applied twice would show up now
    finally:
        second.terminate()
        second.wait()
    await applied_in_order(pool, total)


async def test_a_rebalance_while_work_is_in_flight_skips_nothing_and_applies_nothing_twice(
    stack: Stack, new_topic: NewTopicFactory, database: tuple[str, asyncpg.Pool]
) -> None:
    _, pool = database
    topic = await new_topic(4)
    group = f"{topic}.group"
    total = await produce(stack, topic, keys=40, per_key=10, seed=9)
    rng = random.Random(13)

    async def apply(record: Record) -> None:
        message = json.loads(record.value or b"{}")
        await asyncio.sleep(rng.uniform(0, 0.03))
        async with pool.acquire() as conn, conn.transaction():
            if await inbox.claim(conn, group, uuid.UUID(message["event_id"])):
                await conn.execute(
                    "INSERT INTO applied (event_id, key, seq) VALUES ($1, $2, $3)",
                    uuid.UUID(message["event_id"]),
                    message["key"],
                    message["seq"],
                )

    def member() -> KeyOrderedConsumer:
        return KeyOrderedConsumer(
            kafka=stack.kafka_connection(),
            topic=topic,
            group_id=group,
            handler=apply,
            options=ConsumerOptions(max_in_flight=32, grace=0.05),
        )

    async def applied() -> int:
        count: int = await pool.fetchval("SELECT count(*) FROM applied")
        return count

    first, second = member(), member()
    await first.start()
    try:

        async def some_applied() -> bool:
            return await applied() >= total // 5

        await until(some_applied)
        await second.start()  # the group rebalances while the first has work in flight

        async def more_applied() -> bool:
            return await applied() >= total // 2

        await until(more_applied)
        await first.stop()  # and again: the second takes every partition

        async def all_applied() -> bool:
            return await applied() >= total

        await until(all_applied, timeout=90)
        await asyncio.sleep(1.0)
    finally:
        await first.stop()
        await second.stop()
    await applied_in_order(pool, total)
