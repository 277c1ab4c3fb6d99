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

from link_service.usecases import links
from link_service.usecases.links import Deps


def register(runtime: ServiceRuntime, deps: Deps) -> None:
    async def on_charge_accepted(event: ChargeAccepted) -> None:
        await links.create_link(deps, event)

    async def on_payment_failed(event: PaymentFailed) -> None:
        await links.create_link(deps, event)

    async def on_payment_succeeded(event: PaymentSucceeded) -> None:
        await links.record_payment_succeeded(deps, event)

    async def on_connection_changed(event: StripeConnectionChanged) -> None:
        await links.apply_connection(deps.pool, event)

    consume = runtime.consumers.subscribe
    consume(ChargeAccepted, on_charge_accepted)
    consume(PaymentFailed, on_payment_failed)
    consume(PaymentSucceeded, on_payment_succeeded)
    consume(StripeConnectionChanged, on_connection_changed)
