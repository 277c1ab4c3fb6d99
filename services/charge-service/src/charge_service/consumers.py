"""charge-service's Kafka consumers: thin, each parses one event and calls one handler.
(Projections of booking-service's entities are registered by the runtime.)"""

from __future__ import annotations

from bookpay_shared.events import ChargeRequested, PaymentLinkClosed, PaymentLinkPaid
from bookpay_shared.runtime import ServiceRuntime

from charge_service import charging, link_payments
from charge_service.deps import Deps


def register(runtime: ServiceRuntime, deps: Deps) -> None:
    async def on_charge_requested(event: ChargeRequested) -> None:
        await charging.process_charge_requested(deps, event)

    async def on_payment_link_paid(event: PaymentLinkPaid) -> None:
        await link_payments.on_payment_link_paid(deps, event)

    async def on_payment_link_closed(event: PaymentLinkClosed) -> None:
        await link_payments.on_payment_link_closed(deps, event)

    runtime.consumers.subscribe(ChargeRequested, on_charge_requested)
    runtime.consumers.subscribe(PaymentLinkPaid, on_payment_link_paid)
    runtime.consumers.subscribe(PaymentLinkClosed, on_payment_link_closed)
