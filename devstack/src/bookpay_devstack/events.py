"""Reading what the system published: every record on the event topics and their dead letters,
collected in the background so tests (and people) can wait for and count them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from bookpay_shared.kafka import KafkaConnection
from bookpay_shared.topics import ALL_TOPICS


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: dict[str, str]

    @property
    def json(self) -> dict[str, Any] | None:
        try:
            parsed = json.loads(self.value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    def get(self, name: str) -> Any:
        body = self.json
        return None if body is None else body.get(name)


Predicate = Callable[[Record], bool]


class EventLog:
    """Consumes every partition of every topic (no consumer group: it commits nothing)."""

    def __init__(self, kafka: KafkaConnection | str, *, from_beginning: bool = False) -> None:
        if isinstance(kafka, str):
            kafka = KafkaConnection(kafka)
        self._consumer = AIOKafkaConsumer(
            **kafka.client_args(), enable_auto_commit=False, group_id=None
        )
        self._from_beginning = from_beginning
        self.records: list[Record] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        partitions = [TopicPartition(t.name, p) for t in ALL_TOPICS for p in range(t.partitions)]
        self._consumer.assign(partitions)
        if self._from_beginning:
            await self._consumer.seek_to_beginning(*partitions)
        else:
            await self._consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve positions now, so nothing published later is missed
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._collect())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    async def _collect(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            if not batches:
                continue
            async with self._changed:
                for messages in batches.values():
                    self.records.extend(
                        Record(
                            topic=m.topic,
                            partition=m.partition,
                            offset=m.offset,
                            key=m.key.decode(errors="replace") if m.key is not None else None,
                            value=m.value or b"",
                            headers={k: v.decode(errors="replace") for k, v in m.headers},
                        )
                        for m in messages
                    )
                self._changed.notify_all()

    def matching(self, topic: str, predicate: Predicate = lambda r: True) -> list[Record]:
        return [r for r in self.records if r.topic == topic and predicate(r)]

    async def wait_for(
        self,
        topic: str,
        predicate: Predicate = lambda r: True,
        *,
        count: int = 1,
        timeout: float = 30.0,
    ) -> list[Record]:
        """Wait until at least `count` records of `topic` match; return them all."""

        def enough() -> bool:
            return len(self.matching(topic, predicate)) >= count

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(enough), timeout)
            except TimeoutError:
                found = self.matching(topic, predicate)
                raise AssertionError(
                    f"expected {count} record(s) on {topic} within {timeout}s, saw {len(found)}"
                ) from None
        return self.matching(topic, predicate)


def about(field: str, value: object) -> Predicate:
    """Records whose JSON body has `field` == `value` (compared as strings)."""
    return lambda r: str(r.get(field)) == str(value)
