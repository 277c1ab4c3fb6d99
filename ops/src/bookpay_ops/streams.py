"""`bookpay-ops topics` and `bookpay-ops lag`: the event streams as Kafka sees them.

`topics` lists every topic with its partitions, retention or compaction, the messages written
and retained, and how many arrive per second now (end offsets read twice, `--interval` apart).
`lag` lists, per consumer group and partition, the committed offset, the end offset and the
difference: the messages a service has yet to process, with the group's state (a group that is
not Stable is rebalancing or has no member, and consumes nothing meanwhile).

The pure parts (rates, lag rows, judging) are apart from the reading so that `watch` shares them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Annotated, Any, TypeVar

import typer
from aiokafka import TopicPartition
from rich import box
from rich.table import Table

from bookpay_ops.config import Target
from bookpay_ops.kafka_view import GroupInfo, KafkaUnreachable, KafkaView, TopicInfo
from bookpay_ops.output import console

T = TypeVar("T")
TOPIC_WIDTH = 26
"""The longest topic name (payment-over-collected.dlq), shown whole."""

# --- topics ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicRow:
    topic: str
    partitions: int
    cleanup_policy: str
    retention_ms: int | None
    """None: kept for ever (-1)."""
    written: int
    """Messages ever written: the sum of the end offsets."""
    retained: int
    per_second: float | None
    """Messages written per second over the sampling interval; None when not sampled."""


def rate(before: int, after: int, seconds: float) -> float:
    """Messages per second between two totals of end offsets."""
    if seconds <= 0:
        return 0.0
    return max(0, after - before) / seconds


def topic_rows(
    topics: Sequence[TopicInfo], before: Mapping[str, int] | None, seconds: float
) -> list[TopicRow]:
    """`before`: each topic's written total `seconds` before `topics` were read."""
    rows = []
    for t in topics:
        retention = t.config.get("retention.ms")
        rows.append(
            TopicRow(
                topic=t.name,
                partitions=t.partitions,
                cleanup_policy=t.config.get("cleanup.policy", "?"),
                retention_ms=None if retention in (None, "-1") else int(retention),
                written=t.end_total,
                retained=t.retained,
                per_second=(
                    None
                    if before is None
                    else rate(before.get(t.name, t.end_total), t.end_total, seconds)
                ),
            )
        )
    return rows


def human_duration(ms: int | None) -> str:
    if ms is None:
        return "forever"
    seconds = ms / 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def topics_table(rows: Sequence[TopicRow], seconds: float) -> Table:
    shown = Table(title="Topics", caption=f"msg/s: measured over {seconds:g}s", box=box.SIMPLE_HEAD)
    shown.add_column("topic", no_wrap=True, min_width=TOPIC_WIDTH)
    shown.add_column("parts", justify="right")
    shown.add_column("policy")
    shown.add_column("retention", justify="right")
    shown.add_column("written", justify="right")
    shown.add_column("retained", justify="right")
    shown.add_column("msg/s", justify="right")
    for r in rows:
        dead_letters = r.topic.endswith(".dlq") and r.retained > 0
        shown.add_row(
            f"[red]{r.topic}[/]" if dead_letters else r.topic,
            str(r.partitions),
            r.cleanup_policy,
            human_duration(r.retention_ms),
            str(r.written),
            str(r.retained),
            "" if r.per_second is None else f"{r.per_second:.1f}",
        )
    return shown


async def read_topic_rows(kafka: KafkaView, interval: float) -> list[TopicRow]:
    names = await kafka.topic_names()
    started = time.monotonic()
    first = await kafka.topics(names)
    if interval <= 0:
        return topic_rows(first, None, 0)
    await asyncio.sleep(interval)
    second = await kafka.topics(names)
    elapsed = time.monotonic() - started
    return topic_rows(second, {t.name: t.end_total for t in first}, elapsed)


# --- lag ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LagRow:
    group: str
    state: str
    members: int
    topic: str
    partition: int
    committed: int | None
    """None: the group has committed nothing on this partition yet."""
    end: int
    lag: int


def lag_rows(
    groups: Iterable[GroupInfo],
    ends: Mapping[TopicPartition, int],
    starts: Mapping[TopicPartition, int],
    topics_of: Mapping[str, Sequence[str]],
) -> list[LagRow]:
    """One row per group and partition of the topics it consumes (`topics_of`: besides the
    topics it has committed on, those it is known to read, e.g. by its name). A partition
    without a committed offset lags by everything retained on it (the groups start from the
    earliest offset)."""
    rows = []
    for group in groups:
        topics = {tp.topic for tp in group.committed} | set(topics_of.get(group.group_id, ()))
        for tp in sorted(p for p in ends if p.topic in topics):
            committed = group.committed.get(tp)
            end = ends[tp]
            base = committed if committed is not None else starts.get(tp, 0)
            rows.append(
                LagRow(
                    group=group.group_id,
                    state=group.state,
                    members=group.members,
                    topic=tp.topic,
                    partition=tp.partition,
                    committed=committed,
                    end=end,
                    lag=max(0, end - base),
                )
            )
    return rows


