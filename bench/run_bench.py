"""`make bench`: bookpay's throughput and latency on this machine, with anchors measured in
the same run, as one JSON document (printed, and written to var/bench/bench-<time>.json).

    uv run python bench/run_bench.py [--quick] [--charges N] [--only SECTION[,SECTION]]

It starts its own stack (Kafka, PostgreSQL, localstripe, SMTP sink) and the four services on
the bench ports (the test ports + 1000), then measures, in this order:

- anchors: Kafka's ProducerPerformance and ConsumerPerformance (500-byte records, acks=all,
  idempotent) and pgbench, before any service runs;
- charges_memory_0ms, overhead, page: card-on-file charges end to end with the in-memory
  Stripe stand-in answering at once (closed loop), the same at a fixed offered load of 200/s
  (open loop), and the payment page `GET /pay/{token}` at saturation (Go load generator);
- charges_memory_300ms, charges_localstripe: the same closed loop with the stand-in taking
  300 ms per Stripe call, then with localstripe;
- floor: the closed loop with every consumer's in-flight bound set to 1, stand-in at 0 ms.

The services are restarted (the infrastructure is not) before each Stripe mode; each mode gets
its own account of customers, each with one booking large enough for every charge of the run
and a saved Visa. Sections: anchors, charges, overhead, page, floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchkit
import uvloop
from benchkit import Api, Customer, Mode, Watcher
from bookpay_devstack.config import find_repo_root
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services

SECTIONS = ("anchors", "charges", "overhead", "page", "floor")
CHARGE_MODES = ("charges-0ms", "charges-300ms", "charges-localstripe")
"""One Stripe mode of the `charges` section alone (for profiling or a quick look)."""
CHARGE_AMOUNT = 100
"""Each charge takes $1.00 off its booking's balance; the booking holds many such charges."""
BOOKING_AMOUNT = 5_000_000


@dataclass(frozen=True)
class Plan:
    customers: int
    localstripe_customers: int
    localstripe_concurrency: int
    """localstripe is slow to seed (several calls per saved card, single-threaded) and
    saturates at a few charges per second, so its mode uses fewer customers and workers: more
    would only queue (and take minutes to drain)."""
    charges: int
    concurrency: int
    mode_seconds: float
    floor_seconds: float
    overhead_rate: float
    overhead_seconds: float
    page_links: int
    page_workers: int
    page_seconds: float
    kafka_records: int
    pgbench_seconds: float

    @classmethod
    def full(cls, charges: int | None) -> Plan:
        return cls(
            customers=600,
            localstripe_customers=100,
            localstripe_concurrency=20,
            charges=charges or 4000,
            concurrency=200,
            mode_seconds=40,
            floor_seconds=30,
            overhead_rate=200,
            overhead_seconds=20,
            page_links=8,
            page_workers=32,
            page_seconds=15,
            kafka_records=300_000,
            pgbench_seconds=15,
        )

    @classmethod
    def quick(cls, charges: int | None) -> Plan:
        return cls(
            customers=20,
            localstripe_customers=20,
            localstripe_concurrency=10,
            charges=charges or 60,
            concurrency=10,
            mode_seconds=10,
            floor_seconds=10,
            overhead_rate=20,
            overhead_seconds=3,
            page_links=2,
            page_workers=4,
            page_seconds=3,
            kafka_records=20_000,
            pgbench_seconds=3,
        )


