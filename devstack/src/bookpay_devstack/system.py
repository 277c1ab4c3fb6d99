"""The four bookpay services as processes, configured against a running `Stack`.

Used by `bookpay-devstack run` (make run) and by the end-to-end tests, so both start the
services exactly the same way: `python -m <package>.main` with settings in the environment.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from bookpay_shared.backoff import Backoff

from bookpay_devstack.process import ManagedProcess, StartupError
from bookpay_devstack.stack import Stack

log = logging.getLogger("bookpay_devstack")


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    package: str
    env_prefix: str
    database: str
    port: int
    public_port: int | None = None
    """The port of the service's public app (link-service's payment pages, charge-service's
    Stripe webhook), if it has one; the staff API is on `port`."""
    public_port_setting: str | None = None
    """The setting naming that port: `<PREFIX>_<public_port_setting>`."""


INSTANCE_PORT_STEP = 10


def process_label(name: str, instance: int) -> str:
    """`charge-service` for the first instance, `charge-service-2` for the second..."""
    return name if instance == 1 else f"{name}-{instance}"


@dataclass(frozen=True)
class SystemConfig:
    booking_port: int = 8001
    charge_port: int = 8002
    link_port: int = 8003
    notification_port: int = 8004
    charge_webhook_port: int = 8102
    link_public_port: int = 8103
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    """Locally, requests from the loopback may carry X-Forwarded-For, as from a local proxy
    (the tests give each client its own address that way)."""
    log_level: str = "INFO"
    environment: str = "development"
    echo: bool = False
    """Also print each service's log lines to the console, prefixed with its name."""
    extra_env: Mapping[str, str] = field(default_factory=dict)
    instances: Mapping[str, int] = field(default_factory=dict)
    """How many processes of a service to run (1 when not named): they share its database and
    its consumer groups, so Kafka spreads the partitions over them. Instance n (from 1) serves
    HTTP on the service's port + 10 * (n - 1)."""

    def port(self, name: str, instance: int = 1) -> int:
        spec = next(s for s in self.specs() if s.name == name)
        return spec.port + INSTANCE_PORT_STEP * (instance - 1)

    def public_port(self, name: str, instance: int = 1) -> int:
        spec = next(s for s in self.specs() if s.name == name)
        if spec.public_port is None:
            raise LookupError(f"{name} has no public app")
        return spec.public_port + INSTANCE_PORT_STEP * (instance - 1)

    def all_ports(self) -> list[int]:
        """Every port the services listen on: staff APIs and public apps. Refused when two
        would share one (an instance's port + 10 * (n - 1) landing on another's)."""
        ports = []
        for name, instance in self.all_instances():
            ports.append(self.port(name, instance))
            if next(s for s in self.specs() if s.name == name).public_port is not None:
                ports.append(self.public_port(name, instance))
        shared = sorted({port for port in ports if ports.count(port) > 1})
        if shared:
            raise StartupError(f"these instances would share ports {shared}: run fewer of them")
        return ports

    def all_instances(self) -> list[tuple[str, int]]:
        """Every (service, instance number) to run."""
        return [
            (spec.name, n)
            for spec in self.specs()
            for n in range(1, self.instances.get(spec.name, 1) + 1)
        ]

    def specs(self) -> tuple[ServiceSpec, ...]:
        return (
            ServiceSpec(
                "booking-service", "booking_service", "BOOKING", "booking", self.booking_port
            ),
            ServiceSpec(
                "charge-service",
                "charge_service",
                "CHARGE",
                "charge",
                self.charge_port,
                self.charge_webhook_port,
                "WEBHOOK_HTTP_PORT",
            ),
            ServiceSpec(
                "link-service",
                "link_service",
                "LINK",
                "link",
                self.link_port,
                self.link_public_port,
                "PUBLIC_HTTP_PORT",
            ),
            ServiceSpec(
                "notification-service",
                "notification_service",
                "NOTIFICATION",
                "notification",
                self.notification_port,
            ),
        )


