"""pytest fixtures for tests against the real infrastructure and the services as processes.

Loaded by the repository's root conftest.py. The test stack uses its own ports and runtime
directory, so `make test` can run while `make run` is up.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from importlib.resources.abc import Traversable
from pathlib import Path

import asyncpg
import pytest_asyncio
from bookpay_shared.db import Pool, apply_migrations

from bookpay_devstack.config import StackConfig, find_repo_root
from bookpay_devstack.containers import postgres_container, postgres_from
from bookpay_devstack.events import EventLog
from bookpay_devstack.postgres import create_databases
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services, SystemConfig

# BOOKPAY_TEST_PORT_OFFSET moves every port of the test stack, so that two test runs (two
# working copies) can share a machine.
OFFSET = int(os.environ.get("BOOKPAY_TEST_PORT_OFFSET", "0"))

TEST_SYSTEM = SystemConfig(
    booking_port=18001 + OFFSET,
    charge_port=18002 + OFFSET,
    link_port=18003 + OFFSET,
    notification_port=18004 + OFFSET,
    charge_webhook_port=17102 + OFFSET,
    link_public_port=17103 + OFFSET,
    environment="test",
    # Sweeps look at work left in flight after seconds, not minutes, so tests can wait for them.
    extra_env={"CHARGE_RECONCILE_IDLE_SECONDS": "4", "CHARGE_RECONCILE_EVERY_SECONDS": "1"},
)


def stack_config_for_tests(root: Path | None = None) -> StackConfig:
    root = root or find_repo_root()
    return StackConfig(
        runtime_dir=root / "var" / (f"test-stack-{OFFSET}" if OFFSET else "test-stack"),
        kafka_port=19092 + OFFSET,
        kafka_controller_port=19093 + OFFSET,
        postgres_port=15433 + OFFSET,
        stripe_port=18420 + OFFSET,
        smtp_port=11025 + OFFSET,
        smtp_api_port=11080 + OFFSET,
        stripe_webhook_url=f"http://127.0.0.1:{TEST_SYSTEM.charge_webhook_port}/v1/stripe/webhooks",
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stack() -> AsyncIterator[Stack]:
    """Kafka, PostgreSQL, localstripe and the SMTP sink, started once for the whole run.
    PostgreSQL is embedded, or a Docker container with BOOKPAY_TEST_POSTGRES=docker."""
    config = stack_config_for_tests()
    with contextlib.ExitStack() as containers:
        if postgres_from() == "docker":
            config = containers.enter_context(postgres_container(config))
        async with Stack(config) as running:
            yield running


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def event_log(stack: Stack) -> AsyncIterator[EventLog]:
    log = EventLog(stack.kafka_connection())
    await log.start()
    yield log
    await log.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def system(stack: Stack, event_log: EventLog) -> AsyncIterator[Services]:
    """The four services as processes, healthy."""
    services = Services(stack, TEST_SYSTEM)
    try:
        await services.start_all()
        yield services
    finally:
        await services.stop_all()


@contextlib.asynccontextmanager
async def fresh_database(
    stack: Stack,
    prefix: str,
    migrations: Sequence[tuple[str, Traversable]],
    *,
    max_size: int = 10,
) -> AsyncIterator[Pool]:
    """A pool on a new database of the stack's PostgreSQL, named `<prefix>_<random>`, with
    `migrations` (component, folder) applied; the database is dropped afterwards. A service's
    integration tests make their `pool` fixture of it, so that each test starts empty:

        @pytest_asyncio.fixture(loop_scope="session")
        async def pool(stack: Stack) -> AsyncIterator[Pool]:
            async with fresh_database(stack, "charge_it", MIGRATIONS) as db:
                yield db
    """
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await create_databases(stack.config.postgres_server_url, [name])
    try:
        db: Pool = await asyncpg.create_pool(
            stack.postgres_dsn(name), min_size=1, max_size=max_size
        )
        try:
            await apply_migrations(db, migrations)
            yield db
        finally:
            await db.close()
    finally:
        admin = await asyncpg.connect(stack.config.postgres_server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
