"""A consumer process for the crash tests: applies each record of a topic to PostgreSQL once
(inbox + effect in one transaction), each after a short random pause so that many are in
flight at any moment. Run: python consume_into_postgres.py BOOTSTRAP TOPIC GROUP DSN SEED, with
the Kafka login in KAFKA_USERNAME and KAFKA_PASSWORD (SASL PLAIN) when the broker wants one."""

import asyncio
import json
import os
import random
import sys
import uuid

import asyncpg
from bookpay_shared import inbox
from bookpay_shared.kafka import KafkaConnection
from bookpay_shared.ordered import ConsumerOptions, KeyOrderedConsumer, Record
from pydantic import SecretStr


async def main(bootstrap: str, topic: str, group: str, dsn: str, seed: int) -> None:
    rng = random.Random(seed)
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=20)

    async def apply(record: Record) -> None:
        message = json.loads(record.value or b"{}")
        await asyncio.sleep(rng.uniform(0, 0.05))
        async with pool.acquire() as conn, conn.transaction():
            if await inbox.claim(conn, group, uuid.UUID(message["event_id"])):
                await conn.execute(
                    "INSERT INTO applied (event_id, key, seq) VALUES ($1, $2, $3)",
                    uuid.UUID(message["event_id"]),
                    message["key"],
                    message["seq"],
                )

    username, password = os.environ.get("KAFKA_USERNAME"), os.environ.get("KAFKA_PASSWORD")
    kafka = KafkaConnection(
        bootstrap,
        security_protocol="SASL_PLAINTEXT" if username else "PLAINTEXT",
        username=username,
        password=SecretStr(password) if password else None,
    )
    consumer = KeyOrderedConsumer(
        kafka=kafka,
        topic=topic,
        group_id=group,
        handler=apply,
        options=ConsumerOptions(max_in_flight=64, commit_every=0.05),
    )
    await consumer.start()
    print("consuming", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    bootstrap, topic, group, dsn, seed = sys.argv[1:6]
    asyncio.run(main(bootstrap, topic, group, dsn, int(seed)))
