"""The Kafka side of `bookpay-ops dlq`: dead letters and the replay record read through
`KafkaView` (no consumer group: looking moves nobody's offsets), and replays sent with an
idempotent producer (acks=all) that records each one in `dlq-replays` once it is written.

A replay is recorded only after its message is acknowledged: a crash in between leaves a
message sent but not recorded, which the command reports as failed, with where it went.
"""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from bookpay_shared.kafka import KafkaConnection
from bookpay_shared.topics import DLQ_REPLAYS, DLQ_SUFFIX, dlq

from bookpay_ops.dead_letters import (
    DeadLetter,
    DeadLetterId,
    Plan,
    Replay,
    plan,
    replay_headers,
    replays_by_dead_letter,
    select,
)
from bookpay_ops.kafka_view import CLIENT_ID, KafkaUnreachable, KafkaView


class DlqProblem(Exception):
    """What stops a dlq command, said for a person (a missing topic, a dead letter not found)."""


# --- reading --------------------------------------------------------------------------------


def letter_of(record: ConsumerRecord[Any, Any]) -> DeadLetter:
    return DeadLetter(
        id=DeadLetterId(record.topic, record.partition, record.offset),
        key=record.key or b"",
        value=record.value or b"",
        headers=tuple((k, bytes(v)) for k, v in record.headers),
        timestamp_ms=record.timestamp,
    )


async def dlq_topics(kafka: KafkaView, topic: str | None = None) -> list[str]:
    """Every dead-letter topic, or the one of `topic` (given with or without `.dlq`)."""
    found = [t for t in await kafka.topic_names() if t.endswith(DLQ_SUFFIX)]
    if topic is None:
        return found
    wanted = topic if topic.endswith(DLQ_SUFFIX) else dlq(topic)
    if wanted not in found:
        raise DlqProblem(f"no dead-letter topic {wanted}")
    return [wanted]


async def read_letters(kafka: KafkaView, topics: Sequence[str]) -> list[DeadLetter]:
    if not topics:
        return []
    return sorted([letter_of(r) async for r in kafka.read_all(topics)], key=lambda d: d.id)


async def read_replays(kafka: KafkaView) -> list[Replay] | None:
    """The replay record in the order written; None when `dlq-replays` does not exist."""
    if DLQ_REPLAYS not in await kafka.topic_names():
        return None
    replays = []
    async for record in kafka.read_all([DLQ_REPLAYS]):
        try:
            replays.append(Replay.from_json(record.value or b""))
        except (ValueError, KeyError, TypeError):
            continue  # not a record of ours (a tombstone, a hand-written message)
    return replays


async def read_one(kafka: KafkaView, letter_id: DeadLetterId) -> DeadLetter | None:
    tp = TopicPartition(letter_id.topic, letter_id.partition)
    try:
        if tp not in await kafka.partitions([letter_id.topic]):
            return None
    except KeyError:
        return None
    start, end = await kafka.start_offsets([tp]), await kafka.end_offsets([tp])
    if not start[tp] <= letter_id.offset < end[tp]:
        return None
    async for record in kafka.read({tp: letter_id.offset}, {tp: letter_id.offset + 1}):
        if record.offset == letter_id.offset:
            return letter_of(record)
    return None


def missing_replays() -> DlqProblem:
    return DlqProblem(
        f"topic {DLQ_REPLAYS} does not exist: create it (bookpay_shared.topics.ALL_TOPICS, "
        "deploy/kafka/create-topics.sh) before replaying, so that every replay is recorded"
    )


# --- replaying ------------------------------------------------------------------------------


def default_operator() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


async def send_replays(
    connection: KafkaConnection,
    letters: Sequence[DeadLetter],
    *,
    by: str,
    value: bytes | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[list[Replay], dict[DeadLetterId, str]]:
    """Send each dead letter back, then record it; a failure of one does not stop the rest."""
    producer = AIOKafkaProducer(
        **connection.client_args(),
        client_id=CLIENT_ID,
        enable_idempotence=True,
        acks="all",
        request_timeout_ms=15_000,
    )
    try:
        await producer.start()
    except Exception as error:
        await producer.stop()
        raise KafkaUnreachable(f"cannot reach Kafka to replay: {error}") from error
    done: list[Replay] = []
    failed: dict[DeadLetterId, str] = {}
    try:
        for letter in letters:
            at = clock()
            try:
                sent = await producer.send_and_wait(
                    letter.original_topic,
                    key=letter.key or None,
                    value=letter.value if value is None else value,
                    headers=replay_headers(letter, by=by, at=at),
                )
            except Exception as error:
                failed[letter.id] = f"not replayed: {error!r}"
                continue
            replay = Replay(
                letter.id,
                letter.original_topic,
                sent.partition,
                sent.offset,
                by,
                at,
                value_replaced=value is not None,
            )
            try:
                await producer.send_and_wait(
                    DLQ_REPLAYS,
                    key=str(letter.id).encode(),
                    value=json.dumps(replay.to_json()).encode(),
                )
            except Exception as error:
                failed[letter.id] = (
                    f"replayed to {replay.original_topic}:{sent.partition}:{sent.offset} "
                    f"but NOT recorded in {DLQ_REPLAYS}: {error!r}"
                )
                continue
            done.append(replay)
    finally:
        await producer.stop()
    return done, failed


@dataclass(frozen=True)
class Choice:
    """Which dead letters a replay is about: ids, or a topic's, or all, filtered."""

    ids: list[DeadLetterId]
    topic: str | None
    consumer: str | None
    reason_contains: str | None


async def prepare(kafka: KafkaView, choice: Choice, again: bool) -> tuple[Plan, list[DeadLetterId]]:
    replays = await read_replays(kafka)
    if replays is None:
        raise missing_replays()
    if choice.ids:
        topics = sorted({i.topic for i in choice.ids})
        known = await read_letters(kafka, await _existing(kafka, topics))
        by_id = {d.id: d for d in known}
        chosen = [by_id[i] for i in dict.fromkeys(choice.ids) if i in by_id]
        missing = [i for i in dict.fromkeys(choice.ids) if i not in by_id]
    else:
        known = await read_letters(kafka, await dlq_topics(kafka, choice.topic))
        chosen = select(known, consumer=choice.consumer, reason_contains=choice.reason_contains)
        missing = []
    decided = plan(chosen, replays_by_dead_letter(replays), known=known, again=again)
    return decided, missing


async def _existing(kafka: KafkaView, topics: Sequence[str]) -> list[str]:
    names = set(await kafka.topic_names())
    return [t for t in topics if t in names]
