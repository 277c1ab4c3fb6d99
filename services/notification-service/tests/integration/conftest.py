"""A fresh notification-service database on the test stack's PostgreSQL for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import resources

import pytest_asyncio
from bookpay_devstack.pytest_plugin import fresh_database
from bookpay_devstack.stack import Stack
from bookpay_shared import projections
from bookpay_shared.db import Pool

MIGRATIONS = [
    ("projections", projections.migrations()),
    ("service", resources.files("notification_service") / "migrations"),
]


@pytest_asyncio.fixture(loop_scope="session")
async def pool(stack: Stack) -> AsyncIterator[Pool]:
    async with fresh_database(stack, "notification_it", MIGRATIONS, max_size=5) as db:
        yield db
