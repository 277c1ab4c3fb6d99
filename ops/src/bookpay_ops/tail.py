"""`bookpay-ops tail`: the events of some topics, decoded, filtered, one line each — the newest
ones, every retained one, or those still to come (`--follow`).

`--last N` reads the newest N records of each topic and then filters them: it answers "what
happened lately", not "the last N events of this charge" (use `--from-start`, or `trace`, for
that). With `--follow`, the lines go on from exactly where the first read stopped until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated

import typer

from bookpay_ops.config import Target
from bookpay_ops.decoding import (
    FLOW_TOPICS,
    KNOWN_TOPICS,
    MODELS_BY_TYPE,
    Decoded,
    decode,
    json_line,
    line,
)
from bookpay_ops.kafka_view import KafkaUnreachable, KafkaView, Offsets

DEFAULT_LAST = 20
ALL = "all"


def resolve_topics(names: Sequence[str]) -> list[str]:
    """The topics asked for: every flow topic for none or `all`; ValueError for a topic the
    contract does not have."""
    if not names or ALL in names:
        return list(FLOW_TOPICS)
    unknown = sorted(set(names) - KNOWN_TOPICS)
    if unknown:
        raise ValueError(
            f"no such topic: {', '.join(unknown)} (known: {ALL}, {', '.join(sorted(KNOWN_TOPICS))})"
        )
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Filters:
    """What a record must be about to be shown; None matches anything."""

    account_id: uuid.UUID | None = None
    charge_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    event_type: str | None = None

    def matches(self, decoded: Decoded) -> bool:
        return (
            (self.charge_id is None or decoded.concerns(self.charge_id))
            and (self.account_id is None or decoded.account_id == self.account_id)
            and (self.customer_id is None or decoded.customer_id == self.customer_id)
            and (self.event_type is None or decoded.event_type == self.event_type)
        )


def newest_starts(start: Offsets, end: Offsets, last: int) -> Offsets:
    """Where to read each partition from to get at least its newest `last` records."""
    return {tp: max(start.get(tp, 0), offset - last) for tp, offset in end.items()}


def newest_per_topic(records: Iterable[Decoded], last: int) -> list[Decoded]:
    """The newest `last` records of each topic (by the time Kafka took them), all in time
    order."""
    by_topic: dict[str, list[Decoded]] = {}
    for record in records:
        by_topic.setdefault(record.topic, []).append(record)
    kept = [r for rs in by_topic.values() for r in sorted(rs, key=arrival)[-last:] if last > 0]
    return sorted(kept, key=arrival)


def arrival(decoded: Decoded) -> tuple[object, ...]:
    return (decoded.timestamp, decoded.topic, decoded.partition, decoded.offset)


async def read_recent(
    kafka: KafkaView, topics: Sequence[str], last: int | None
) -> tuple[list[Decoded], Offsets]:
    """The retained records of the topics (the newest `last` per topic unless None), decoded
    in time order, and the offsets the read stopped at."""
    partitions = await kafka.partitions(topics)
    start, end = await asyncio.gather(
        kafka.start_offsets(partitions), kafka.end_offsets(partitions)
    )
    first = start if last is None else newest_starts(start, end, last)
    found = [decode(r) async for r in kafka.read(first, end)]
    return (sorted(found, key=arrival) if last is None else newest_per_topic(found, last)), end


async def tail(
    target: Target,
    topics: Sequence[str],
    filters: Filters,
    show: Callable[[Decoded], None],
    *,
    last: int | None,
    follow: bool,
) -> None:
    async with KafkaView(target.kafka) as kafka:
        recent, end = await read_recent(kafka, topics, last)
        for decoded in recent:
            if filters.matches(decoded):
                show(decoded)
        if not follow:
            return
        async for record in kafka.follow(topics, start=end):
            decoded = decode(record)
            if filters.matches(decoded):
                show(decoded)


TopicsArgument = Annotated[
    list[str] | None,
    typer.Argument(help=f"topics to read ({ALL} or none: every event topic)", show_default=False),
]
FollowOption = Annotated[
    bool, typer.Option("--follow", "-f", help="keep printing new events until Ctrl-C")
]
FromStartOption = Annotated[
    bool, typer.Option("--from-start", help="every retained record (instead of --last)")
]
LastOption = Annotated[
    int, typer.Option("--last", min=0, help="the newest N records of each topic (then filtered)")
]
TypeOption = Annotated[
    str | None, typer.Option("--type", help="only this event type", show_default=False)
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="one JSON object per line instead of text")
]


def tail_command(
    ctx: typer.Context,
    topics: TopicsArgument = None,
    follow: FollowOption = False,
    from_start: FromStartOption = False,
    last: LastOption = DEFAULT_LAST,
    account: Annotated[str | None, typer.Option("--account", help="only this account's")] = None,
    charge: Annotated[str | None, typer.Option("--charge", help="only this charge's")] = None,
    customer: Annotated[str | None, typer.Option("--customer", help="only this customer's")] = None,
    event_type: TypeOption = None,
    as_json_: JsonOption = False,
) -> None:
    """Events of TOPIC... (every event topic by default), decoded and filtered, one line each:
    the newest --last N of each topic, every retained one (--from-start), then new ones as
    they come (--follow, until Ctrl-C)."""
    target: Target = ctx.obj
    try:
        chosen = resolve_topics(topics or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="TOPICS") from exc
    if event_type is not None and event_type not in MODELS_BY_TYPE:
        known = ", ".join(sorted(MODELS_BY_TYPE))
        raise typer.BadParameter(
            f"unknown event type {event_type!r}; one of {known}", param_hint="--type"
        )
    filters = Filters(
        account_id=_id(account, "--account"),
        charge_id=_id(charge, "--charge"),
        customer_id=_id(customer, "--customer"),
        event_type=event_type,
    )
    show = (lambda d: typer.echo(json_line(d))) if as_json_ else (lambda d: typer.echo(line(d)))
    try:
        asyncio.run(
            tail(target, chosen, filters, show, last=None if from_start else last, follow=follow)
        )
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    except (KafkaUnreachable, KeyError) as exc:
        typer.echo(f"bookpay-ops: {exc.args[0] if exc.args else exc}", err=True)
        raise typer.Exit(1) from exc


def _id(text: str | None, option: str) -> uuid.UUID | None:
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not an id", param_hint=option) from exc
