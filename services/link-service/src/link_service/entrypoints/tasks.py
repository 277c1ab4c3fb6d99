"""The payment-link sweep as a periodic task: every `every_seconds`, expire links past their
expiry and check the PaymentIntents that may have changed (`usecases.payments.sweep_once`)."""

from __future__ import annotations

from bookpay_shared.runtime import ServiceRuntime

from link_service.usecases import payments
from link_service.usecases.links import Deps


def register(runtime: ServiceRuntime, deps: Deps, every_seconds: float) -> None:
    runtime.add_periodic_task(
        "sweep_payment_links",
        lambda: payments.sweep_once(deps, recheck_after_seconds=every_seconds),
        every_seconds=every_seconds,
    )
