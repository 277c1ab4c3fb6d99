"""charge-service's Kafka consumers (projections of booking-service's entities are
registered by the runtime)."""

from __future__ import annotations

from bookpay_shared import topics
from bookpay_shared.consuming import subscribe
from bookpay_shared.events import ChargeRequested
from bookpay_shared.runtime import ServiceRuntime

from charge_service import handlers

SERVICE = "charge-service"


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