def topics_by_group_name(group_ids: Iterable[str], topics: Iterable[str]) -> dict[str, list[str]]:
    """bookpay's groups are named `<service>.<topic>`: the topic each reads, from its name."""
    known = set(topics)
    found: dict[str, list[str]] = {}
    for group_id in group_ids:
        _, _, topic = group_id.partition(".")
        if topic in known:
            found[group_id] = [topic]
    return found


def group_totals(rows: Iterable[LagRow]) -> dict[str, tuple[str, int]]:
    """Per group: its state and its total lag."""
    totals: dict[str, tuple[str, int]] = {}
    for r in rows:
        state, lag = totals.get(r.group, (r.state, 0))
        totals[r.group] = (state, lag + r.lag)
    return totals


def lag_table(rows: Sequence[LagRow], *, per_partition: bool) -> Table:
    shown = Table(title="Consumer lag", box=box.SIMPLE_HEAD)
    shown.add_column("group", no_wrap=True)
    shown.add_column("state")
    if per_partition:
        for column in ("topic", "partition", "committed", "end", "lag"):
            if column == "topic":
                shown.add_column(column, no_wrap=True, min_width=TOPIC_WIDTH)
            else:
                shown.add_column(column, justify="right")
        for r in rows:
            shown.add_row(
                r.group,
                _state_cell(r.state),
                r.topic,
                str(r.partition),
                "-" if r.committed is None else str(r.committed),
                str(r.end),
                _lag_cell(r.lag),
            )
        return shown
    shown.add_column("members", justify="right")
    shown.add_column("lag", justify="right")
    members = {r.group: r.members for r in rows}
    for group, (state, lag) in group_totals(rows).items():
        shown.add_row(group, _state_cell(state), str(members[group]), _lag_cell(lag))
    return shown


def _state_cell(state: str) -> str:
    return f"[green]{state}[/]" if state == "Stable" else f"[yellow]{state}[/]"


def _lag_cell(lag: int) -> str:
    return f"[yellow]{lag}[/]" if lag else "0"


async def read_lag_rows(kafka: KafkaView, group_filter: str | None = None) -> list[LagRow]:
    group_ids = await kafka.group_ids()
    if group_filter:
        group_ids = [g for g in group_ids if group_filter in g]
    groups = await kafka.groups(group_ids)
    names = await kafka.topic_names()
    partitions = await kafka.partitions(names)
    ends, starts = await asyncio.gather(
        kafka.end_offsets(partitions), kafka.start_offsets(partitions)
    )
    return lag_rows(groups, ends, starts, topics_by_group_name(group_ids, names))


# --- commands ----------------------------------------------------------------------------

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def topics_command(
    ctx: typer.Context,
    interval: Annotated[
        float,
        typer.Option(
            "--interval", min=0, help="seconds between the two offset reads that give msg/s"
        ),
    ] = 2.0,
    as_json: JsonOption = False,
) -> None:
    """Every topic: partitions, retention or compaction, messages written and retained, and
    messages per second now. Dead-letter topics holding messages show in red."""
    target: Target = ctx.obj
    rows = _run(_topics(target, interval))
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        console().print(topics_table(rows, interval))


def lag_command(
    ctx: typer.Context,
    group: Annotated[
        str | None, typer.Option("--group", help="only groups whose name contains this")
    ] = None,
    partitions: Annotated[
        bool, typer.Option("--partitions", help="one row per partition instead of per group")
    ] = False,
    max_lag: Annotated[
        int | None,
        typer.Option("--max-lag", min=0, help="exit 1 when any group lags by more than this"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Per consumer group (and partition): committed offset, end offset, lag, and whether the
    group is Stable. Exit code 1 with --max-lag when a group lags by more, or is not Stable."""
    target: Target = ctx.obj
    rows = _run(_lag(target, group))
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        console().print(lag_table(rows, per_partition=partitions))
    if max_lag is not None and not lag_within(rows, max_lag):
        raise typer.Exit(1)


def lag_within(rows: Iterable[LagRow], max_lag: int) -> bool:
    return all(state == "Stable" and lag <= max_lag for state, lag in group_totals(rows).values())


async def _topics(target: Target, interval: float) -> list[TopicRow]:
    async with KafkaView(target.kafka) as kafka:
        return await read_topic_rows(kafka, interval)


async def _lag(target: Target, group: str | None) -> list[LagRow]:
    async with KafkaView(target.kafka) as kafka:
        return await read_lag_rows(kafka, group)


def _run(reading: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(reading)
    except KafkaUnreachable as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