class Bench:
    def __init__(self, root: Path, stack: Stack, services: Services, plan: Plan) -> None:
        self.root = root
        self.stack = stack
        self.services = services
        self.plan = plan
        self.results: dict[str, Any] = {}
        self.activity: list[dict[str, Any]] = []
        self.mode: Mode | None = None
        self.customers: list[Customer] = []

    async def section(self, name: str, measure: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """Run one measurement; a failure is recorded in its place and the run goes on."""
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            self.results[name] = await measure()
        except Exception as exc:
            traceback.print_exc()
            self.results[name] = {"error": _describe(exc)}
        self.activity.append(
            {"after": name, "seconds": round(time.monotonic() - started, 1), **_activity()}
        )
        partial = self.root / "var" / "bench" / "partial.json"  # kept if the run is cut short
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps({**self.results, "activity": self.activity}, indent=2))
        print(f"bench: {name} done in {time.monotonic() - started:.0f}s", file=sys.stderr)

    async def use_mode(self, mode: Mode) -> dict[str, Any]:
        """Restart the services in `mode` and seed its customers."""
        self.mode, self.customers = None, []
        restart = await benchkit.restart_services(self.services, mode)
        pids = {name: process.pid for name, process in self.services.processes.items()}
        pids_file = self.root / "var" / "bench" / "pids.json"
        pids_file.parent.mkdir(parents=True, exist_ok=True)
        pids_file.write_text(json.dumps({"mode": mode.name, **pids}) + "\n")
        print(f"bench: {mode.name}: service pids {pids}", file=sys.stderr, flush=True)
        async with self.api() as api:
            count = self.plan.customers if mode.memory else self.plan.localstripe_customers
            self.customers, seeding = await api.seed(count, mode, BOOKING_AMOUNT)
        self.mode = mode
        return {
            "services_restart_seconds": round(restart, 1),
            "customers": len(self.customers),
            "seeding_seconds": round(seeding, 1),
        }

    @contextlib.asynccontextmanager
    async def api(self) -> AsyncIterator[Api]:
        api = Api(self.services, self.stack, connections=max(64, self.plan.concurrency + 32))
        try:
            yield api
        finally:
            await api.close()

    @contextlib.asynccontextmanager
    async def watcher(self) -> AsyncIterator[Watcher]:
        async with benchkit.watching(self.stack.config.kafka_connection()) as watcher:
            yield watcher

    async def charges(self, mode: Mode, seconds: float) -> dict[str, Any]:
        setup = await self.use_mode(mode)
        plan = self.plan
        concurrency = plan.concurrency if mode.memory else plan.localstripe_concurrency
        workers = min(concurrency, len(self.customers))
        async with self.api() as api, self.watcher() as watcher:
            warm = await benchkit.closed_loop(
                api, watcher, self.customers, charges=min(workers, 50),
                concurrency=workers, max_seconds=60, amount=CHARGE_AMOUNT,
            )  # fmt: skip
            await benchkit.reset_statements(self.stack)
            timings = await benchkit.closed_loop(
                api, watcher, self.customers, charges=plan.charges,
                concurrency=workers, max_seconds=seconds, amount=CHARGE_AMOUNT,
            )  # fmt: skip
            summary = benchkit.summarize(timings, watcher)
            summary["postgres"] = await benchkit.statements(self.stack, len(timings))
        return {
            "mode": mode.name,
            "stripe": _stripe_of(mode),
            "service_settings": dict(mode.env),
            "load": f"closed loop: {workers} workers, each sends a charge and waits "
            f"for its BookingCharged; stops after {plan.charges} charges or {seconds:.0f} s",
            "warm_up_charges": len(warm),
            **summary,
            **setup,
        }

    async def overhead(self) -> dict[str, Any]:
        if self.mode is not benchkit.MEMORY_0MS:
            await self.use_mode(benchkit.MEMORY_0MS)
        plan = self.plan
        async with self.api() as api, self.watcher() as watcher:
            timings, schedule = await benchkit.open_loop(
                api, watcher, self.customers, rate=plan.overhead_rate,
                seconds=plan.overhead_seconds, amount=CHARGE_AMOUNT, timeout=60,
            )  # fmt: skip
            summary = benchkit.summarize(timings, watcher)
        latency = summary.get("latency_ms", {})
        return {
            "mode": benchkit.MEMORY_0MS.name,
            "load": f"open loop: {plan.overhead_rate:.0f} charges/s offered for "
            f"{plan.overhead_seconds:.0f} s, customers in turn",
            "stripe_time_ms": 0,
            "overhead_ms": {"p50": latency.get("p50"), "p99": latency.get("p99")},
            **schedule,
            **summary,
        }

    async def page(self) -> dict[str, Any]:
        if self.mode is not benchkit.MEMORY_0MS:
            await self.use_mode(benchkit.MEMORY_0MS)
        plan = self.plan
        binary = await asyncio.to_thread(benchkit.build_loadgen, self.root)
        urls: list[str] = []
        async with self.api() as api, self.watcher() as watcher:
            for customer in self.customers[: plan.page_links]:
                charge_id = str(uuid.uuid4())
                link = watcher.expect_link(charge_id)
                await api.request_link(customer, charge_id, CHARGE_AMOUNT)
                urls.append(await asyncio.wait_for(link, 60))
            await _wait_pages_show(urls)
        result = await benchkit.run_loadgen(
            binary, urls, workers=plan.page_workers, seconds=plan.page_seconds
        )
        return {"links": len(urls), "tool": "bench/loadgen (Go, keep-alive)", **result}

    async def anchors(self) -> dict[str, Any]:
        kafka = await benchkit.kafka_perf(self.stack, self.plan.kafka_records)
        postgres = await benchkit.postgres_tps(self.stack, self.plan.pgbench_seconds)
        return {"kafka": kafka, "postgres": postgres}


async def _wait_pages_show(urls: list[str], timeout: float = 60) -> None:
    """link-service learns accounts, customers, bookings and connections from events."""
    deadline = time.monotonic() + timeout
    async with Api.page_client() as client:
        for url in urls:
            while True:
                response = await client.get(url)
                if response.status_code == 200 and "can't take card payments" not in response.text:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"payment page not ready: {response.status_code} {url}")
                await asyncio.sleep(0.5)


