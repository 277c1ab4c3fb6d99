"""What every use case of notification-service is given (`Deps`), the service's name, and the
one rule they share about booking-service's state events: an account, customer or booking not
known yet (`MissingEntity`) is waited for while the event is young (`or_wait`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from bookpay_shared.consuming import TransientError, UnprocessableEvent
from bookpay_shared.db import Pool
from bookpay_shared.events import Event, utcnow

SERVICE = "notification-service"

T = TypeVar("T")


@dataclass(frozen=True)
class Deps:
    pool: Pool
    payment_page_base_url: str = "http://127.0.0.1:8003"
    """link-service's public base URL: emailed links must be `<it>/pay/...`."""
    charge_service_base_url: str = "http://127.0.0.1:8002"
    """charge-service's staff API, as staff reach it: the administrators' email links to the
    charge there."""
    projection_wait: timedelta = timedelta(minutes=10)
    admin_email_settle: timedelta = timedelta(minutes=5)
    clock: Callable[[], datetime] = utcnow


class MissingEntity(LookupError):
    """An account, customer or booking this service has not learnt about (yet)."""


async def or_wait(deps: Deps, event: Event, lookup: Awaitable[T]) -> T:
    """The lookup's result. A missing account, customer or booking is waited for (retried)
    while the event is younger than `projection_wait`, then the event is dead-lettered."""
    try:
        return await lookup
    except MissingEntity as exc:
        age = deps.clock() - event.occurred_at
        if age < deps.projection_wait:
            raise TransientError(f"{exc}; waiting for booking-service's state events") from exc
        raise UnprocessableEvent(f"{exc} {age} after the event") from exc
