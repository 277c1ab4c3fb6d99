"""The reconciliation sweep: charges left in flight get looked at again.

- `processing` charges idle for a while (the process died mid-attempt and no redelivery
  came, or an attempt ran from an HTTP request) are resumed: the PaymentIntent is retrieved
  and the attempt finished, never started again.
- `awaiting_customer` charges whose PaymentIntent is known (a card on file continued as a
  payment link) are completed when Stripe says it succeeded, even if no webhook ever arrived.
  (A plain payment link's PaymentIntent is link-service's: its own sweep reports the payment
  with PaymentLinkPaid.)
Each charge is read again under lock before it is touched, so a charge that moved on since it
was listed is left alone, and `run_attempt` drops an outcome that is not the current attempt's.
"""

from __future__ import annotations

import logging

from charge_service.domain.model import Charge, ChargeStatus
from charge_service.usecases import charging, link_payments
from charge_service.usecases.deps import Deps
from charge_service.usecases.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


async def sweep_once(deps: Deps, uow: UnitOfWork, *, idle_seconds: float, limit: int = 100) -> int:
    """Look at up to `limit` charges idle for `idle_seconds`; return how many were looked at."""
    async with uow:
        charges = await uow.charges.to_reconcile(idle_seconds=idle_seconds, limit=limit)
    for charge in charges:
        try:
            await _reconcile(deps, uow, charge)
        except Exception:
            log.exception(
                "reconciling charge %s failed; it is tried again next sweep", charge.charge_id
            )
    return len(charges)


async def _reconcile(deps: Deps, uow: UnitOfWork, listed: Charge) -> None:
    async with uow:
        charge = await uow.charges.get(listed.charge_id, for_update=True)
        if charge is None or (charge.status, charge.attempts) != (listed.status, listed.attempts):
            return  # it moved on since the sweep listed it
        await uow.charges.touch(charge.charge_id)
        await uow.commit()
    if charge.status is ChargeStatus.PROCESSING:
        log.info("resuming charge %s left processing", charge.charge_id)
        await charging.run_attempt(deps, uow, charge)
    elif charge.stripe_payment_intent_id:
        await link_payments.complete(
            deps, uow, charge.charge_id, charge.stripe_payment_intent_id, source="reconciliation"
        )
