"""PostgreSQL: the connection pool and the numbered-migrations runner.

Migrations are plain SQL files named `NNN_description.sql`, applied in order, each in its own
transaction, under an advisory lock so that several instances starting at once apply them once.
The shared library's own migrations (outbox, processed events) are applied before a service's.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg
import asyncpg.pool

from bookpay_shared.backoff import Backoff

log = logging.getLogger(__name__)

Pool = asyncpg.Pool
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

_MIGRATION_NAME = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")
_MIGRATIONS_LOCK = 0x6B0_0C_9A_7  # any constant shared by every instance of a service


def new_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> Pool:
    """A pool that connects nothing until `open_pool` (no connections at construction)."""
    return asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, reset=_keep_session)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a released connection needs beyond asyncpg's own clean-up (which rolls back an
    open transaction and drops client-side listeners): nothing. asyncpg's default sends
    `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on every release, four
    statements per transaction for state this code never leaves behind: no session settings,
    no cursors outside a transaction, only transaction-level advisory locks in the services
    (the migrations' session lock is released by its owner), and a LISTEN is removed by
    the `Wakeup` that made it (`wakeup.py`)."""


async def open_pool(pool: Pool, dsn: str, *, wait_seconds: float | None = 30.0) -> None:
    """Wait until the server accepts connections (for `wait_seconds`, or for as long as it
    takes when None: 0.5 s between tries, doubling up to 15 s), then open the pool."""
    loop = asyncio.get_running_loop()
    deadline = None if wait_seconds is None else loop.time() + wait_seconds
    delays = Backoff(base=0.5, cap=15.0).delays()
    while True:
        try:
            conn = await asyncpg.connect(dsn)
            await conn.close()
            break
        except (OSError, asyncpg.CannotConnectNowError) as exc:
            if deadline is not None and loop.time() > deadline:
                raise
            delay = next(delays)
            log.warning(
                "database not reachable yet (%s); trying again in %.1f s", type(exc).__name__, delay
            )
            await asyncio.sleep(delay)
    await pool


def shared_migrations() -> Traversable:
    return resources.files("bookpay_shared") / "migrations"


def _migration_files(directory: Traversable) -> list[tuple[int, str, Traversable]]:
    found = []
    for entry in directory.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry))
    found.sort(key=lambda item: item[0])
    versions = [version for version, _, _ in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"duplicate migration numbers in {directory}")
    return found


async def apply_migrations(pool: Pool, components: Sequence[tuple[str, Traversable]]) -> list[str]:
    """Apply the shared library's, then each component's pending migrations, in order.

    Returns the names applied."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATIONS_LOCK)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       component text NOT NULL,
                       version integer NOT NULL,
                       name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now(),
                       PRIMARY KEY (component, version))"""
            )
            for component, directory in (("shared", shared_migrations()), *components):
                applied += await _apply_component(conn, component, directory)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATIONS_LOCK)
    return applied


async def _apply_component(conn: Connection, component: str, directory: Traversable) -> list[str]:
    done = {
        row["version"]
        for row in await conn.fetch(
            "SELECT version FROM schema_migrations WHERE component = $1", component
        )
    }
    applied = []
    for version, name, entry in _migration_files(directory):
        if version in done:
            continue
        async with conn.transaction():
            await conn.execute(entry.read_text(encoding="utf-8"))
            await conn.execute(
                "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
                component,
                version,
                name,
            )
        log.info("applied migration %s/%s", component, name)
        applied.append(f"{component}/{name}")
    return applied
