"""booking-service's Kafka consumers: thin, each parses one event and calls one handler."""

from __future__ import annotations

from bookpay_shared.events import PaymentSucceeded
from bookpay_shared.runtime import ServiceRuntime

from booking_service.usecases import payments


def register(runtime: ServiceRuntime) -> None:
    async def on_payment_succeeded(event: PaymentSucceeded) -> None:
        await payments.apply_payment(runtime.db, event)

    runtime.consumers.subscribe(PaymentSucceeded, on_payment_succeeded)
