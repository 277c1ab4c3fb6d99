"""charge-service's Kafka consumers: charge requests, and projections of booking-service's
entities (accounts, customers, bookings) used to check charges against our records.

Projections need no processed-event record: each upsert keeps the highest entity version, so
a redelivered or out-of-order state event changes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from bookpay_shared import topics
from bookpay_shared.consuming import subscribe
from bookpay_shared.db import Connection
from bookpay_shared.events import (
    AccountStateChanged,
    BookingStateChanged,
    ChargeRequested,
    CustomerStateChanged,
    Event,
)
from bookpay_shared.runtime import ServiceRuntime

from charge_service import handlers
from charge_service import repository as repo

SERVICE = "charge-service"
E = TypeVar("E", bound=Event)


def register(runtime: ServiceRuntime, deps: handlers.Deps) -> None:
    async def on_charge_requested(event: ChargeRequested) -> None:
        await handlers.process_charge_requested(deps, event)

    subscribe(
        runtime.broker,
        topic=topics.CHARGE_REQUESTED,
        service=SERVICE,
        model=ChargeRequested,
        handler=on_charge_requested,
        producer=runtime.producer,
    )
    _project(runtime, topics.ACCOUNTS_STATE, AccountStateChanged, repo.project_account)
    _project(runtime, topics.CUSTOMERS_STATE, CustomerStateChanged, repo.project_customer)
    _project(runtime, topics.BOOKINGS_STATE, BookingStateChanged, repo.project_booking)


def _project(
    runtime: ServiceRuntime,
    topic: str,
    model: type[E],
    apply: Callable[[Connection, E], Awaitable[None]],
) -> None:
    async def on_state(event: E) -> None:
        async with runtime.db.acquire() as conn:
            await apply(conn, event)

    subscribe(
        runtime.broker,
        topic=topic,
        service=SERVICE,
        model=model,
        handler=on_state,
        producer=runtime.producer,
    )
