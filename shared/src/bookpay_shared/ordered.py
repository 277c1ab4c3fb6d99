"""Concurrent consumption of one Kafka topic with per-key order: the engine under `consuming`.

The model is Confluent's Parallel Consumer in its KEY ordering:
- records with different keys are handled concurrently, up to `max_in_flight` records fetched
  and not yet finished (past that, every partition is paused until work finishes);
- records with the same key (in one partition) are handled one after another, in offset order,
  each one only after the previous one finished (a record without a key is ordered with every
  other keyless record of its partition);
- per partition, the offset committed is the lowest offset not yet finished, so a crash, a
  rebalance or a stop never skips a record: what finished beyond that point is delivered again
  and the idempotent handlers ignore it (Parallel Consumer encodes those offsets in the commit's
  metadata to skip them; at our volumes the replay is cheap and keeps the state simple);
- when partitions are revoked (a rebalance), their work in flight gets `grace` seconds to finish,
  is then cancelled (like a crash: the handlers are crash-safe), what finished is committed, and
  the partitions' state is dropped; their records are fetched again by the new owner from the
  committed offset;
- `stop()` stops fetching, lets the work in flight finish (or cancels it after `grace`), commits,
  and leaves the group.

Consumer lag (`bookpay_consumer_lag_messages`, per partition) is the partition's high watermark
(from the last fetch response) minus its commit point: the records of the partition the group
has not finished yet, those in flight included. It is updated for the partitions of every fetch, and for every
assigned partition once a second (so an idle partition reads 0 and a paused one keeps growing).

The handler must not raise: it decides for itself what a failure means (retry, dead-letter).
If it does raise, the record is handed to it again after a pause, never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from bookpay_shared.kafka import KafkaConnection
from bookpay_shared.metrics import ConsumerMetrics, Metrics

log = logging.getLogger(__name__)

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
RecordHandler: TypeAlias = Callable[[Record], Awaitable[None]]


class PartitionOffsets:
    """The offsets of one partition fetched and not yet finished, and the offset to commit."""

    def __init__(self) -> None:
        self._unfinished: deque[int] = deque()  # in offset order; the head is never finished
        self._finished_early: set[int] = set()  # finished while an earlier offset is not
        self._next: int | None = None

    def fetched(self, offset: int) -> None:
        self._unfinished.append(offset)
        self._next = offset + 1

    def finished(self, offset: int) -> None:
        self._finished_early.add(offset)
        while self._unfinished and self._unfinished[0] in self._finished_early:
            self._finished_early.discard(self._unfinished.popleft())

    def commit_point(self) -> int | None:
        """The lowest offset not finished yet (the next one to fetch when all are finished);
        None before anything was fetched."""
        return self._unfinished[0] if self._unfinished else self._next

    @property
    def pending(self) -> int:
        """How many fetched offsets are not finished."""
        return len(self._unfinished) - len(self._finished_early)


@dataclass
class _Partition:
    offsets: PartitionOffsets = field(default_factory=PartitionOffsets)
    lanes: dict[bytes | None, deque[Record]] = field(default_factory=dict)
    workers: set[asyncio.Task[None]] = field(default_factory=set)
    committed: int | None = None


@dataclass(frozen=True)
class ConsumerOptions:
    max_in_flight: int = 256
    """Records fetched and not finished, over all partitions; 1 handles one record at a time."""
    grace: float = 10.0
    """Seconds work in flight may take to finish on a revocation or a stop."""
    commit_every: float = 0.25
    """Seconds between commits of the partitions' commit points."""
    retry_pause: float = 1.0
    """Pause before a record whose handler raised is handed to it again."""
    lag_every: float = 1.0
    """Seconds between reports of every assigned partition's lag."""