def _stripe_of(mode: Mode) -> str:
    if not mode.memory:
        return "localstripe (a separate single-threaded Python process)"
    latency = mode.env.get("CHARGE_STRIPE_LATENCY_MS", "0")
    return f"in-memory stand-in inside charge-service, {latency} ms per call, no concurrency cap"


def _describe(exc: BaseException) -> str:
    """The first real error inside task groups, in a line or so."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:1000]


def _activity() -> dict[str, Any]:
    with open("/proc/loadavg") as handle:
        load = [float(x) for x in handle.read().split()[:3]]
    return {"load_average": load, "other_processes": benchkit.busy_processes()}


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    def get(*path: str) -> float | None:
        node: Any = results
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return float(node) if isinstance(node, int | float) else None

    charges = get("charges_memory_0ms", "charges_per_second")
    producer = get("anchors", "kafka", "producer", "records_per_second")
    floor = get("floor", "charges_per_second")
    return {
        "charges_per_second": charges,
        "charges_over_producer_records": round(charges / producer, 5)
        if charges and producer
        else None,
        "charges_over_floor": round(charges / floor, 2) if charges and floor else None,
        "note": "charges/s of the 0 ms in-memory mode; the producer's records/s from "
        "ProducerPerformance; the floor's charges/s with every consumer's in-flight bound at 1",
    }


def _instances(parser: argparse.ArgumentParser, given: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in given:
        name, _, count = item.partition("=")
        if not count.isdigit() or int(count) < 1:
            parser.error(f"--instances wants SERVICE=N, not {item!r}")
        counts[name] = int(count)
    return counts


async def run(plan: Plan, only: set[str], quick: bool, instances: dict[str, int]) -> dict[str, Any]:
    root = find_repo_root()
    started = datetime.now(UTC)
    machine = benchkit.machine()
    async with Stack(benchkit.stack_config(root)) as stack:
        services = Services(stack, benchkit.system_config(instances))
        bench = Bench(root, stack, services, plan)
        try:
            if "anchors" in only:
                await bench.section("anchors", bench.anchors)
            if only & {"charges", "charges-0ms"}:
                await bench.section(
                    "charges_memory_0ms",
                    lambda: bench.charges(benchkit.MEMORY_0MS, plan.mode_seconds),
                )
            if "overhead" in only:
                await bench.section("overhead", bench.overhead)
            if "page" in only:
                await bench.section("page", bench.page)
            if only & {"charges", "charges-300ms"}:
                await bench.section(
                    "charges_memory_300ms",
                    lambda: bench.charges(benchkit.MEMORY_300MS, plan.mode_seconds),
                )
            if only & {"charges", "charges-localstripe"}:
                await bench.section(
                    "charges_localstripe",
                    lambda: bench.charges(benchkit.LOCALSTRIPE, plan.mode_seconds),
                )
            if "floor" in only:
                await bench.section(
                    "floor", lambda: bench.charges(benchkit.FLOOR, plan.floor_seconds)
                )
        finally:
            await services.stop_all()
    results = bench.results
    return {
        "started_at": started.isoformat(timespec="seconds"),
        "seconds_total": round((datetime.now(UTC) - started).total_seconds(), 1),
        "command": " ".join(["bench/run_bench.py", *sys.argv[1:]]),
        "quick": quick,
        "instances": instances,
        "git_commit": _git_commit(root),
        "machine": machine,
        "plan": plan.__dict__,
        **results,
        "ratios": ratios(results),
        "activity": bench.activity,
    }


def _git_commit(root: Path) -> str | None:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--charges", type=int, help="charges per Stripe mode (a cap)")
    parser.add_argument("--quick", action="store_true", help="a short run with small counts")
    parser.add_argument(
        "--instances",
        action="append",
        default=[],
        metavar="SERVICE=N",
        help="run N instances of a service in one consumer group (repeatable), "
        "e.g. charge-service=2; HTTP requests go to the first instance",
    )
    parser.add_argument(
        "--only",
        help=f"comma-separated sections: {', '.join(SECTIONS)} (default: all), "
        f"or one Stripe mode of charges: {', '.join(CHARGE_MODES)}",
    )
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else set(SECTIONS)
    unknown = only - set(SECTIONS) - set(CHARGE_MODES)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    plan = Plan.quick(args.charges) if args.quick else Plan.full(args.charges)
    # uvloop, as the services run: the bench is a client that shares the cores it measures.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        report = runner.run(run(plan, only, args.quick, _instances(parser, args.instances)))
    text = json.dumps(report, indent=2)
    out_dir = find_repo_root() / "var" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"bench-{stamp}.json"
    path.write_text(text + "\n")
    (out_dir / "latest.json").write_text(text + "\n")
    print(text)
    print(f"bench: written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
