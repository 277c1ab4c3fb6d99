"""The fault injector: a seeded plan of faults, then the plan carried out against the running
system while the workload runs.

The plan (`plan_faults`) is a pure function of the seed and the number of faults: every kind
once first (in a seeded order), then seeded random kinds, each with its targets and the pause
before it. The same seed gives the same faults in the same order with the same pauses; what
the workload happens to be doing at each moment is not reproducible (it is concurrent).

Kinds:
- `kill_service`: SIGKILL one service process (any instance), the supervisor restarts it;
- `kill_two_services`: SIGKILL two different services at once;
- `kill_all_charge_instances`: SIGKILL both charge-service instances at once;
- `kafka_restart`: SIGKILL the broker, start it again on the same data;
- `postgres_restart`: stop PostgreSQL (fast shutdown: sessions cut), start it again;
- `stripe_5xx`, `stripe_response_lost`, `stripe_slow`: the Stripe proxy's next requests;
- `webhook_lost`, `webhook_duplicated`, `webhook_delayed`: the webhook proxy's next webhooks;
- `smtp_refused`: the SMTP proxy refuses connections for a few seconds;
- `smtp_tempfail`, `smtp_permfail`: the sink answers 451 / 550 for a few seconds;
- `smtp_drop_after_data`: the next message's 250 never reaches the sender.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from bookpay_devstack.system import process_label

from chaos.harness import CHARGE_INSTANCES, Harness

log = logging.getLogger("chaos.faults")

SERVICES = ("booking-service", "charge-service", "link-service", "notification-service")


class FaultKind(StrEnum):
    KILL_SERVICE = "kill_service"
    KILL_TWO_SERVICES = "kill_two_services"
    KILL_ALL_CHARGE_INSTANCES = "kill_all_charge_instances"
    KAFKA_RESTART = "kafka_restart"
    POSTGRES_RESTART = "postgres_restart"
    STRIPE_5XX = "stripe_5xx"
    STRIPE_RESPONSE_LOST = "stripe_response_lost"
    STRIPE_SLOW = "stripe_slow"
    WEBHOOK_LOST = "webhook_lost"
    WEBHOOK_DUPLICATED = "webhook_duplicated"
    WEBHOOK_DELAYED = "webhook_delayed"
    SMTP_REFUSED = "smtp_refused"
    SMTP_TEMPFAIL = "smtp_tempfail"
    SMTP_PERMFAIL = "smtp_permfail"
    SMTP_DROP_AFTER_DATA = "smtp_drop_after_data"


STRIPE_KINDS = {FaultKind.STRIPE_5XX, FaultKind.STRIPE_RESPONSE_LOST, FaultKind.STRIPE_SLOW}
WEBHOOK_KINDS = {FaultKind.WEBHOOK_LOST, FaultKind.WEBHOOK_DUPLICATED, FaultKind.WEBHOOK_DELAYED}
HEAVY_KINDS = {FaultKind.KAFKA_RESTART, FaultKind.POSTGRES_RESTART}
"""Faults that stop the whole system for a while: drawn less often than the others."""


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    pause_before: float
    targets: tuple[str, ...] = ()
    """Process labels for kills (`charge-service-2`), else empty."""
    count: int = 1
    """Requests, webhooks or messages affected (proxy faults)."""
    seconds: float = 0.0
    """How long the fault lasts (refused connections, SMTP error answers)."""


def _labels(service: str) -> list[str]:
    instances = CHARGE_INSTANCES if service == "charge-service" else 1
    return [process_label(service, n) for n in range(1, instances + 1)]


def _fault(kind: FaultKind, rng: random.Random, mean_pause: float) -> Fault:
    pause = round(rng.uniform(0.5, 1.5) * mean_pause, 2)
    if kind is FaultKind.KILL_SERVICE:
        return Fault(kind, pause, (rng.choice(_labels(rng.choice(SERVICES))),))
    if kind is FaultKind.KILL_TWO_SERVICES:
        two = rng.sample(SERVICES, 2)
        return Fault(kind, pause, tuple(rng.choice(_labels(s)) for s in two))
    if kind is FaultKind.KILL_ALL_CHARGE_INSTANCES:
        return Fault(kind, pause, tuple(_labels("charge-service")))
    if kind in STRIPE_KINDS or kind in WEBHOOK_KINDS:
        return Fault(kind, pause, count=rng.randint(1, 3))
    if kind is FaultKind.SMTP_DROP_AFTER_DATA:
        return Fault(kind, pause, count=1)
    if kind in (FaultKind.SMTP_REFUSED, FaultKind.SMTP_TEMPFAIL, FaultKind.SMTP_PERMFAIL):
        seconds = 1.0 if kind is FaultKind.SMTP_PERMFAIL else round(rng.uniform(2, 5), 1)
        return Fault(kind, pause, seconds=seconds)
    return Fault(kind, pause)


def plan_faults(seed: int, count: int, mean_pause: float) -> list[Fault]:
    """`count` faults (at least one of each kind), seeded."""
    rng = random.Random(seed)
    kinds = list(FaultKind)
    rng.shuffle(kinds)
    weights = [0.15 if k in HEAVY_KINDS else 1.0 for k in FaultKind]
    while len(kinds) < count:
        kinds.append(rng.choices(list(FaultKind), weights)[0])
    return [_fault(kind, rng, mean_pause) for kind in kinds]


@dataclass
class FaultLog:
    injected: Counter[str] = field(default_factory=Counter)
    """Faults carried out, by kind (kills also by process: `kill:charge-service-2`)."""
    events: list[dict[str, object]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Injector:
    """Carries out a plan against a running `Harness`."""

    def __init__(self, harness: Harness, plan: list[Fault]) -> None:
        self.harness = harness
        self.plan = plan
        self.log = FaultLog()
        self._started = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        """Inject the plan's faults one after another until it ends or `stop` is set."""
        self._started = time.monotonic()
        for fault in self.plan:
            try:
                await asyncio.wait_for(stop.wait(), fault.pause_before)
                return
            except TimeoutError:
                pass
            try:
                await self.inject(fault)
            except Exception as exc:
                log.exception("fault %s failed", fault.kind)
                self.log.errors.append(f"{fault.kind}: {exc!r}")

    async def inject(self, fault: Fault) -> None:
        at = round(time.monotonic() - self._started, 1)
        log.warning("chaos: %s %s", fault.kind, ", ".join(fault.targets))
        self.log.events.append(
            {"at_s": at, "kind": str(fault.kind), "targets": list(fault.targets)}
        )
        self.log.injected[str(fault.kind)] += 1
        h = self.harness
        if fault.targets:
            for label in fault.targets:
                self.log.injected[f"kill:{label}"] += 1
                process = h.services.processes.get(label)
                if process is not None:
                    process.send_signal(signal.SIGKILL)
        elif fault.kind is FaultKind.KAFKA_RESTART:
            await self._restart_kafka()
        elif fault.kind is FaultKind.POSTGRES_RESTART:
            await h.stack.postgres.stop()
            await asyncio.sleep(1.0)
            await h.stack.postgres.start()
        elif fault.kind in STRIPE_KINDS:
            h.stripe_proxy.faults.arm(str(fault.kind), fault.count)
        elif fault.kind in WEBHOOK_KINDS:
            h.webhook_proxy.faults.arm(str(fault.kind), fault.count)
        elif fault.kind is FaultKind.SMTP_DROP_AFTER_DATA:
            h.smtp_proxy.faults.arm(str(fault.kind), fault.count)
        elif fault.kind is FaultKind.SMTP_REFUSED:
            await h.smtp_proxy.refuse_for(fault.seconds)
        elif fault.kind in (FaultKind.SMTP_TEMPFAIL, FaultKind.SMTP_PERMFAIL):
            await h.stack.mail.set_fault(
                "tempfail" if fault.kind is FaultKind.SMTP_TEMPFAIL else "permfail"
            )
            await asyncio.sleep(fault.seconds)
            await h.stack.mail.set_fault("none")

    async def _restart_kafka(self) -> None:
        kafka = self.harness.stack.kafka
        if kafka.process is not None:
            kafka.process.send_signal(signal.SIGKILL)
        await kafka.stop()
        await asyncio.sleep(1.0)
        await kafka.start()

    def disarm(self) -> None:
        """Drop proxy faults not used yet, so that the drain runs without new faults."""
        for proxy in (self.harness.stripe_proxy, self.harness.webhook_proxy):
            proxy.faults.disarm()
        self.harness.smtp_proxy.faults.disarm()

    def applied(self) -> dict[str, int]:
        """Requests, webhooks and messages the proxies actually faulted, by kind."""
        counted: Counter[str] = Counter()
        for proxy in (self.harness.stripe_proxy, self.harness.webhook_proxy):
            counted.update(proxy.faults.applied)
        counted.update(self.harness.smtp_proxy.faults.applied)
        return dict(counted)
