"""The system under chaos: the dev stack (Kafka, PostgreSQL, the Stripe stand-in, the SMTP
sink), the fault proxies in front of Stripe, its webhooks and SMTP, and the four services as
supervised processes (two charge-service instances), on ports of their own.

Ports are the test stack's + 2000 (`make bench` uses + 1000), plus `BOOKPAY_TEST_PORT_OFFSET`
when set, so a chaos run can share the machine with `make run`, the tests and a benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bookpay_devstack.config import StackConfig, find_repo_root
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import RestartPolicy, Services, SystemConfig

from chaos.proxies import SmtpProxy, StripeProxy, WebhookProxy

CHAOS_OFFSET = 2000
CHARGE_INSTANCES = 2

FAST_SETTINGS: dict[str, str] = {
    # Sweeps and retries act within seconds, so the run drains in seconds, not minutes.
    "CHARGE_RECONCILE_IDLE_SECONDS": "4",
    "CHARGE_RECONCILE_EVERY_SECONDS": "1",
    "CHARGE_ATTEMPT_RATE_LIMIT_PER_SECOND": "1000",
    "CHARGE_ATTEMPT_RATE_LIMIT_BURST": "100000",
    "LINK_RATE_LIMIT_PER_SECOND": "1000000",
    "LINK_RATE_LIMIT_BURST": "1000000",
    "NOTIFICATION_SMTP_TIMEOUT_SECONDS": "5",
    "NOTIFICATION_SEND_LEASE_SECONDS": "12",
    "NOTIFICATION_RETRY_BASE_SECONDS": "0.5",
    "NOTIFICATION_RETRY_MAX_SECONDS": "4",
    "NOTIFICATION_SEND_MAX_ATTEMPTS": "200",
    "NOTIFICATION_ADMIN_EMAIL_SETTLE_SECONDS": "60",
}
"""Settings that make the services' retries and sweeps quick; none turns a safety off."""

RESTARTS = RestartPolicy(first_delay=0.5, max_delay=4.0, healthy_after=10.0)


@dataclass(frozen=True)
class Ports:
    offset: int

    def at(self, test_port: int) -> int:
        return test_port + CHAOS_OFFSET + self.offset

    @property
    def stripe_proxy(self) -> int:
        return self.at(18421)

    @property
    def webhook_proxy(self) -> int:
        return self.at(18422)

    @property
    def smtp_proxy(self) -> int:
        return self.at(11026)


def default_offset() -> int:
    return int(os.environ.get("BOOKPAY_TEST_PORT_OFFSET", "0"))


def stack_config(ports: Ports, root: Path) -> StackConfig:
    suffix = f"-{ports.offset}" if ports.offset else ""
    return StackConfig(
        runtime_dir=root / "var" / f"chaos-stack{suffix}",
        kafka_port=ports.at(19092),
        kafka_controller_port=ports.at(19093),
        postgres_port=ports.at(15433),
        stripe_port=ports.at(18420),
        smtp_port=ports.at(11025),
        smtp_api_port=ports.at(11080),
        stripe_webhook_url=f"http://127.0.0.1:{ports.webhook_proxy}/v1/stripe/webhooks",
        # The stand-in is never restarted here; saving its whole store after every change
        # would make it slower with every charge.
        stripe_persist_state=False,
    )


def system_config(ports: Ports) -> SystemConfig:
    host = "127.0.0.1"
    return SystemConfig(
        booking_port=ports.at(18001),
        charge_port=ports.at(18002),
        link_port=ports.at(18003),
        notification_port=ports.at(18004),
        charge_webhook_port=ports.at(17102),
        link_public_port=ports.at(17103),
        environment="test",
        log_level="INFO",
        instances={"charge-service": CHARGE_INSTANCES},
        extra_env={
            **FAST_SETTINGS,
            "CHARGE_STRIPE_API_BASE": f"http://{host}:{ports.stripe_proxy}",
            "LINK_STRIPE_API_BASE": f"http://{host}:{ports.stripe_proxy}",
            "NOTIFICATION_SMTP_PORT": str(ports.smtp_proxy),
        },
    )


@dataclass
class Harness:
    stack: Stack
    services: Services
    stripe_proxy: StripeProxy
    webhook_proxy: WebhookProxy
    smtp_proxy: SmtpProxy


@contextlib.asynccontextmanager
async def running_system(
    offset: int | None = None, *, stripe_idempotency: bool = True
) -> AsyncIterator[Harness]:
    """Start everything, yield it with the services supervised, stop everything.
    `stripe_idempotency=False`: the Stripe proxy does not keep Stripe's idempotency keys."""
    ports = Ports(default_offset() if offset is None else offset)
    host = "127.0.0.1"
    system = system_config(ports)
    config = stack_config(ports, find_repo_root())
    stripe_proxy = StripeProxy(
        host, ports.stripe_proxy, config.stripe_url, idempotency=stripe_idempotency
    )
    webhook_targets = [
        f"http://{host}:{system.public_port('charge-service', n)}"
        for n in range(1, CHARGE_INSTANCES + 1)
    ]
    webhook_proxy = WebhookProxy(host, ports.webhook_proxy, webhook_targets)
    smtp_proxy = SmtpProxy(host, ports.smtp_proxy, config.smtp_port)
    async with Stack(config) as stack:
        for proxy in (stripe_proxy, webhook_proxy, smtp_proxy):
            await proxy.start()
        services = Services(stack, system)
        supervisor: asyncio.Task[None] | None = None
        try:
            await services.start_all(timeout=180)
            supervisor = asyncio.create_task(services.supervise(RESTARTS))
            yield Harness(stack, services, stripe_proxy, webhook_proxy, smtp_proxy)
        finally:
            if supervisor is not None:
                supervisor.cancel()
                await asyncio.gather(supervisor, return_exceptions=True)
            await services.stop_all()
            for proxy in (stripe_proxy, webhook_proxy, smtp_proxy):
                await proxy.stop()
