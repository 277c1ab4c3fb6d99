"""What charge-service's use cases need besides their unit of work, passed in by main, and the
Stripe retry policy."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from bookpay_shared.backoff import Backoff
from bookpay_shared.consuming import TransientError
from bookpay_shared.faults import FaultPoints

from charge_service.usecases.stripe_types import StripeGateway, StripeUnavailable

T = TypeVar("T")


@dataclass(frozen=True)
class Deps:
    stripe: StripeGateway
    faults: FaultPoints
    stripe_max_attempts: int = 4
    webhook_secret: str = field(default="", repr=False)
    webhook_tolerance_seconds: int = 300
    max_attempts_per_charge: int = 5
    """Attempts one charge may make in all (the first included)."""
    projection_wait: timedelta = timedelta(minutes=10)
    """How long an event naming a customer, booking or charge not known here yet is retried
    (booking-service's events may still be on their way) before it is refused."""


_STRIPE_RETRY = Backoff(base=0.4)
"""The waits between tries of one Stripe call: 0.4 s, 0.8 s, 1.6 s..."""


async def stripe_call(deps: Deps, call: Callable[[], Awaitable[T]]) -> T:
    """Run a Stripe call, retrying transient failures with backoff (the same idempotency key
    each time); after the last attempt raise TransientError so the whole step is retried later.
    A permanent rejection (StripeRequestRejected) goes to the caller as it is."""
    for attempt in range(1, deps.stripe_max_attempts + 1):
        try:
            return await call()
        except StripeUnavailable as exc:
            if attempt == deps.stripe_max_attempts:
                raise TransientError(str(exc)) from exc
            await asyncio.sleep(_STRIPE_RETRY.delay(attempt))
    raise AssertionError("unreachable")
