"""`make chaos`: start the system, run the seeded workload while the seeded fault injector
breaks things, stop the faults, wait for the system to drain, read its state and check every
invariant. Writes a JSON report (var/chaos/chaos-<seed>-<time>.json unless `--report`),
prints a short summary, and exits 1 if any invariant is broken.

    python -m chaos.run [--seed 7] [--charges 1000] [--duration 420] [--report PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from bookpay_devstack.config import find_repo_root
from bookpay_devstack.stack import Stack

from chaos.faults import FaultKind, Injector, plan_faults
from chaos.harness import Harness, running_system
from chaos.invariants import TERMINAL, Verdict, check
from chaos.snapshot import read_snapshot
from chaos.workload import Workload

log = logging.getLogger("chaos")

DRAIN_TIMEOUT = 300.0


@dataclass(frozen=True)
class Options:
    seed: int = 7
    charges: int = 1000
    duration: float | None = 420.0
    """The charges are spread over this many seconds, so that the faults (one every
    `mean_fault_pause` seconds on average) hit every kind while charges flow."""
    mean_fault_pause: float = 3.0
    concurrency: int = 10
    port_offset: int | None = None
    report: Path | None = None
    stripe_idempotency: bool = True
    """The Stripe proxy keeps Stripe's idempotency keys (the stand-in alone ignores them)."""


async def drained(stack: Stack, accepted: set[str]) -> dict[str, int]:
    """What is still in flight: accepted charges not terminal, outbox rows not published,
    emails not sent, succeeded charges not applied yet or whose receipt is not decided yet."""
    left: dict[str, int] = {}
    charges = await _fetch(stack, "charge", "SELECT charge_id, status FROM charges")
    terminal = {str(r["charge_id"]) for r in charges if r["status"] in TERMINAL}
    left["charges_in_flight"] = len(accepted - terminal)
    for database in stack.config.databases:
        rows = await _fetch(
            stack, database, "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL"
        )
        left[f"outbox_{database}"] = int(rows[0]["n"])
    rows = await _fetch(
        stack,
        "notification",
        "SELECT count(*) AS n FROM notifications WHERE status IN ('pending', 'sending')",
    )
    left["emails_in_flight"] = int(rows[0]["n"])
    succeeded = {str(r["charge_id"]) for r in charges if r["status"] == "succeeded"}
    received = await _fetch(stack, "booking", "SELECT charge_id FROM received_payments")
    left["payments_not_applied"] = len(succeeded - {str(r["charge_id"]) for r in received})
    decided = await _fetch(
        stack, "notification", "SELECT charge_id FROM receipts WHERE decided_at IS NOT NULL"
    )
    left["receipts_not_decided"] = len(succeeded - {str(r["charge_id"]) for r in decided})
    return left


async def _fetch(stack: Stack, database: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.postgres_dsn(database))
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


async def drain(stack: Stack, accepted: set[str], timeout: float) -> tuple[float, dict[str, int]]:
    """Wait until nothing is in flight (seen twice in a row); seconds it took, and what was
    left if it timed out."""
    started = time.monotonic()
    calm = 0
    left: dict[str, int] = {}
    while time.monotonic() - started < timeout:
        try:
            left = await drained(stack, accepted)
        except (OSError, asyncpg.PostgresError) as exc:
            left = {"error": 1}
            log.warning("drain: %r", exc)
        calm = calm + 1 if not any(left.values()) else 0
        if calm >= 2:
            return time.monotonic() - started, {}
        await asyncio.sleep(2.0)
    return time.monotonic() - started, {k: v for k, v in left.items() if v}


async def _progress(workload: Workload, injector: Injector) -> None:
    while True:
        await asyncio.sleep(15)
        log.warning(
            "progress: %d scenarios done, %d charges accepted, %d faults, %d retries",
            workload.finished,
            len(workload.accepted),
            len(injector.log.events),
            sum(workload.stats.retries.values()),
        )


async def run(options: Options) -> dict[str, Any]:
    started = time.monotonic()
    async with running_system(
        options.port_offset, stripe_idempotency=options.stripe_idempotency
    ) as harness:
        startup = time.monotonic() - started
        return await _run_on(harness, options, startup)


