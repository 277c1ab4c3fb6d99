"""Recording what happened to a charge: each change of state, with its history line and the
event it publishes (through the outbox), in the caller's unit of work: kept together or not
at all."""

from __future__ import annotations

from dataclasses import replace

from bookpay_shared.events import ChargeMethod, FailureReason, utcnow

from charge_service.domain.model import (
    Charge,
    ChargeStatus,
    Failure,
    authentication_failure,
    check_transition,
)
from charge_service.usecases import cards
from charge_service.usecases.stripe_types import IntentResult
from charge_service.usecases.unit_of_work import UnitOfWork

Outcome = IntentResult | Failure


async def record(uow: UnitOfWork, charge: Charge, outcome: Outcome) -> None:
    """Record an attempt's outcome: paid, failed, continued as a payment link, or still open."""
    if isinstance(outcome, IntentResult) and outcome.succeeded:
        await succeed(uow, charge, outcome)
        return
    failure = outcome if isinstance(outcome, Failure) else failure_of(outcome, charge)
    if failure is None:
        status = outcome.status if isinstance(outcome, IntentResult) else "unknown"
        await uow.charges.save(charge)
        await uow.charges.add_history(
            charge.charge_id, charge.status, f"waiting for Stripe (PaymentIntent {status})"
        )
        return
    if failure.reason is FailureReason.AUTHENTICATION_REQUIRED and continues_as_link(charge):
        waiting = await await_customer(
            uow,
            replace(charge, failure=failure),
            "the bank asks the customer to authenticate: continuing as a payment link",
        )
        await uow.outbox.enqueue(waiting.failed_event())
        return
    await fail(uow, charge, failure)


def continues_as_link(charge: Charge) -> bool:
    return (
        charge.method is ChargeMethod.CARD_ON_FILE
        and charge.fallback_to_link
        and bool(charge.stripe_payment_intent_id)
    )


def failure_of(result: IntentResult, charge: Charge) -> Failure | None:
    if result.status == "requires_action":
        return authentication_failure(on_session=charge.method is ChargeMethod.NEW_CARD)
    return result.failure


async def await_customer(uow: UnitOfWork, charge: Charge, note: str) -> Charge:
    check_transition(charge.status, ChargeStatus.AWAITING_CUSTOMER)
    waiting = replace(
        charge, status=ChargeStatus.AWAITING_CUSTOMER, method=ChargeMethod.PAYMENT_LINK
    )
    await uow.charges.save(waiting)
    await uow.charges.add_history(charge.charge_id, waiting.status, note)
    return waiting


async def fail(uow: UnitOfWork, charge: Charge, failure: Failure) -> None:
    check_transition(charge.status, ChargeStatus.FAILED)
    failed = replace(charge, status=ChargeStatus.FAILED, failure=failure)
    await uow.charges.save(failed)
    await uow.charges.add_history(
        charge.charge_id,
        failed.status,
        failure.message,
        reason=failure.reason.value,
        decline_code=failure.decline_code,
        attempt=charge.attempts,
    )
    await uow.outbox.enqueue(failed.failed_event())


async def succeed(
    uow: UnitOfWork, charge: Charge, result: IntentResult, *, consent_by: str | None = None
) -> Charge:
    """Record a paid charge (once) and write PaymentSucceeded to the outbox. When the card is
    to be kept (new card or payment page with the customer's consent) it is recorded on the
    profile with the consent."""
    check_transition(charge.status, ChargeStatus.SUCCEEDED)
    card = result.card
    saved = None
    if charge.save_card and card is not None and charge.stripe_account_id:
        saved = await cards.record_card(
            uow,
            charge.account_id,
            charge.customer_id,
            charge.stripe_account_id,
            card,
            make_default=False,
        )
        await cards.record_consent(
            uow,
            saved,
            charge_id=charge.charge_id,
            text=charge.save_card_consent or "",
            given_by=consent_by or charge.requested_by,
            given_at=utcnow(),
        )
    paid = replace(
        charge,
        status=ChargeStatus.SUCCEEDED,
        stripe_payment_intent_id=result.payment_intent_id,
        card_brand=card.brand if card else charge.card_brand,
        card_last4=card.last4 if card else charge.card_last4,
        failure=None,
        paid_at=utcnow(),
        saved_payment_method_id=saved.payment_method_id if saved else None,
    )
    await uow.charges.save(paid)
    note = "paid" + (f"; card {saved.payment_method_id} saved to the profile" if saved else "")
    await uow.charges.add_history(
        charge.charge_id, paid.status, note, payment_intent_id=result.payment_intent_id
    )
    await uow.outbox.enqueue(paid.succeeded_event())
    return paid
