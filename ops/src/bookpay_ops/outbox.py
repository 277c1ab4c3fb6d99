"""`bookpay-ops outbox`: per service, the events written to its outbox and not yet published
to Kafka, and how long the oldest has waited, read from the service's `/metrics`.

An outbox that keeps growing, or whose oldest row keeps ageing, means a service writes events
it cannot publish (Kafka unreachable, a publisher stuck): nothing downstream hears of the
charges it records. The command is fit for scripts: its exit code is 1 when any service is
down, cannot tell (no `/metrics`, no outbox gauges, refused the key), or holds an event older
than `--max-age` seconds; 0 when every outbox is keeping up.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Annotated

import typer
from prometheus_client.metrics_core import Metric
from rich.console import Console
from rich.table import Table

from bookpay_ops.config import SERVICES, Target
from bookpay_ops.services import NoMetrics, ServiceDown, ServiceProblem, StaffApi

UNPUBLISHED = "bookpay_outbox_unpublished_events"
"""Gauge: outbox rows not yet published."""
OLDEST_AGE = "bookpay_outbox_oldest_unpublished_age_seconds"
"""Gauge: seconds since the oldest unpublished row was written (0 or absent when none)."""
DEFAULT_MAX_AGE = 60.0


class State(StrEnum):
    OK = "ok"
    BEHIND = "behind"
    """Its oldest unpublished event is older than the limit."""
    DOWN = "down"
    NO_METRICS = "no metrics"
    NO_GAUGES = "no outbox gauges"
    REFUSED = "refused"


@dataclass(frozen=True)
class Backlog:
    """The outbox gauges as a service's `/metrics` reads them."""

    unpublished: int
    oldest_age_seconds: float | None
    """None when the service does not say (or has nothing waiting)."""


@dataclass(frozen=True)
class ServiceOutbox:
    service: str
    url: str
    state: State
    unpublished: int | None = None
    oldest_age_seconds: float | None = None
    detail: str | None = None
    """What went wrong, for a service that could not tell."""

    @property
    def healthy(self) -> bool:
        return self.state is State.OK


def backlog_of(families: Iterable[Metric]) -> Backlog | None:
    """The outbox backlog in parsed `/metrics` families; None when the unpublished gauge is
    missing. Samples of one gauge under several label sets (a publisher per topic, say) add
    up; the oldest age is the largest. A NaN age (nothing waiting, as some exporters say it)
    counts as none."""
    unpublished: float | None = None
    ages: list[float] = []
    for family in families:
        for sample in family.samples:
            if sample.name == UNPUBLISHED:
                unpublished = (unpublished or 0.0) + sample.value
            elif sample.name == OLDEST_AGE and not math.isnan(sample.value):
                ages.append(sample.value)
    if unpublished is None or math.isnan(unpublished):
        return None
    return Backlog(int(unpublished), max(ages) if ages else None)


def judge(service: str, url: str, backlog: Backlog | None, max_age: float) -> ServiceOutbox:
    if backlog is None:
        return ServiceOutbox(
            service, url, State.NO_GAUGES, detail=f"{url}/metrics has no {UNPUBLISHED}"
        )
    age = backlog.oldest_age_seconds
    late = backlog.unpublished > 0 and age is not None and age > max_age
    return ServiceOutbox(
        service,
        url,
        State.BEHIND if late else State.OK,
        unpublished=backlog.unpublished,
        oldest_age_seconds=age,
    )


async def read_outbox(api: StaffApi, service: str, max_age: float) -> ServiceOutbox:
    url = api.urls[service]
    try:
        families = await api.metrics(service)
    except ServiceProblem as exc:
        return unreadable(service, url, exc)
    return judge(service, url, backlog_of(families), max_age)


def unreadable(service: str, url: str, problem: ServiceProblem) -> ServiceOutbox:
    """The outbox of a service whose `/metrics` could not be read: down, without metrics, or
    refusing the key."""
    if isinstance(problem, ServiceDown):
        return ServiceOutbox(service, url, State.DOWN, detail=problem.message)
    if isinstance(problem, NoMetrics):
        return ServiceOutbox(service, url, State.NO_METRICS, detail=problem.message)
    return ServiceOutbox(service, url, State.REFUSED, detail=problem.message)


async def read_outboxes(
    api: StaffApi, services: Sequence[str], max_age: float
) -> list[ServiceOutbox]:
    """Every service's outbox, asked at once (one slow service does not delay the others
    beyond the client's timeout)."""
    return list(await asyncio.gather(*(read_outbox(api, s, max_age) for s in services)))


def exit_code(outboxes: Iterable[ServiceOutbox]) -> int:
    return 0 if all(o.healthy for o in outboxes) else 1


def as_json(outboxes: Sequence[ServiceOutbox], max_age: float) -> str:
    return json.dumps(
        {
            "max_age_seconds": max_age,
            "healthy": exit_code(outboxes) == 0,
            "services": [{**asdict(o), "state": o.state.value} for o in outboxes],
        },
        indent=2,
    )


def table(outboxes: Sequence[ServiceOutbox], max_age: float) -> Table:
    shown = Table(title=f"Outboxes (behind: an event waiting over {max_age:g}s)")
    for column in ("service", "state", "unpublished", "oldest waiting", "detail"):
        shown.add_column(column, justify="right" if column == "unpublished" else "left")
    style = {State.OK: "green", State.BEHIND: "yellow"}
    for o in outboxes:
        age = o.oldest_age_seconds
        shown.add_row(
            o.service,
            f"[{style.get(o.state, 'red')}]{o.state.value}[/]",
            "" if o.unpublished is None else str(o.unpublished),
            "" if age is None else f"{age:.1f}s",
            o.detail or o.url,
        )
    return shown


MaxAgeOption = Annotated[
    float,
    typer.Option(
        "--max-age",
        min=0,
        help="seconds an unpublished event may wait before its service counts as behind",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def outbox_command(
    ctx: typer.Context, max_age: MaxAgeOption = DEFAULT_MAX_AGE, as_json_: JsonOption = False
) -> None:
    """Per service: events not yet published to Kafka and the oldest one's age (from each
    service's /metrics). Exit code 1 when a service is down, cannot tell, or is behind."""
    target: Target = ctx.obj
    outboxes = asyncio.run(_read(target, max_age))
    if as_json_:
        typer.echo(as_json(outboxes, max_age))
    else:
        Console().print(table(outboxes, max_age))
    raise typer.Exit(exit_code(outboxes))


async def _read(target: Target, max_age: float) -> list[ServiceOutbox]:
    urls = {s: target.url(s) for s in SERVICES}
    async with StaffApi(urls, target.platform_key) as api:
        return await read_outboxes(api, SERVICES, max_age)
