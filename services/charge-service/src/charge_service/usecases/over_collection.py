"""Payments taken beyond the bookings' balance due: booking-service could not apply part of a
charge to its bookings (they were paid already, or are in another currency) and says so with
PaymentOverCollected. The amount is recorded on the charge, once, with a history line, for
staff to refund; the charge itself stays succeeded (Stripe has the money)."""

from __future__ import annotations

import logging

from bookpay_shared.consuming import UnprocessableEvent
from bookpay_shared.events import PaymentOverCollected
from bookpay_shared.money import format_amount

from charge_service.usecases.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


def over_collected_note(amount: int, currency: str) -> str:
    return f"{format_amount(amount, currency)} over the bookings' balance due: to be refunded"


async def on_payment_over_collected(uow: UnitOfWork, event: PaymentOverCollected) -> None:
    """Record the over-collected amount on the charge; a repeat changes nothing."""
    async with uow:
        charge = await uow.charges.get(event.charge_id, for_update=True)
        if charge is None or charge.account_id != event.account_id:
            raise UnprocessableEvent(
                f"charge {event.charge_id} is not known in account {event.account_id}"
            )
        if event.currency != charge.currency:
            raise UnprocessableEvent(
                f"charge {event.charge_id} is in {charge.currency}, not {event.currency}"
            )
        if not await uow.charges.record_over_collected(charge.charge_id, event.unapplied_amount):
            return
        log.warning(
            "charge %s took %d %s beyond its bookings' balance due",
            charge.charge_id,
            event.unapplied_amount,
            event.currency,
        )
        await uow.charges.add_history(
            charge.charge_id,
            charge.status,
            over_collected_note(event.unapplied_amount, event.currency),
            over_collected=event.unapplied_amount,
            currency=event.currency,
            payment_intent_id=event.stripe_payment_intent_id,
        )
        await uow.commit()