class Services:
    """Start, restart and stop the services; each writes its log to `<logs>/<name>.log`."""

    def __init__(self, stack: Stack, config: SystemConfig | None = None) -> None:
        self.stack = stack
        self.config = config or SystemConfig()
        self.specs = {s.name: s for s in self.config.specs()}
        self.processes: dict[str, ManagedProcess] = {}

    def url(self, name: str, instance: int = 1) -> str:
        return f"http://127.0.0.1:{self.port(name, instance)}"

    def port(self, name: str, instance: int = 1) -> int:
        return self.config.port(name, instance)

    def public_url(self, name: str, instance: int = 1) -> str:
        """The service's public app: link-service's payment pages, charge-service's webhook."""
        return f"http://127.0.0.1:{self.config.public_port(name, instance)}"

    def instances(self) -> list[tuple[str, int]]:
        return self.config.all_instances()

    def env(
        self,
        spec: ServiceSpec,
        overrides: Mapping[str, str] | None = None,
        *,
        instance: int = 1,
    ) -> dict[str, str]:
        cfg = self.stack.config
        p = spec.env_prefix
        env = {
            **os.environ,
            f"{p}_ENVIRONMENT": self.config.environment,
            f"{p}_DATABASE_URL": self.stack.postgres_dsn(spec.database),
            f"{p}_KAFKA_BOOTSTRAP_SERVERS": self.stack.kafka_bootstrap_servers,
            # Each service connects as its own principal (bookpay_shared.kafka_acls).
            f"{p}_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            f"{p}_KAFKA_SASL_MECHANISM": "PLAIN",
            f"{p}_KAFKA_USERNAME": spec.name,
            f"{p}_KAFKA_PASSWORD": cfg.kafka_password(spec.name),
            f"{p}_HTTP_HOST": "127.0.0.1",
            f"{p}_HTTP_PORT": str(self.config.port(spec.name, instance)),
            f"{p}_LOG_LEVEL": self.config.log_level,
            f"{p}_PLATFORM_KEY": cfg.platform_key,
            f"{p}_TRUSTED_PROXIES": json.dumps(list(self.config.trusted_proxies)),
            "PYTHONUNBUFFERED": "1",
        }
        if spec.public_port_setting is not None:
            public_port = self.config.public_port(spec.name, instance)
            env[f"{p}_{spec.public_port_setting}"] = str(public_port)
        if spec.env_prefix == "CHARGE":
            env |= {
                "CHARGE_STRIPE_SECRET_KEY": cfg.stripe_api_key,
                "CHARGE_STRIPE_API_BASE": self.stack.stripe_url,
                "CHARGE_STRIPE_WEBHOOK_SECRET": cfg.stripe_webhook_secret,
                "CHARGE_STRIPE_STAND_IN": "localstripe",
                # The staff card-entry page loads the test Stripe.js stand-in (docs/testing.md).
                "CHARGE_STRIPE_JS_URL": f"{self.stack.stripe_url}/bookpay-test/v3/",
                "CHARGE_STRIPE_PUBLISHABLE_KEY": cfg.stripe_publishable_key,
            }
        if spec.env_prefix == "LINK":
            env |= {
                "LINK_PUBLIC_BASE_URL": self.public_url(spec.name),
                "LINK_STRIPE_SECRET_KEY": cfg.stripe_api_key,
                "LINK_STRIPE_API_BASE": self.stack.stripe_url,
                "LINK_STRIPE_STAND_IN": "localstripe",
                # The test Stripe.js stand-in served next to localstripe (see docs/testing.md).
                "LINK_STRIPE_JS_URL": f"{self.stack.stripe_url}/bookpay-test/v3/",
                "LINK_STRIPE_PUBLISHABLE_KEY": cfg.stripe_publishable_key,
                "LINK_STRIPE_CSP_ORIGINS": "[]",
                "LINK_SWEEP_INTERVAL_SECONDS": "3",
            }
        if spec.env_prefix == "NOTIFICATION":
            env |= {
                "NOTIFICATION_SMTP_HOST": self.stack.smtp_host,
                "NOTIFICATION_SMTP_PORT": str(self.stack.smtp_port),
                # Emails link only to link-service's pages (its LINK_PUBLIC_BASE_URL).
                "NOTIFICATION_PAYMENT_PAGE_BASE_URL": self.public_url("link-service"),
                # The administrators' email links to the charge in charge-service's staff API.
                "NOTIFICATION_CHARGE_SERVICE_BASE_URL": self.url("charge-service"),
            }
        return env | dict(self.config.extra_env) | dict(overrides or {})

    def start(
        self, name: str, overrides: Mapping[str, str] | None = None, instance: int = 1
    ) -> ManagedProcess:
        spec = self.specs[name]
        label = process_label(name, instance)
        process = ManagedProcess(
            label,
            [sys.executable, "-m", f"{spec.package}.main"],
            log_path=self.stack.logs_dir / f"{label}.log",
            env=self.env(spec, overrides, instance=instance),
            echo=self.config.echo,
        )
        process.start()
        self.processes[label] = process
        return process

    async def wait_healthy(self, name: str, timeout: float = 60.0, instance: int = 1) -> None:
        process = self.processes[process_label(name, instance)]
        await process.wait_http_ok(f"{self.url(name, instance)}/readyz", timeout)

    async def start_all(self, timeout: float = 90.0) -> None:
        for name, instance in self.instances():
            self.start(name, instance=instance)
        async with asyncio.TaskGroup() as group:  # one failure cancels the other waits
            for name, instance in self.instances():
                group.create_task(self.wait_healthy(name, timeout, instance))

    async def restart(
        self, name: str, overrides: Mapping[str, str] | None = None
    ) -> ManagedProcess:
        old = self.processes.get(name)
        if old is not None and old.running:
            await old.stop()
        process = self.start(name, overrides)
        await self.wait_healthy(name)
        return process

    async def stop_all(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.processes.values()))

    async def supervise(self, policy: RestartPolicy | None = None) -> None:
        """Watch every service process until cancelled: one that exits is reported at once
        and started again with the same settings, after a backoff that grows while it keeps
        failing (as a process manager or an orchestrator would)."""
        async with asyncio.TaskGroup() as group:
            for name, instance in self.instances():
                group.create_task(self._keep_running(name, instance, policy or RestartPolicy()))

    async def _keep_running(self, name: str, instance: int, policy: RestartPolicy) -> None:
        label = process_label(name, instance)
        failures = 0
        started_at = time.monotonic()
        while True:
            process = self.processes[label]
            code = await process.wait()
            await process.stop()  # closes its log; sweeps anything left in its group
            lived = time.monotonic() - started_at
            failures = 1 if lived >= policy.healthy_after else failures + 1
            delay = policy.delay(failures)
            log.error(
                "%s exited with code %s after %.0f s; restarting it in %.0f s (log %s)",
                label,
                code,
                lived,
                delay,
                process.log_path,
            )
            await asyncio.sleep(delay)
            self.start(name, instance=instance)
            started_at = time.monotonic()
            log.info("%s restarted (pid %s)", label, self.processes[label].pid)


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 1.0
    max_delay: float = 30.0
    healthy_after: float = 60.0
    """A process that ran this long before exiting starts over at `first_delay`."""

    def delay(self, failures: int) -> float:
        return Backoff(self.first_delay, cap=self.max_delay).delay(failures)
