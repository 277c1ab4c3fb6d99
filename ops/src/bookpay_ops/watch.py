"""`bookpay-ops watch`: a live terminal dashboard of the running stack, for people who would
rather look than read.

Every `--interval` seconds it reads Kafka (end offsets of every topic, every group's committed
offsets and state), each service's `/metrics` (outbox backlog; charge outcomes from
charge-service) and, with `--account`, that account's charges from charge-service. It keeps the
readings of the last `--window` and shows:
- what needs a look first, in one line (groups lagging more than before or not Stable, dead
  letters, outboxes behind, services down), or "all clear";
- messages per second per event topic, with a sparkline of the window;
- lag per consumer group, with its trend;
- dead letters per topic (retained, and new since the dashboard started);
- outboxes per service;
- charges by method and outcome over the window: counted from charge-service's
  `bookpay_charges_total` between the oldest and newest reading (so "since the dashboard
  started" until the window fills), or, with `--account`, from the account's charges list.

Readings and frames are separate: `Reading` is what one refresh saw, `History` the window of
them, `render` a pure function of the history; only `read` does I/O. `--once` prints one frame
(two readings `--interval` apart) and exits, for a capture or a script.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from aiokafka import TopicPartition
from prometheus_client.metrics_core import Metric
from rich import box
from rich.console import Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bookpay_ops.charges import ChargesReport, parse_duration, read_report
from bookpay_ops.config import SERVICES, Target
from bookpay_ops.kafka_view import KafkaUnreachable, KafkaView
from bookpay_ops.outbox import (
    DEFAULT_MAX_AGE,
    ServiceOutbox,
    State,
    backlog_of,
    judge,
    unreadable,
)
from bookpay_ops.output import console
from bookpay_ops.services import ServiceProblem, StaffApi
from bookpay_ops.streams import group_totals, read_lag_rows

CHARGES_METRIC = "bookpay_charges_total"
SPARKS = "▁▂▃▄▅▆▇█"
DLQ = ".dlq"


@dataclass(frozen=True)
class Reading:
    """What one refresh saw."""

    at: float
    """time.monotonic() of the reading."""
    written: Mapping[str, int]
    """Topic → messages ever written (sum of end offsets)."""
    retained: Mapping[str, int]
    lag: Mapping[str, tuple[str, int]]
    """Group → (state, total lag)."""
    outboxes: Sequence[ServiceOutbox]
    charge_counts: Mapping[tuple[str, str], float] | None
    """(method, outcome) → charge-service's counter total; None when it could not be read."""
    account_report: ChargesReport | None = None
    problems: Sequence[str] = ()
    """What could not be read (Kafka, a service)."""


@dataclass
class History:
    window: float
    """Seconds of readings kept."""
    readings: deque[Reading] = field(default_factory=deque)
    started_dead_letters: dict[str, int] | None = None

    def add(self, reading: Reading) -> None:
        if self.started_dead_letters is None:
            self.started_dead_letters = dead_letters(reading)
        self.readings.append(reading)
        while len(self.readings) > 2 and reading.at - self.readings[0].at > self.window:
            self.readings.popleft()

    @property
    def latest(self) -> Reading:
        return self.readings[-1]

    @property
    def previous(self) -> Reading | None:
        return self.readings[-2] if len(self.readings) > 1 else None

    @property
    def span(self) -> float:
        return self.latest.at - self.readings[0].at


# --- pure computations ---------------------------------------------------------------------


def counter_totals(
    families: Iterable[Metric], name: str = CHARGES_METRIC
) -> dict[tuple[str, str], float]:
    """charge-service's charge outcomes: (method, outcome) → total, over every reason."""
    totals: dict[tuple[str, str], float] = {}
    for family in families:
        for sample in family.samples:
            if sample.name == name:
                key = (sample.labels.get("method", "?"), sample.labels.get("outcome", "?"))
                totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def counter_deltas(
    before: Mapping[tuple[str, str], float], after: Mapping[tuple[str, str], float]
) -> dict[tuple[str, str], int]:
    """Growth of each counter; a counter that went down (its service restarted) counts from 0."""
    deltas = {}
    for key, value in after.items():
        old = before.get(key, 0.0)
        grown = value - old if value >= old else value
        if grown:
            deltas[key] = int(grown)
    return deltas


