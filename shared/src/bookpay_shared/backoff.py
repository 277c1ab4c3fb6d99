"""Exponential backoff: the one formula behind every retry wait.

A consumer retrying a transient failure, a service waiting for PostgreSQL or Kafka, an email
tried again later, the dev stack restarting a crashed process: each waits `base` after the first
failure, twice that after the second, and so on up to `cap`. Written once here, so that every
loop doubles, caps and (where many clients retry at once) spreads its waits the same way.

`jitter` is the fraction of each delay drawn at random (0 = none, the default; 1 = "full
jitter", anywhere between 0 and the delay), so that many clients that failed together do not all
retry at the same moment. Pass a seeded `random.Random` to get the same waits in a test.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

_MAX_EXPONENT = 1000
"""2.0 ** 1024 overflows a float; any cap is reached long before this many doublings."""


@dataclass(frozen=True)
class Backoff:
    base: float
    """The wait after the first failure, in seconds (0: retry at once, as fast tests do)."""
    cap: float = math.inf
    """No wait is longer than this."""
    jitter: float = 0.0
    """The fraction of each delay taken off at random: 0 for none, 1 for full jitter."""

    def __post_init__(self) -> None:
        if not self.base >= 0:
            raise ValueError(f"a backoff's base must be 0 or more seconds, not {self.base!r}")
        if not self.cap >= 0:
            raise ValueError(f"a backoff's cap must be 0 or more seconds, not {self.cap!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"a backoff's jitter must be between 0 and 1, not {self.jitter!r}")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait after failed attempt number `attempt` (1, 2, ...): `base * 2**(attempt-1)`,
        at most `cap`, less a random part of it when there is jitter."""
        if attempt < 1:
            raise ValueError(f"attempts are counted from 1, not {attempt!r}")
        exponent = min(attempt - 1, _MAX_EXPONENT)
        delay = min(self.cap, self.base * 2.0**exponent)
        if self.jitter:
            delay -= delay * self.jitter * (rng or random).random()
        return delay

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits after attempt 1, 2, 3, ... without end, for a loop that retries until
        it gets through."""
        return (self.delay(attempt, rng) for attempt in itertools.count(1))
