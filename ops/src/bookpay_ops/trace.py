"""`bookpay-ops trace CHARGE_ID`: everything that happened to one charge, in time order, in one
timeline: its events on every event topic and in the dead letters, and what the services
recorded of it — its history in charge-service, its payment link(s) in link-service, its emails
in notification-service.

The events are found by reading every retained record of the event topics and their dead
letters and keeping those whose charge_id or correlation id is the charge: simple and complete,
and slow on topics that hold much (an index of events by charge would be the next step). The
services are asked only when the charge's account is known: from `--account`, else from the
first event that names one.

A source that cannot answer (Kafka or a service down) is named on a line of its own, the rest is
still shown, and the exit code is 1; a charge nothing knows of is exit code 1 too.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any, TypeVar

import typer
from bookpay_shared.money import format_amount
from bookpay_shared.topics import dlq

from bookpay_ops.config import Target
from bookpay_ops.decoding import FLOW_TOPICS, Decoded, as_json, decode, describe, place
from bookpay_ops.kafka_view import KafkaUnreachable, KafkaView
from bookpay_ops.services import (
    Charge,
    Link,
    Notification,
    ServiceProblem,
    ServiceRefused,
    StaffApi,
)

_T = TypeVar("_T")
TRACED_TOPICS = (*FLOW_TOPICS, *(dlq(t) for t in FLOW_TOPICS))


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: when, which source said it, what it said."""

    at: datetime
    source: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    """The whole of what the source said, for `--json`."""