def rates(readings: Sequence[Reading], topic: str) -> list[float]:
    """Messages per second of `topic` between consecutive readings."""
    found = []
    for a, b in zip(readings, list(readings)[1:], strict=False):
        seconds = b.at - a.at
        grown = b.written.get(topic, 0) - a.written.get(topic, 0)
        found.append(max(0, grown) / seconds if seconds > 0 else 0.0)
    return found


def sparkline(values: Sequence[float], width: int = 20) -> str:
    shown = list(values)[-width:]
    if not shown:
        return ""
    top = max(shown)
    if top <= 0:
        return SPARKS[0] * len(shown)
    return "".join(SPARKS[min(len(SPARKS) - 1, int(v / top * (len(SPARKS) - 1)))] for v in shown)


def dead_letters(reading: Reading) -> dict[str, int]:
    return {t: n for t, n in reading.retained.items() if t.endswith(DLQ)}


def attention(history: History) -> list[str]:
    """What needs a look, most urgent first; empty when all is well."""
    latest, previous = history.latest, history.previous
    found = list(latest.problems)
    for o in latest.outboxes:
        if o.state is State.DOWN:
            found.append(f"{o.service} is down")
        elif o.state is State.BEHIND:
            found.append(f"{o.service}'s outbox is behind ({o.unpublished} waiting)")
        elif not o.healthy:
            found.append(f"{o.service}: {o.state.value}")
    for group, (state, lag) in sorted(latest.lag.items()):
        before = previous.lag.get(group, (state, 0))[1] if previous else 0
        if state != "Stable":
            found.append(f"{group} is {state}")
        elif lag > 0 and previous is not None and lag > before:
            found.append(f"{group} lag growing ({before} → {lag})")
    started = history.started_dead_letters or {}
    for topic, count in sorted(dead_letters(latest).items()):
        new = count - started.get(topic, 0)
        if new > 0:
            found.append(f"{new} new dead letter{'s' if new != 1 else ''} on {topic}")
        elif count:
            found.append(f"{count} dead letter{'s' if count != 1 else ''} on {topic}")
    return found


# --- rendering -----------------------------------------------------------------------------


def render(history: History, *, target: str, interval: float) -> RenderableType:
    latest = history.latest
    now = datetime.now(UTC).strftime("%H:%M:%S UTC")
    header = Text.assemble(("bookpay watch", "bold"), f"  {target}  every {interval:g}s  {now}")
    problems = attention(history)
    status = (
        Text("✔ all clear: no lag, no dead letters, outboxes keeping up", style="green")
        if not problems
        else Text("\n".join(f"✘ {p}" for p in problems), style="yellow")
    )
    top = Table.grid(expand=True, padding=(0, 1))
    top.add_column(ratio=1)
    top.add_column(ratio=1)
    top.add_row(_rates_panel(history), _lag_panel(history))
    bottom = Table.grid(expand=True, padding=(0, 1))
    bottom.add_column(ratio=1)
    bottom.add_column(ratio=1)
    bottom.add_column(ratio=1)
    bottom.add_row(_charges_panel(history), _outbox_panel(latest), _dead_letters_panel(history))
    return Group(header, status, top, bottom)


def _rates_panel(history: History) -> Panel:
    shown = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
    shown.add_column("topic", no_wrap=True)
    shown.add_column("msg/s", justify="right")
    shown.add_column("window", no_wrap=True)
    topics = sorted(t for t in history.latest.written if not t.endswith(DLQ))
    readings = list(history.readings)
    for topic in topics:
        series = rates(readings, topic)
        now = series[-1] if series else 0.0
        shown.add_row(topic, f"{now:.1f}", sparkline(series))
    return Panel(shown, title="Event rates", border_style="blue")


