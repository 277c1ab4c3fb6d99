"""What Kafka itself knows, read once per command: topics with their partitions, offsets and
configs; consumer groups with their state and committed offsets; and the records of a topic
between two sets of offsets (or as they arrive).

One `KafkaView` opens an admin client and a group-less consumer (it never commits, never joins
a group: looking never moves anyone's offsets) and closes both on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.protocol.admin import DescribeGroupsRequest, DescribeGroupsRequest_v2
from bookpay_shared.kafka import KafkaConnection

CLIENT_ID = "bookpay-ops"
SHOWN_CONFIGS = ("cleanup.policy", "retention.ms", "retention.bytes")
FETCH_IDLE_SECONDS = 1.0
"""How long a bounded read waits for more records before it decides the rest are gone
(deleted by retention or compaction, or transaction markers)."""

Offsets = dict[TopicPartition, int]


class KafkaUnreachable(Exception):
    """The brokers could not be reached or refused this principal."""


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    config: Mapping[str, str]
    start_offsets: Mapping[int, int]
    end_offsets: Mapping[int, int]

    @property
    def end_total(self) -> int:
        """Every message ever written (the sum of the partitions' end offsets)."""
        return sum(self.end_offsets.values())

    @property
    def retained(self) -> int:
        """Messages between the start and end offsets (deleted ones excluded; compacted away
        ones still counted)."""
        return sum(self.end_offsets[p] - self.start_offsets.get(p, 0) for p in self.end_offsets)


@dataclass(frozen=True)
class GroupInfo:
    group_id: str
    state: str
    """Kafka's word: Stable, PreparingRebalance, CompletingRebalance, Empty, Dead."""
    members: int
    committed: Mapping[TopicPartition, int] = field(default_factory=dict)

    @property
    def stable(self) -> bool:
        return self.state == "Stable"


class _DescribeGroupsUpToV2(DescribeGroupsRequest):  # type: ignore[misc]
    """DescribeGroups at version 2 at most (see `KafkaView._describe_groups`)."""

    def prepare(self, versions: dict[int, tuple[int, int]]) -> Any:
        low, _ = versions.get(self.API_KEY, (0, 2))
        if low > 2:
            return super().prepare(versions)
        return self.build(DescribeGroupsRequest_v2)


class KafkaView:
    """`async with KafkaView(connection) as kafka:` — topics, groups and records."""

    def __init__(self, connection: KafkaConnection) -> None:
        self._connection = connection
        self._admin = AIOKafkaAdminClient(**connection.client_args(), client_id=CLIENT_ID)
        self._consumer = AIOKafkaConsumer(
            **connection.client_args(),
            client_id=CLIENT_ID,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    async def __aenter__(self) -> Self:
        try:
            await self._admin.start()
            await self._consumer.start()
        except Exception as error:
            await self._close()
            raise KafkaUnreachable(
                f"cannot reach Kafka at {self._connection.bootstrap_servers}: {error}"
            ) from error
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        for closing in (self._consumer.stop(), self._admin.close()):
            with contextlib.suppress(Exception):  # closing what may never have opened
                await closing

    # --- topics ---------------------------------------------------------------------------

    async def topic_names(self) -> list[str]:
        names = await self._admin.list_topics()
        return sorted(n for n in names if not n.startswith("__"))

    async def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        described = await self._admin.describe_topics(list(topics))
        unknown = [t["topic"] for t in described if t.get("error_code")]
        if unknown:
            raise KeyError(f"no such topic: {', '.join(sorted(unknown))}")
        return sorted(
            TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]
        )

    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> Offsets:
        wanted = list(partitions)
        if not wanted:
            return {}
        return dict(await self._consumer.end_offsets(wanted))

    async def start_offsets(self, partitions: Iterable[TopicPartition]) -> Offsets:
        wanted = list(partitions)
        if not wanted:
            return {}
        return dict(await self._consumer.beginning_offsets(wanted))

    async def configs(self, topics: Iterable[str]) -> dict[str, dict[str, str]]:
        names = list(topics)
        if not names:
            return {}
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
        responses = await self._admin.describe_configs(resources)
        found: dict[str, dict[str, str]] = {}
        for response in responses:
            for resource in response.resources:
                _, _, _, name, entries = resource[:5]
                found[name] = {e[0]: e[1] for e in entries if e[0] in SHOWN_CONFIGS}
        return found

    async def topics(self, names: Iterable[str] | None = None) -> list[TopicInfo]:
        chosen = sorted(names) if names is not None else await self.topic_names()
        partitions = await self.partitions(chosen)
        starts, ends, configs = await asyncio.gather(
            self.start_offsets(partitions), self.end_offsets(partitions), self.configs(chosen)
        )
        return [
            TopicInfo(
                name=name,
                partitions=sum(1 for tp in partitions if tp.topic == name),
                config=configs.get(name, {}),
                start_offsets={tp.partition: o for tp, o in starts.items() if tp.topic == name},
                end_offsets={tp.partition: o for tp, o in ends.items() if tp.topic == name},
            )
            for name in chosen
        ]

    # --- consumer groups ------------------------------------------------------------------

    async def group_ids(self) -> list[str]:
        groups = await self._admin.list_consumer_groups()
        return sorted(str(g[0]) for g in groups)

    async def groups(self, group_ids: Iterable[str] | None = None) -> list[GroupInfo]:
        ids = list(group_ids) if group_ids is not None else await self.group_ids()
        if not ids:
            return []
        described: dict[str, tuple[str, int]] = {}
        for response in await self._describe_groups(ids):
            for group in response.groups:
                # (error_code, group_id, state, protocol_type, protocol, members)
                described[group[1]] = (group[2], len(group[5]))
        committed = await asyncio.gather(*(self._admin.list_consumer_group_offsets(g) for g in ids))
        return [
            GroupInfo(
                group_id=group_id,
                state=described.get(group_id, ("Dead", 0))[0],
                members=described.get(group_id, ("Dead", 0))[1],
                committed={tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0},
            )
            for group_id, offsets in zip(ids, committed, strict=True)
        ]

    async def _describe_groups(self, ids: list[str]) -> list[Any]:
        """DescribeGroups at version 2, asked of each group's coordinator: aiokafka's admin
        client negotiates version 3, whose answer it then decodes with version 2's layout and
        fails (the answer carries one more field per group)."""
        by_coordinator: dict[int, list[str]] = {}
        for group_id in ids:
            by_coordinator.setdefault(await self._admin.find_coordinator(group_id), []).append(
                group_id
            )
        return list(
            await asyncio.gather(
                *(
                    self._admin._send_request(_DescribeGroupsUpToV2(groups), node)
                    for node, groups in by_coordinator.items()
                )
            )
        )

    # --- records --------------------------------------------------------------------------

    async def read(self, start: Offsets, end: Offsets) -> AsyncIterator[ConsumerRecord[Any, Any]]:
        """Every record from `start` (inclusive) to `end` (exclusive) per partition, partition
        by partition interleaved as fetched. Stops early on a partition whose remaining
        records are gone (nothing arrives for FETCH_IDLE_SECONDS)."""
        pending = {tp: o for tp, o in end.items() if o > start.get(tp, 0)}
        if not pending:
            return
        self._consumer.assign(list(pending))
        for tp in pending:
            self._consumer.seek(tp, start.get(tp, 0))
        while pending:
            batches = await self._consumer.getmany(
                *pending, timeout_ms=int(FETCH_IDLE_SECONDS * 1000)
            )
            if not batches:
                return
            for tp, records in batches.items():
                for record in records:
                    if tp in pending and record.offset < pending[tp]:
                        yield record
                if tp in pending and await self._consumer.position(tp) >= pending[tp]:
                    del pending[tp]

    async def read_all(self, topics: Iterable[str]) -> AsyncIterator[ConsumerRecord[Any, Any]]:
        """Every retained record of the topics, as they stand now."""
        partitions = await self.partitions(topics)
        start, end = await asyncio.gather(
            self.start_offsets(partitions), self.end_offsets(partitions)
        )
        async for record in self.read(start, end):
            yield record

    async def follow(
        self, topics: Iterable[str], *, from_start: bool = False, start: Offsets | None = None
    ) -> AsyncIterator[ConsumerRecord[Any, Any]]:
        """Records as they arrive (after the retained ones when `from_start`; from `start`'s
        offsets when given, so that a follow goes on exactly where a `read` stopped), until
        cancelled."""
        partitions = await self.partitions(topics)
        self._consumer.assign(partitions)
        starts = start or {}
        if from_start:
            self._consumer.seek_to_beginning(*partitions)
        else:
            for tp in partitions:
                if tp in starts:
                    self._consumer.seek(tp, starts[tp])
            at_end = [tp for tp in partitions if tp not in starts]
            if at_end:  # (naming no partition would seek every one)
                self._consumer.seek_to_end(*at_end)
        while True:
            batches = await self._consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    yield record
