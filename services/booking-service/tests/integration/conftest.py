"""A fresh booking-service database on the test stack's PostgreSQL for each test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from importlib import resources

import asyncpg
import pytest_asyncio
from bookpay_devstack.postgres import create_databases
from bookpay_devstack.stack import Stack
from bookpay_shared.db import Pool, apply_migrations


@pytest_asyncio.fixture(loop_scope="session")
async def pool(stack: Stack) -> AsyncIterator[Pool]:
    name = f"booking_it_{uuid.uuid4().hex[:10]}"
    await create_databases(stack.config.postgres_server_url, [name])
    db: Pool = await asyncpg.create_pool(stack.postgres_dsn(name), min_size=1, max_size=5)
    await apply_migrations(db, [("service", resources.files("booking_service") / "migrations")])
    try:
        yield db
    finally:
        await db.close()
        admin = await asyncpg.connect(stack.config.postgres_server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
