"""`Wakeup` on real PostgreSQL: a NOTIFY wakes the worker at once, polling goes on without one,
and a lost listening connection is listened again while the worker keeps running."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
import pytest_asyncio
from bookpay_devstack.stack import Stack
from bookpay_shared.backoff import Backoff
from bookpay_shared.db import Pool
from bookpay_shared.wakeup import Wakeup

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

A_LONG_POLL = 60.0
"""Longer than any test: a worker woken within it was woken by a notification."""


@pytest_asyncio.fixture(loop_scope="session")
async def pool(stack: Stack) -> AsyncIterator[Pool]:
    # LISTEN/NOTIFY needs no table: the server's maintenance database will do.
    created: Pool = await asyncpg.create_pool(
        stack.config.postgres_server_url, min_size=1, max_size=3
    )
    yield created
    await created.close()


@pytest.fixture
def channel() -> str:
    return f"wakeup_test_{uuid.uuid4().hex[:12]}"


class Worker:
    """Counts its runs and lets a test wait for the next one."""

    def __init__(self) -> None:
        self.runs = 0
        self._ran = asyncio.Condition()

    async def __call__(self) -> None:
        async with self._ran:
            self.runs += 1
            self._ran.notify_all()

    async def runs_past(self, count: int, within: float) -> None:
        async with self._ran:
            await asyncio.wait_for(self._ran.wait_for(lambda: self.runs > count), within)


@contextlib.asynccontextmanager
async def running(wakeup: Wakeup, work: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    task = asyncio.create_task(wakeup.run(work))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def notify(stack: Stack, channel: str) -> None:
    conn = await asyncpg.connect(stack.config.postgres_server_url)
    try:
        await conn.execute("SELECT pg_notify($1, '')", channel)
    finally:
        await conn.close()


async def test_a_notification_wakes_the_worker_long_before_the_next_poll(
    stack: Stack, pool: Pool, channel: str
) -> None:
    worker = Worker()
    wakeup = Wakeup(pool, channel, poll_seconds=A_LONG_POLL)
    async with running(wakeup, worker):
        await asyncio.wait_for(wakeup.listening.wait(), 10)
        await worker.runs_past(0, within=5)
        runs = worker.runs
        await notify(stack, channel)
        await worker.runs_past(runs, within=5)


async def test_another_channel_does_not_wake_the_worker(
    stack: Stack, pool: Pool, channel: str
) -> None:
    worker = Worker()
    wakeup = Wakeup(pool, channel, poll_seconds=A_LONG_POLL)
    async with running(wakeup, worker):
        await asyncio.wait_for(wakeup.listening.wait(), 10)
        await worker.runs_past(0, within=5)
        await notify(stack, channel + "_other")
        with pytest.raises(TimeoutError):
            await worker.runs_past(1, within=1.0)


async def test_without_notifications_the_worker_still_runs_every_poll(
    pool: Pool, channel: str
) -> None:
    worker = Worker()
    async with running(Wakeup(pool, channel, poll_seconds=0.1), worker):
        await worker.runs_past(4, within=5)


async def test_a_lost_listening_connection_is_listened_again_and_notifications_wake_again(
    stack: Stack, pool: Pool, channel: str
) -> None:
    worker = Worker()
    wakeup = Wakeup(pool, channel, poll_seconds=A_LONG_POLL, reconnect=Backoff(base=0.1))
    async with running(wakeup, worker):
        await asyncio.wait_for(wakeup.listening.wait(), 10)
        admin = await asyncpg.connect(stack.config.postgres_server_url)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = $1",
                f'LISTEN "{channel}"',
            )
        finally:
            await admin.close()
        assert killed == 1
        runs = worker.runs
        # Listening again, it looks once at once: a notification may have gone by meanwhile.
        await worker.runs_past(runs, within=10)
        assert wakeup.listening.is_set()
        runs = worker.runs
        await notify(stack, channel)
        await worker.runs_past(runs, within=5)


async def test_an_unreachable_database_leaves_the_worker_polling(channel: str) -> None:
    unreachable: Pool = await asyncpg.create_pool(
        "postgresql://nobody@127.0.0.1:9/nothing", min_size=0, max_size=1
    )
    worker = Worker()
    wakeup = Wakeup(unreachable, channel, poll_seconds=0.1, reconnect=Backoff(base=0.1))
    try:
        async with running(wakeup, worker):
            await worker.runs_past(4, within=5)
            assert not wakeup.listening.is_set()
    finally:
        await unreachable.close()


async def test_a_failing_worker_raises_and_gives_its_listening_connection_back(
    pool: Pool, channel: str
) -> None:
    async def broken() -> None:
        await asyncio.sleep(0.2)  # long enough for the listener to connect
        raise RuntimeError("the work failed")

    wakeup = Wakeup(pool, channel, poll_seconds=A_LONG_POLL)
    with pytest.raises(RuntimeError, match="the work failed"):
        await wakeup.run(broken)
    assert not wakeup.listening.is_set()
    assert pool.get_idle_size() == pool.get_size()