class KeyOrderedConsumer:
    """Consume one topic in one consumer group, concurrently across keys (see the module)."""

    def __init__(
        self,
        *,
        kafka: KafkaConnection | str,
        topic: str,
        group_id: str,
        handler: RecordHandler,
        options: ConsumerOptions = ConsumerOptions(),
        client_id: str | None = None,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        if options.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.topic = topic
        self.group_id = group_id
        self._handler = handler
        self._options = options
        self._metrics = metrics or Metrics(client_id or group_id).consumer(topic, group_id)
        if isinstance(kafka, str):
            kafka = KafkaConnection(kafka)
        self._consumer = AIOKafkaConsumer(
            **kafka.client_args(),
            group_id=group_id,
            client_id=client_id or group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max(1, min(options.max_in_flight, 500)),
        )
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._in_flight = 0
        self._room = asyncio.Event()
        self._stopping = False
        self._joined = False
        self._fetcher: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def start(self) -> None:
        """Join the group and start fetching; again after a failed start (Kafka was not
        reachable), a no-op once started."""
        if self._fetcher is not None:
            return
        await self._consumer.start()
        self._consumer.subscribe([self.topic], listener=_Listener(self))
        self._fetcher = asyncio.create_task(self._fetch_forever(), name=f"fetch {self.group_id}")

    async def stop(self) -> None:
        """Stop fetching, finish (or, after the grace period, cancel) the work in flight,
        commit what finished and leave the group."""
        self._stopping = True
        if self._fetcher is not None:
            self._fetcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._fetcher
        await self._drain(list(self._partitions))
        await self._commit()
        self._partitions.clear()
        await self._consumer.stop()

    # --- fetching ------------------------------------------------------------------------------

    async def _fetch_forever(self) -> None:
        last_commit = last_lag = time.monotonic()
        while not self._stopping:
            try:
                await self._fetch_once()
                if time.monotonic() - last_commit >= self._options.commit_every:
                    await self._commit()
                    last_commit = time.monotonic()
                if time.monotonic() - last_lag >= self._options.lag_every:
                    await self._report_lag()
                    last_lag = time.monotonic()
            except asyncio.CancelledError:
                raise
            except KafkaError as exc:  # the broker is away or the group is rebalancing
                log.warning("%s: %r; fetching again shortly", self.group_id, exc)
                await asyncio.sleep(1.0)
            except Exception:
                log.exception("%s: fetching failed; fetching again shortly", self.group_id)
                await asyncio.sleep(1.0)

    async def _fetch_once(self) -> None:
        full = self._in_flight >= self._options.max_in_flight
        assigned = self._consumer.assignment()
        if full:
            self._consumer.pause(*assigned)
        else:
            self._consumer.resume(*assigned)
        if full:
            # Keep polling (so the group does not think we are gone) while waiting for room.
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), self._options.commit_every)
            await self._consumer.getmany(timeout_ms=0)
            return
        room = self._options.max_in_flight - self._in_flight
        batches = await self._consumer.getmany(timeout_ms=100, max_records=room)
        for tp, records in batches.items():
            partition = self._partition_for(tp)
            if partition is None:
                continue  # no longer ours: its new owner fetches it from the committed offset
            for record in records:
                self._dispatch(tp, partition, record)
            self._report_partition_lag(tp, partition.offsets.commit_point())

    def _report_partition_lag(self, tp: TopicPartition, point: int | None) -> None:
        highwater = self._consumer.highwater(tp)
        if highwater is not None and point is not None:
            self._metrics.lag(tp.partition, highwater - point)

    async def _report_lag(self) -> None:
        """Every assigned partition's lag; one that nothing was fetched from since it was
        assigned is measured from the consumer's position (known once a fetch answered)."""
        for tp in self._consumer.assignment():
            partition = self._partitions.get(tp)
            point = partition.offsets.commit_point() if partition is not None else None
            if point is None and self._consumer.highwater(tp) is not None:
                with contextlib.suppress(IllegalStateError):  # revoked meanwhile
                    point = await self._consumer.position(tp)
            self._report_partition_lag(tp, point)

    def _partition_for(self, tp: TopicPartition) -> _Partition | None:
        partition = self._partitions.get(tp)
        if partition is None and tp in self._consumer.assignment():
            partition = self._partitions[tp] = _Partition()
        return partition

    def _dispatch(self, tp: TopicPartition, partition: _Partition, record: Record) -> None:
        partition.offsets.fetched(record.offset)
        self._in_flight += 1
        lane = partition.lanes.get(record.key)
        if lane is not None:  # a worker is busy with this key: it takes this record next
            lane.append(record)
            return
        partition.lanes[record.key] = deque([record])
        worker = asyncio.create_task(self._work(partition, record.key), name=f"{tp} worker")
        partition.workers.add(worker)
        worker.add_done_callback(partition.workers.discard)

    async def _work(self, partition: _Partition, key: bytes | None) -> None:
        """Handle one key's records in order until its lane is empty."""
        lane = partition.lanes[key]
        while lane:
            record = lane[0]
            await self._handle(record)
            lane.popleft()
            partition.offsets.finished(record.offset)
            self._in_flight -= 1
            self._room.set()
        del partition.lanes[key]

    async def _handle(self, record: Record) -> None:
        while True:
            try:
                await self._handler(record)
                return
            except Exception:
                log.exception(
                    "%s: handling %s[%d]@%d failed; trying it again",
                    self.group_id,
                    record.topic,
                    record.partition,
                    record.offset,
                )
                await asyncio.sleep(self._options.retry_pause)

    # --- committing and rebalancing -------------------------------------------------------------

    async def _commit(self, only: Iterable[TopicPartition] | None = None) -> None:
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        chosen = self._partitions if only is None else only
        for tp in chosen:
            partition = self._partitions.get(tp)
            if partition is None:
                continue
            point = partition.offsets.commit_point()
            if point is not None and point != partition.committed:
                offsets[tp] = OffsetAndMetadata(point, "")
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:  # e.g. a rebalance took the partitions: the new owner resumes
            log.warning("%s: commit failed (%r); it is retried", self.group_id, exc)
            return
        for tp, committed in offsets.items():
            partition = self._partitions.get(tp)
            if partition is not None:
                partition.committed = committed.offset

    async def _drain(self, tps: list[TopicPartition]) -> None:
        """Let the partitions' work in flight finish for up to the grace period, then cancel
        what is left (it will be delivered again: nothing past it is committed)."""
        workers = {w for tp in tps if (p := self._partitions.get(tp)) for w in p.workers}
        if not workers:
            return
        _, late = await asyncio.wait(workers, timeout=self._options.grace)
        for worker in late:
            worker.cancel()
        if late:
            log.warning(
                "%s: %d keys' work cancelled after the grace period", self.group_id, len(late)
            )
            await asyncio.gather(*late, return_exceptions=True)

    async def on_revoked(self, revoked: list[TopicPartition]) -> None:
        ours = [tp for tp in revoked if tp in self._partitions]
        await self._drain(ours)
        await self._commit(ours)
        for tp in ours:
            partition = self._partitions.pop(tp)
            self._in_flight -= partition.offsets.pending
        for tp in revoked:
            self._metrics.forget_partition(tp.partition)
        self._room.set()

    @property
    def ready(self) -> bool:
        """Joined its group (partitions assigned, possibly none when the group has more
        members than partitions) and still fetching."""
        fetching = self._fetcher is not None and not self._fetcher.done()
        return self._joined and fetching

    def on_assigned(self, assigned: list[TopicPartition]) -> None:
        self._joined = True
        for tp in assigned:
            self._partitions.setdefault(tp, _Partition())


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: KeyOrderedConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._owner.on_revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._owner.on_assigned(list(assigned))
