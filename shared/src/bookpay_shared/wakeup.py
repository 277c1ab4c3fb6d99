"""Wake a periodic worker as soon as PostgreSQL says there is work: LISTEN/NOTIFY with polling.

The outbox relay and notification-service's sender each poll a table for work, and a trigger
on that table runs `pg_notify(channel)` at each commit that adds some. `Wakeup` runs the work at
once, then again on every notification and at least every `poll_seconds` without one.

Polling stays because a notification is a hint, not a guarantee: one sent while nobody is
listening (before we connect, while the connection is away) is lost. The listening connection
can be lost (PostgreSQL restarted, a failover, a network cut): then `Wakeup` keeps polling,
connects again with backoff, and runs the work once as soon as it listens again, in case a
notification went by in the gap. A lost connection never stops the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bookpay_shared.backoff import Backoff
from bookpay_shared.db import Pool

log = logging.getLogger(__name__)

Work = Callable[[], Awaitable[object]]


@dataclass
class Wakeup:
    pool: Pool
    channel: str
    poll_seconds: float = 1.0
    """The longest the worker waits without a notification."""
    reconnect: Backoff = field(default_factory=lambda: Backoff(base=0.5, cap=15.0))
    """The waits between tries to listen again after the listening connection was lost."""
    listening: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    """Set while a connection listens on the channel (tests wait for it)."""
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    async def run(self, work: Work) -> None:
        """Run `work` now, then after each notification or `poll_seconds`, until cancelled
        (or until `work` raises, which is raised here)."""
        listener = asyncio.create_task(self._keep_listening(), name=f"listen {self.channel}")
        try:
            while True:
                await work()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_seconds)
                self._wakeup.clear()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _keep_listening(self) -> None:
        delays = self.reconnect.delays()
        first = True
        while True:
            try:
                await self._listen_until_lost(look_now=not first)
                first = False
                delays = self.reconnect.delays()  # it did listen: the next gap starts short
                delay = next(delays)
                log.warning("lost the connection listening on %r; polling meanwhile", self.channel)
            except Exception as exc:
                first = False
                delay = next(delays)
                log.warning(
                    "cannot listen on %r (%r); polling meanwhile, trying again in %.1f s",
                    self.channel,
                    exc,
                    delay,
                )
            await asyncio.sleep(delay)

    async def _listen_until_lost(self, *, look_now: bool) -> None:
        lost = asyncio.Event()

        def on_lost(_: object) -> None:
            lost.set()

        async with self.pool.acquire() as conn:
            conn.add_termination_listener(on_lost)
            await conn.add_listener(self.channel, self._on_notify)
            try:
                self.listening.set()
                if look_now:  # something may have been notified while nobody listened
                    self._wakeup.set()
                await lost.wait()
            finally:
                self.listening.clear()
                conn.remove_termination_listener(on_lost)
                if not conn.is_closed():
                    await conn.remove_listener(self.channel, self._on_notify)

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()
