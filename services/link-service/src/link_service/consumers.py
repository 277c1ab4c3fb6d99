"""link-service's Kafka consumers (projections of booking-service's entities are registered
by the runtime)."""

from __future__ import annotations

from bookpay_shared.events import (
    ChargeAccepted,
    PaymentFailed,
    PaymentSucceeded,
    StripeConnectionChanged,
)
from bookpay_shared.runtime import ServiceRuntime

from link_service import handlers
from link_service.handlers import Deps


def register(runtime: ServiceRuntime, deps: Deps) -> None:
    async def on_charge_accepted(event: ChargeAccepted) -> None:
        await handlers.create_link(deps, event)

    async def on_payment_failed(event: PaymentFailed) -> None:
        await handlers.create_link(deps, event)

    async def on_payment_succeeded(event: PaymentSucceeded) -> None:
        await handlers.record_payment_succeeded(deps, event)

    async def on_connection_changed(event: StripeConnectionChanged) -> None:
        await handlers.apply_connection(deps.pool, event)

    consume = runtime.consumers.subscribe
    consume(ChargeAccepted, on_charge_accepted)
    consume(PaymentFailed, on_payment_failed)
    consume(PaymentSucceeded, on_payment_succeeded)
    consume(StripeConnectionChanged, on_connection_changed)
