"""link-service's Kafka consumers (projections of booking-service's entities are registered
by the runtime)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from bookpay_shared import topics
from bookpay_shared.consuming import subscribe
from bookpay_shared.events import (
    ChargeRequested,
    Event,
    PaymentFailed,
    PaymentSucceeded,
    StripeConnectionChanged,
)
from bookpay_shared.runtime import ServiceRuntime

from link_service import handlers
from link_service.handlers import SERVICE, Deps

E = TypeVar("E", bound=Event)


def register(runtime: ServiceRuntime, deps: Deps) -> None:
    async def on_charge_requested(event: ChargeRequested) -> None:
        await handlers.create_link(deps, event)

    async def on_payment_failed(event: PaymentFailed) -> None:
        await handlers.create_link(deps, event)

    async def on_payment_succeeded(event: PaymentSucceeded) -> None:
        await handlers.record_payment_succeeded(deps, event)

    async def on_connection_changed(event: StripeConnectionChanged) -> None:
        await handlers.apply_connection(deps.pool, event)

    _consume(runtime, topics.CHARGE_REQUESTED, ChargeRequested, on_charge_requested)
    _consume(runtime, topics.PAYMENT_FAILED, PaymentFailed, on_payment_failed)
    _consume(runtime, topics.PAYMENT_SUCCEEDED, PaymentSucceeded, on_payment_succeeded)
    _consume(
        runtime, topics.STRIPE_CONNECTIONS_STATE, StripeConnectionChanged, on_connection_changed
    )


def _consume(
    runtime: ServiceRuntime,
    topic: str,
    model: type[E],
    handler: Callable[[E], Awaitable[None]],
) -> None:
    subscribe(
        runtime.broker,
        topic=topic,
        service=SERVICE,
        model=model,
        handler=handler,
        producer=runtime.producer,
    )
