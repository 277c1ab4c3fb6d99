"""charge-service's Kafka consumers: thin, each parses one event and calls one handler.
(Projections of booking-service's entities are registered by the runtime.)"""

from __future__ import annotations

from bookpay_shared.events import (
    ChargeRequested,
    PaymentLinkClosed,
    PaymentLinkPaid,
    PaymentOverCollected,
)
from bookpay_shared.runtime import ServiceRuntime

from charge_service.adapters.postgres_unit_of_work import PostgresUnitOfWork
from charge_service.usecases import charging, link_payments, over_collection
from charge_service.usecases.deps import Deps


def register(runtime: ServiceRuntime, deps: Deps) -> None:
    """Each message is handled in a unit of work of its own, on the service's pool."""

    def uow() -> PostgresUnitOfWork:
        return PostgresUnitOfWork(runtime.db)

    async def on_charge_requested(event: ChargeRequested) -> None:
        await charging.process_charge_requested(deps, uow(), event)

    async def on_payment_link_paid(event: PaymentLinkPaid) -> None:
        await link_payments.on_payment_link_paid(deps, uow(), event)

    async def on_payment_link_closed(event: PaymentLinkClosed) -> None:
        await link_payments.on_payment_link_closed(deps, uow(), event)

    async def on_payment_over_collected(event: PaymentOverCollected) -> None:
        await over_collection.on_payment_over_collected(uow(), event)

    runtime.consumers.subscribe(ChargeRequested, on_charge_requested)
    runtime.consumers.subscribe(PaymentLinkPaid, on_payment_link_paid)
    runtime.consumers.subscribe(PaymentLinkClosed, on_payment_link_closed)
    runtime.consumers.subscribe(PaymentOverCollected, on_payment_over_collected)