@dataclass(frozen=True)
class Found:
    """What each source said of the charge; `problems` name the sources that could not say."""

    events: list[Decoded] = field(default_factory=list)
    charge: Charge | None = None
    links: list[Link] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Facts that are no failure (a service that does not know the charge)."""

    @property
    def anything(self) -> bool:
        return bool(self.events or self.charge or self.links or self.notifications)


def first_account(events: Iterable[Decoded]) -> uuid.UUID | None:
    """The account of the first event that names one."""
    return next((e.account_id for e in events if e.account_id is not None), None)


def event_entries(events: Iterable[Decoded]) -> list[Entry]:
    return [Entry(e.occurred_at, place(e), describe(e), as_json(e)) for e in events]


def history_entries(charge: Charge) -> list[Entry]:
    return [
        Entry(h.at, "charge-service", f"{h.status}: {h.note}", h.model_dump(mode="json"))
        for h in charge.history
    ]


def link_entries(links: Iterable[Link]) -> list[Entry]:
    entries = []
    for link in links:
        data = link.model_dump(mode="json")
        amount = format_amount(link.amount, link.currency)
        text = (
            f"link {link.link_id} made ({link.origin}): {amount}, now {link.state}, "
            f"expires {link.expires_at:%Y-%m-%d %H:%M}, sent {link.times_sent}x"
        )
        entries.append(Entry(link.created_at, "link-service", text, data))
        if link.paid_at:
            entries.append(Entry(link.paid_at, "link-service", f"link {link.link_id} paid", data))
        if link.closed_at:
            closed = f"link {link.link_id} closed ({link.state})"
            entries.append(Entry(link.closed_at, "link-service", closed, data))
    return entries


def notification_entries(notifications: Iterable[Notification]) -> list[Entry]:
    entries = []
    for n in notifications:
        text = (
            f"email {n.kind} to {n.recipient}: {n.status} "
            f"({n.attempts} attempt{'' if n.attempts == 1 else 's'}) {n.subject!r}"
        )
        if n.last_error:
            text += f", last error: {n.last_error}"
        entries.append(
            Entry(
                n.sent_at or n.failed_at or n.created_at,
                "notification-service",
                text,
                n.model_dump(mode="json"),
            )
        )
    return entries


def timeline(found: Found) -> list[Entry]:
    """Every source's entries merged in time order (events before service records at the same
    instant: a service records what an event told it)."""
    entries = [
        *event_entries(found.events),
        *(history_entries(found.charge) if found.charge else []),
        *link_entries(found.links),
        *notification_entries(found.notifications),
    ]
    return sorted(entries, key=lambda e: e.at)


def render(charge_id: uuid.UUID, account_id: uuid.UUID | None, found: Found) -> list[str]:
    width = max((len(e.source) for e in timeline(found)), default=0)
    head = f"charge {charge_id}" + (f" (account {account_id})" if account_id else "")
    lines = [head]
    lines += [
        f"{e.at:%Y-%m-%d %H:%M:%S.%f}"[:-3] + f"  {e.source:<{width}}  {e.text}"
        for e in timeline(found)
    ]
    lines += [f"note: {n}" for n in found.notes]
    lines += [f"PROBLEM: {p}" for p in found.problems]
    return lines


def to_json(charge_id: uuid.UUID, account_id: uuid.UUID | None, found: Found) -> dict[str, Any]:
    return {
        "charge_id": str(charge_id),
        "account_id": str(account_id) if account_id else None,
        "timeline": [
            {"at": e.at.isoformat(), "source": e.source, "text": e.text, "data": e.data}
            for e in timeline(found)
        ],
        "notes": found.notes,
        "problems": found.problems,
    }


# --- reading ------------------------------------------------------------------------------


async def read_events(target: Target, charge_id: uuid.UUID) -> list[Decoded]:
    """Every retained record of the event topics and their dead letters about the charge."""
    async with KafkaView(target.kafka) as kafka:
        present = set(await kafka.topic_names())
        topics = [t for t in TRACED_TOPICS if t in present]
        return [d async for r in kafka.read_all(topics) if (d := decode(r)).concerns(charge_id)]


async def read_services(api: StaffApi, account_id: uuid.UUID, charge_id: uuid.UUID) -> Found:
    """The charge, its links and its emails as the services know them (no events); what could
    not be read becomes a problem, a charge charge-service does not know becomes a note."""
    problems: list[str] = []
    notes: list[str] = []

    async def charge() -> Charge | None:
        try:
            return await api.charge(account_id, charge_id)
        except ServiceRefused as exc:
            if exc.status != 404:
                raise
            notes.append(f"charge-service: no charge {charge_id} in account {account_id}")
            return None

    async def asked(what: Awaitable[_T], otherwise: _T) -> _T:
        try:
            return await what
        except ServiceProblem as exc:
            problems.append(str(exc))
            return otherwise

    found, links, emails = await asyncio.gather(
        asked(charge(), None),
        asked(_listed(api.links(account_id, charge_id=charge_id)), []),
        asked(_listed(api.notifications(account_id, charge_id=charge_id)), []),
    )
    return Found(charge=found, links=links, notifications=emails, problems=problems, notes=notes)


async def _listed(items: AsyncIterator[_T]) -> list[_T]:
    return [item async for item in items]


async def read_trace(
    target: Target, charge_id: uuid.UUID, account_id: uuid.UUID | None
) -> tuple[uuid.UUID | None, Found]:
    """The charge's account (given, or its first event's) and what every source said of it."""
    problems: list[str] = []
    events: list[Decoded] = []
    try:
        events = sorted(await read_events(target, charge_id), key=lambda d: d.occurred_at)
    except KafkaUnreachable as exc:
        problems.append(f"kafka: {exc}")
    account_id = account_id or first_account(events)
    if account_id is None:
        return None, Found(events=events, problems=problems)
    urls = {s: target.url(s) for s in ("charge-service", "link-service", "notification-service")}
    async with StaffApi(urls, target.platform_key) as api:
        found = await read_services(api, account_id, charge_id)
    return account_id, replace(found, events=events, problems=problems + found.problems)


ChargeArgument = Annotated[str, typer.Argument(help="the charge's id")]
AccountOption = Annotated[
    str | None,
    typer.Option(
        "--account", help="the charge's account (default: its events')", show_default=False
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of lines")]


def trace_command(
    ctx: typer.Context,
    charge: ChargeArgument,
    account: AccountOption = None,
    as_json_: JsonOption = False,
) -> None:
    """Everything that happened to one charge, in time order: its events (dead letters
    included), its history, its links and its emails. Exit code 1 when a source could not
    answer or nothing knows the charge."""
    target: Target = ctx.obj
    charge_id = _id(charge, "CHARGE")
    account_id = _id(account, "--account") if account else None
    account_id, found = asyncio.run(read_trace(target, charge_id, account_id))
    if not found.anything:
        for problem in found.problems:
            typer.echo(f"bookpay-ops: {problem}", err=True)
        typer.echo(f"bookpay-ops: {unknown(charge_id, account_id)}", err=True)
        raise typer.Exit(1)
    if as_json_:
        typer.echo(json.dumps(to_json(charge_id, account_id, found), indent=2))
    else:
        for text in render(charge_id, account_id, found):
            typer.echo(text)
    raise typer.Exit(1 if found.problems else 0)


def unknown(charge_id: uuid.UUID, account_id: uuid.UUID | None) -> str:
    where = (
        f"and account {account_id}'s services do not know it"
        if account_id
        else "(give --account to ask the services too)"
    )
    return f"no charge {charge_id}: no retained event names it {where}"


def _id(text: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not an id", param_hint=name) from exc
