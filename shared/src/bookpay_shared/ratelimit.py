"""A token bucket per key (a client address, an account...), in process.

Each instance of a service limits on its own: with N instances behind a load balancer a
client gets up to N times the rate. That is enough for what the limits are for (guessing
link tokens, scraping, card testing through new-card attempts, resend floods), because each
of those needs far more requests than N bursts; a limit shared by every instance would need a
counter in PostgreSQL or at the load balancer, the next step when one instance is not enough.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self,
        per_second: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 50_000,
    ) -> None:
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, client: str) -> float:
        """Take one token for `client`: 0.0 when allowed, else the seconds until one is free."""
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self._max_clients:
                self._forget_idle(now)
            bucket = self._buckets[client] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.per_second)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.per_second

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that have refilled (forgetting them changes nothing), else the oldest."""
        full_after = self.burst / self.per_second
        idle = [k for k, b in self._buckets.items() if now - b.updated >= full_after]
        for key in idle or sorted(self._buckets, key=lambda k: self._buckets[k].updated)[:1000]:
            del self._buckets[key]