def _lag_panel(history: History) -> Panel:
    """Per service: its groups, how many are Stable, their total lag; then each group that
    lags or is not Stable, with its trend."""
    shown = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
    shown.add_column("service / group", no_wrap=True)
    shown.add_column("stable", justify="right")
    shown.add_column("lag", justify="right")
    previous = history.previous
    latest = history.latest.lag
    services: dict[str, list[tuple[str, int]]] = {}
    for group, (state, lag) in latest.items():
        services.setdefault(group.split(".")[0], []).append((state, lag))
    for service, groups in sorted(services.items()):
        stable = sum(1 for state, _ in groups if state == "Stable")
        total = sum(lag for _, lag in groups)
        shown.add_row(
            service,
            Text(f"{stable}/{len(groups)}", style="green" if stable == len(groups) else "yellow"),
            Text(str(total), style="yellow" if total else ""),
        )
    for group, (state, lag) in sorted(latest.items()):
        if state == "Stable" and not lag:
            continue
        before = previous.lag.get(group, (state, lag))[1] if previous else lag
        trend = "↑" if lag > before else "↓" if lag < before else ""
        shown.add_row(
            f"  {group}",
            Text(state, style="green" if state == "Stable" else "yellow"),
            Text(f"{lag}{trend}", style="yellow" if lag else ""),
        )
    return Panel(shown, title="Consumer lag", border_style="blue")


def _charges_panel(history: History) -> Panel:
    latest = history.latest
    report = latest.account_report
    if report is not None:
        title = f"Charges of {str(report.account_id)[:8]}…"
        counts = {
            (method, status): n
            for status, methods in report.by_status_and_method.items()
            for method, n in methods.items()
        }
        caption = f"created since {report.created_from:%H:%M:%S} UTC"
    else:
        first = history.readings[0].charge_counts
        last = latest.charge_counts
        title = "Charges"
        if last is None:
            return Panel(Text("charge-service's /metrics unreadable", style="red"), title=title)
        counts = counter_deltas(first or {}, last)
        caption = (
            f"last {timedelta(seconds=round(history.span))}"
            if history.span >= history.window - 1
            else f"since the dashboard started ({round(history.span)}s)"
        )
    shown = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, caption=caption)
    shown.add_column("method", no_wrap=True)
    shown.add_column("outcome")
    shown.add_column("n", justify="right")
    style = {"succeeded": "green", "failed": "red"}
    for (method, outcome), n in sorted(counts.items()):
        shown.add_row(method, Text(outcome, style=style.get(outcome, "")), str(n))
    if not counts:
        shown.add_row("—", "none", "0")
    return Panel(shown, title=title, border_style="blue")


def _outbox_panel(latest: Reading) -> Panel:
    shown = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
    shown.add_column("service", no_wrap=True)
    shown.add_column("waiting", justify="right")
    shown.add_column("oldest", justify="right")
    for o in latest.outboxes:
        if not o.healthy and o.state is not State.BEHIND:
            shown.add_row(o.service, Text(o.state.value, style="red"), "")
            continue
        age = o.oldest_age_seconds
        shown.add_row(
            o.service,
            Text(str(o.unpublished), style="yellow" if o.unpublished else ""),
            "" if age is None else f"{age:.0f}s",
        )
    return Panel(shown, title="Outboxes", border_style="blue")


def _dead_letters_panel(history: History) -> Panel:
    shown = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
    shown.add_column("topic", no_wrap=True)
    shown.add_column("held", justify="right")
    shown.add_column("new", justify="right")
    started = history.started_dead_letters or {}
    held = {t: n for t, n in dead_letters(history.latest).items() if n}
    for topic, count in sorted(held.items()):
        new = count - started.get(topic, 0)
        shown.add_row(topic, Text(str(count), style="red"), str(new) if new > 0 else "")
    if not held:
        shown.add_row(Text("none", style="green"), "0", "")
    return Panel(shown, title="Dead letters", border_style="blue")


# --- reading -------------------------------------------------------------------------------


