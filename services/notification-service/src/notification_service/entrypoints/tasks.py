"""The work notification-service does on its own, registered with the runtime: the delivery
loop (`usecases.delivery.Sender`) as a background task, and the two sweeps as periodic tasks,
the administrators' emails whose bookings never all arrived and the receipts still waiting for
their account or customer."""

from __future__ import annotations

from bookpay_shared.runtime import ServiceRuntime

from notification_service.usecases import admin_emails, receipts
from notification_service.usecases.delivery import Sender
from notification_service.usecases.deps import Deps


def register(
    runtime: ServiceRuntime,
    deps: Deps,
    sender: Sender,
    *,
    admin_email_flush_seconds: float,
    receipt_retry_seconds: float,
) -> None:
    runtime.add_background_task(sender.run)
    runtime.add_periodic_task(
        "flush_waiting_link_payments",
        lambda: admin_emails.flush_waiting_link_payments(deps),
        every_seconds=admin_email_flush_seconds,
    )
    runtime.add_periodic_task(
        "flush_waiting_receipts",
        lambda: receipts.flush_waiting_receipts(deps),
        every_seconds=receipt_retry_seconds,
    )