async def _run_on(harness: Harness, options: Options, startup: float) -> dict[str, Any]:
    workload = Workload(
        harness,
        seed=options.seed,
        charges=options.charges,
        duration=options.duration,
        concurrency=options.concurrency,
    )
    try:
        setup_started = time.monotonic()
        await workload.setup(customers=max(12, min(120, options.charges // 8)))
        setup = time.monotonic() - setup_started
        plan = plan_faults(options.seed, 10_000, options.mean_fault_pause)
        injector = Injector(harness, plan)
        stop = asyncio.Event()
        faults = asyncio.create_task(injector.run(stop))
        run_started = time.monotonic()
        progress = asyncio.create_task(_progress(workload, injector))
        try:
            await workload.run()
        finally:
            progress.cancel()
            stop.set()  # also when interrupted: no fault after this
            if not faults.done():
                await asyncio.wait({faults}, timeout=120)
                faults.cancel()
        run_seconds = time.monotonic() - run_started
        injector.disarm()
        await harness.stack.mail.set_fault("none")
        drain_seconds, left = await drain(harness.stack, set(workload.accepted), DRAIN_TIMEOUT)
        applied = injector.applied()
        snapshot = await read_snapshot(
            harness.stack,
            workload.accepted,
            workload.poisoned,
            applied.get(str(FaultKind.SMTP_DROP_AFTER_DATA), 0),
            workload.internal_errors,
        )
    finally:
        await workload.close()
    verdicts = check(snapshot)
    outcomes = Counter(
        snapshot.charges[c].status if c in snapshot.charges else "missing"
        for c in workload.accepted
    )
    return {
        "seed": options.seed,
        "charges_requested": options.charges,
        "charges_accepted": len(workload.accepted),
        "duration_option_s": options.duration,
        "stripe_idempotency_kept": options.stripe_idempotency,
        "stripe_idempotent_replays": harness.stripe_proxy.replayed,
        "machine": {"cores": os.cpu_count()},
        "seconds": {
            "startup": round(startup, 1),
            "setup": round(setup, 1),
            "workload_under_faults": round(run_seconds, 1),
            "drain": round(drain_seconds, 1),
        },
        "left_in_flight_after_drain": left,
        "operations": dict(sorted(workload.stats.operations.items())),
        "charge_outcomes": dict(sorted(outcomes.items())),
        "retries": dict(sorted(workload.stats.retries.items())),
        "retry_reasons": dict(sorted(workload.stats.retry_reasons.items())),
        "gave_up": dict(sorted(workload.stats.gave_up.items())),
        "refused": dict(sorted(workload.stats.refused.items())),
        "faults_injected": dict(sorted(injector.log.injected.items())),
        "faults_applied_by_proxies": dict(sorted(applied.items())),
        "fault_errors": injector.log.errors,
        "fault_timeline": injector.log.events,
        "poisoned_messages": len(workload.poisoned),
        "emails_received": len(snapshot.emails),
        "payment_intents": len(snapshot.intents),
        "invariants": [asdict(v) for v in verdicts],
        "all_invariants_held": all(v.held for v in verdicts),
    }


def summary(report: dict[str, Any]) -> str:
    lines = [
        f"chaos run, seed {report['seed']}: {report['charges_accepted']} charges accepted "
        f"({report['charges_requested']} asked for)",
        f"  seconds: {report['seconds']}",
        f"  outcomes: {report['charge_outcomes']}",
        f"  operations: {report['operations']}",
        f"  retries: {sum(report['retries'].values())} {report['retries']}",
        f"  faults injected: {report['faults_injected']}",
        f"  faults applied by the proxies: {report['faults_applied_by_proxies']}",
        f"  Stripe answers replayed for a repeated idempotency key: "
        f"{report['stripe_idempotent_replays']}"
        + ("" if report["stripe_idempotency_kept"] else " (idempotency keys NOT kept)"),
    ]
    if report["gave_up"]:
        lines.append(f"  gave up: {report['gave_up']}")
    if report["left_in_flight_after_drain"]:
        lines.append(f"  left in flight after the drain: {report['left_in_flight_after_drain']}")
    for v in report["invariants"]:
        state = "held" if v["held"] else f"BROKEN ({v['count']})"
        lines.append(f"  {v['name']}: {state} {v['note']}".rstrip())
        lines += [f"      {offender}" for offender in v["offenders"][:10]]
    return "\n".join(lines)


def write_report(report: dict[str, Any], path: Path | None) -> Path:
    if path is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = find_repo_root() / "var" / "chaos" / f"chaos-{report['seed']}-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--charges", type=int, default=1000, help="charges to ask for")
    parser.add_argument(
        "--duration",
        type=float,
        default=Options.duration,
        help="spread the charges over this many seconds (default 420)",
    )
    parser.add_argument(
        "--fault-pause",
        type=float,
        default=Options.mean_fault_pause,
        help="mean seconds between faults (default 3)",
    )
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--port-offset", type=int, default=None)
    parser.add_argument("--report", type=Path, default=None)
    parser.add_argument(
        "--stripe-without-idempotency",
        action="store_true",
        help="let Stripe calls through without Stripe's idempotency keys (the stand-in alone)",
    )
    args = parser.parse_args(argv)
    if args.charges < 1:
        parser.error("--charges must be at least 1")
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be positive")
    return Options(
        seed=args.seed,
        charges=args.charges,
        duration=args.duration,
        mean_fault_pause=args.fault_pause,
        concurrency=args.concurrency,
        port_offset=args.port_offset,
        report=args.report,
        stripe_idempotency=not args.stripe_without_idempotency,
    )


async def _until_done_or_terminated(options: Options) -> dict[str, Any]:
    """`run`, stopped cleanly (every process it started stopped) on SIGTERM as on Ctrl-C."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await run(options)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    options = parse(argv)
    report = asyncio.run(_until_done_or_terminated(options))
    path = write_report(report, options.report)
    print(summary(report))
    print(f"report: {path}")
    return 0 if report["all_invariants_held"] else 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Options", "Verdict", "main", "run", "summary"]