async def read(
    kafka: KafkaView,
    api: StaffApi,
    *,
    account_id: uuid.UUID | None,
    account_window: timedelta,
    max_age: float,
) -> Reading:
    problems: list[str] = []
    written: dict[str, int] = {}
    retained: dict[str, int] = {}
    lag: dict[str, tuple[str, int]] = {}
    try:
        names = await kafka.topic_names()
        partitions = await kafka.partitions(names)
        ends, starts = await asyncio.gather(
            kafka.end_offsets(partitions), kafka.start_offsets(partitions)
        )
        written, retained = _per_topic(ends, starts)
        lag = group_totals(await read_lag_rows(kafka))
    except Exception as error:
        problems.append(f"Kafka: {error or type(error).__name__}")
    metrics = await asyncio.gather(*(_metrics(api, s) for s in SERVICES))
    outboxes = []
    charge_counts = None
    for service, found in zip(SERVICES, metrics, strict=True):
        if isinstance(found, ServiceOutbox):
            outboxes.append(found)
            continue
        outboxes.append(judge(service, api.urls[service], backlog_of(found), max_age))
        if service == "charge-service":
            charge_counts = counter_totals(found)
    report = None
    if account_id is not None:
        try:
            report = await read_report(api, account_id, since=account_window)
        except ServiceProblem as error:
            problems.append(f"charges of {account_id}: {error.message}")
    return Reading(
        at=time.monotonic(),
        written=written,
        retained=retained,
        lag=lag,
        outboxes=outboxes,
        charge_counts=charge_counts,
        account_report=report,
        problems=problems,
    )


def _per_topic(
    ends: Mapping[TopicPartition, int], starts: Mapping[TopicPartition, int]
) -> tuple[dict[str, int], dict[str, int]]:
    written: dict[str, int] = {}
    retained: dict[str, int] = {}
    for tp, end in ends.items():
        written[tp.topic] = written.get(tp.topic, 0) + end
        retained[tp.topic] = retained.get(tp.topic, 0) + end - starts.get(tp, 0)
    return written, retained


async def _metrics(api: StaffApi, service: str) -> list[Metric] | ServiceOutbox:
    """A service's metrics, or (when it cannot tell) its outbox judged as down or refused."""
    try:
        return await api.metrics(service)
    except ServiceProblem as problem:
        return unreadable(service, api.urls[service], problem)


# --- command -------------------------------------------------------------------------------


def watch_command(
    ctx: typer.Context,
    interval: Annotated[
        float, typer.Option("--interval", min=0.5, help="seconds between refreshes")
    ] = 2.0,
    window: Annotated[
        str, typer.Option("--window", help="how far back rates and charges go: 90s, 5m, 1h")
    ] = "5m",
    account: Annotated[
        uuid.UUID | None,
        typer.Option("--account", help="count this account's charges from its charges list"),
    ] = None,
    max_age: Annotated[
        float,
        typer.Option("--max-age", min=0, help="seconds an outbox event may wait before behind"),
    ] = DEFAULT_MAX_AGE,
    once: Annotated[
        bool, typer.Option("--once", help="print one frame and exit (for a capture or a script)")
    ] = False,
    samples: Annotated[
        int,
        typer.Option("--samples", min=2, help="with --once: readings taken, --interval apart"),
    ] = 2,
) -> None:
    """A live dashboard: event rates, consumer lag, dead letters, outboxes and charges by
    outcome, with what needs a look first. Ctrl-C leaves."""
    target: Target = ctx.obj
    try:
        span = parse_duration(window)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--window") from None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_watch(target, interval, span, account, max_age, samples if once else 0))


async def _watch(
    target: Target,
    interval: float,
    window: timedelta,
    account: uuid.UUID | None,
    max_age: float,
    once: int,
) -> None:
    """`once`: the readings to take before printing one frame; 0 for the live dashboard."""
    history = History(window=window.total_seconds())
    urls = {s: target.url(s) for s in SERVICES}
    where = target.kafka.bootstrap_servers
    try:
        async with KafkaView(target.kafka) as kafka, StaffApi(urls, target.platform_key) as api:

            async def refresh() -> None:
                history.add(
                    await read(
                        kafka, api, account_id=account, account_window=window, max_age=max_age
                    )
                )

            await refresh()
            if once:
                for _ in range(once - 1):
                    await asyncio.sleep(interval)
                    await refresh()
                console().print(render(history, target=where, interval=interval))
                return
            with Live(
                render(history, target=where, interval=interval),
                console=console(),
                screen=True,
                auto_refresh=False,
            ) as live:
                while True:
                    await asyncio.sleep(interval)
                    await refresh()
                    live.update(render(history, target=where, interval=interval), refresh=True)
    except KafkaUnreachable as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
