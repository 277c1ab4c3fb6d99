"""bookpay's local infrastructure: Kafka, PostgreSQL, localstripe and an SMTP sink, started
natively as child processes.

    async with run_infra(StackConfig()) as stack:
        stack.kafka_bootstrap_servers, stack.postgres_dsn("charge"), stack.stripe_url, ...
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

from bookpay_shared.kafka import KafkaConnection
from bookpay_shared.kafka_acls import ADMIN

from .config import StackConfig
from .kafka import KafkaServer
from .mail import SmtpSink, SmtpSinkClient
from .postgres import PostgresServer
from .process import ManagedProcess, StartupError, require_free_ports
from .stripe_api import LocalStripe

__all__ = [
    "Stack",
    "StackConfig",
    "StartupError",
    "claim_runtime_dir",
    "prepare_runtime_dir",
    "run_infra",
]

log = logging.getLogger(__name__)

# In a runtime directory the stack made (one without it is never wiped); locked while in use.
RUNTIME_MARKER = ".bookpay-devstack"


class Component(Protocol):
    name: str
    process: ManagedProcess | None

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def claim_runtime_dir(config: StackConfig) -> IO[str]:
    """Create the runtime directory and lock it for this stack; close the handle to release.

    Refuses a non-empty directory that the stack did not create, and one another stack holds.
    """
    root = config.runtime_dir
    marker = root / RUNTIME_MARKER
    if root.exists() and any(root.iterdir()) and not marker.exists():
        raise StartupError(f"{root} is not empty and was not made by the dev stack; not using it")
    root.mkdir(parents=True, exist_ok=True)
    handle = marker.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StartupError(f"{root} is in use by another running stack") from None
    return handle


def prepare_runtime_dir(config: StackConfig) -> None:
    """Empty the (claimed) runtime directory unless `keep_data`; create the logs directory."""
    if not config.keep_data:
        for child in config.runtime_dir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            elif child.name != RUNTIME_MARKER:
                child.unlink()
    config.logs_dir.mkdir(parents=True, exist_ok=True)


def required_ports(config: StackConfig) -> list[int]:
    ports = [config.kafka_port, config.kafka_controller_port, config.stripe_port]
    ports += [config.smtp_port, config.smtp_api_port]
    if not config.external_postgres_url:
        ports.append(config.postgres_port)
    return ports


class Stack:
    """Starts the four components (concurrently) and stops whatever it started."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config if config is not None else StackConfig()
        self.kafka = KafkaServer(self.config)
        self.postgres = PostgresServer(self.config)
        self.stripe = LocalStripe(self.config)
        self.smtp = SmtpSink(self.config)
        self._claim: IO[str] | None = None

    @property
    def components(self) -> tuple[Component, ...]:
        return (self.kafka, self.postgres, self.stripe, self.smtp)

    async def start(self) -> None:
        started = time.monotonic()
        self._claim = claim_runtime_dir(self.config)
        try:
            require_free_ports("dev stack", self.config.host, required_ports(self.config))
            prepare_runtime_dir(self.config)
            async with asyncio.TaskGroup() as group:
                for component in self.components:
                    group.create_task(self._start_one(component))
        except BaseExceptionGroup as failures:
            await self.stop()
            raise _single_error(failures) from None
        except BaseException:
            await self.stop()
            raise
        log.info("dev stack ready in %.1fs", time.monotonic() - started)

    @staticmethod
    async def _start_one(component: Component) -> None:
        started = time.monotonic()
        await component.start()
        log.info("%s ready in %.1fs", component.name, time.monotonic() - started)

    async def stop(self) -> None:
        """Stop every component that was started (safe to call more than once)."""
        results = await asyncio.gather(*(c.stop() for c in self.components), return_exceptions=True)
        for component, result in zip(self.components, results, strict=True):
            if isinstance(result, BaseException):
                log.error("stopping %s failed: %r", component.name, result)
        if self._claim is not None:
            self._claim.close()
            self._claim = None

    async def __aenter__(self) -> Stack:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def processes(self) -> list[ManagedProcess]:
        return [c.process for c in self.components if c.process is not None]

    @property
    def kafka_bootstrap_servers(self) -> str:
        return self.config.kafka_bootstrap_servers

    def kafka_connection(self, principal: str = ADMIN) -> KafkaConnection:
        """How `principal` (the super user by default) connects to the broker."""
        return self.config.kafka_connection(principal)

    def kafka_client_args(self, principal: str = ADMIN) -> dict[str, Any]:
        """Keyword arguments for an aiokafka client connecting as `principal`."""
        return self.kafka_connection(principal).client_args()

    def postgres_dsn(self, database: str) -> str:
        return self.config.postgres_dsn(database)

    @property
    def postgres_dsns(self) -> dict[str, str]:
        return self.postgres.dsns

    @property
    def stripe_url(self) -> str:
        return self.config.stripe_url

    @property
    def smtp_host(self) -> str:
        return self.config.host

    @property
    def smtp_port(self) -> int:
        return self.config.smtp_port

    @property
    def smtp_api_url(self) -> str:
        return self.config.smtp_api_url

    @property
    def mail(self) -> SmtpSinkClient:
        return self.smtp.client

    @property
    def logs_dir(self) -> Path:
        return self.config.logs_dir

    def addresses(self) -> dict[str, str]:
        """What a person or a service needs to reach the stack, by name."""
        c = self.config
        return {
            "kafka": c.kafka_bootstrap_servers,
            "kafka login": f"SASL_PLAINTEXT PLAIN {ADMIN} / {c.kafka_password(ADMIN)}",
            **{f"postgres {db}": dsn for db, dsn in self.postgres_dsns.items()},
            "stripe api": c.stripe_url,
            "stripe secret key": c.stripe_api_key,
            "stripe publishable key": c.stripe_publishable_key,
            "stripe.js": f"{c.stripe_url}/js.stripe.com/v3/",
            "stripe webhooks to": c.stripe_webhook_url,
            "stripe webhook secret": c.stripe_webhook_secret,
            "smtp": f"{c.host}:{c.smtp_port}",
            "smtp sink api": f"{c.smtp_api_url}/messages",
            "logs": str(c.logs_dir),
        }


def _single_error(failures: BaseExceptionGroup[BaseException]) -> BaseException:
    """One exception for a failed start: the only one, or a StartupError naming them all."""
    errors = failures.exceptions
    if len(errors) == 1:
        return errors[0]
    if all(isinstance(e, StartupError) for e in errors):
        return StartupError("\n\n".join(str(e) for e in errors))
    return failures


@contextlib.asynccontextmanager
async def run_infra(config: StackConfig) -> AsyncIterator[Stack]:
    """Start the infrastructure, yield it, stop it on the way out (also on errors and Ctrl-C)."""
    stack = Stack(config)
    await stack.start()
    try:
        yield stack
    finally:
        await stack.stop()
