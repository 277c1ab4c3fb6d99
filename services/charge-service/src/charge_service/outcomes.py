"""Recording what happened to a charge: each change of state in one transaction with its
history line and the event it publishes (through the outbox)."""

from __future__ import annotations

from dataclasses import replace

from bookpay_shared import outbox
from bookpay_shared.db import Connection
from bookpay_shared.events import ChargeMethod, FailureReason, utcnow

from charge_service import cards
from charge_service import repository as repo
from charge_service.domain import (
    Charge,
    ChargeStatus,
    Failure,
    authentication_failure,
    check_transition,
)
from charge_service.stripe_types import IntentResult

Outcome = IntentResult | Failure


async def record(conn: Connection, charge: Charge, outcome: Outcome) -> None:
    """Record an attempt's outcome: paid, failed, continued as a payment link, or still open."""
    if isinstance(outcome, IntentResult) and outcome.succeeded:
        await succeed(conn, charge, outcome)
        return
    failure = outcome if isinstance(outcome, Failure) else failure_of(outcome, charge)
    if failure is None:
        status = outcome.status if isinstance(outcome, IntentResult) else "unknown"
        await repo.save_charge(conn, charge)
        await repo.add_history(
            conn, charge.charge_id, charge.status, f"waiting for Stripe (PaymentIntent {status})"
        )
        return
    if failure.reason is FailureReason.AUTHENTICATION_REQUIRED and continues_as_link(charge):
        waiting = await await_customer(
            conn,
            replace(charge, failure=failure),
            "the bank asks the customer to authenticate: continuing as a payment link",
        )
        await outbox.enqueue(conn, waiting.failed_event())
        return
    await fail(conn, charge, failure)


def continues_as_link(charge: Charge) -> bool:
    return (
        charge.method is ChargeMethod.CARD_ON_FILE
        and charge.fallback_to_link
        and bool(charge.stripe_payment_intent_id)
    )


def failure_of(result: IntentResult, charge: Charge) -> Failure | None:
    if result.status == "requires_action":
        return authentication_failure(on_session=charge.method is ChargeMethod.NEW_CARD)
    if result.failure is None:
        return None
    f = result.failure
    return Failure(FailureReason(f.reason), f.message, f.decline_code, f.retryable)


async def await_customer(conn: Connection, charge: Charge, note: str) -> Charge:
    check_transition(charge.status, ChargeStatus.AWAITING_CUSTOMER)
    waiting = replace(
        charge, status=ChargeStatus.AWAITING_CUSTOMER, method=ChargeMethod.PAYMENT_LINK
    )
    await repo.save_charge(conn, waiting)
    await repo.add_history(conn, charge.charge_id, waiting.status, note)
    return waiting


async def fail(conn: Connection, charge: Charge, failure: Failure) -> None:
    check_transition(charge.status, ChargeStatus.FAILED)
    failed = replace(charge, status=ChargeStatus.FAILED, failure=failure)
    await repo.save_charge(conn, failed)
    await repo.add_history(
        conn,
        charge.charge_id,
        failed.status,
        failure.message,
        reason=failure.reason.value,
        decline_code=failure.decline_code,
        attempt=charge.attempts,
    )
    await outbox.enqueue(conn, failed.failed_event())


async def succeed(
    conn: Connection, charge: Charge, result: IntentResult, *, consent_by: str | None = None
) -> Charge:
    """Record a paid charge (once) and write PaymentSucceeded to the outbox. When the card is
    to be kept (new card or payment page with the customer's consent) it is recorded on the
    profile with the consent."""
    check_transition(charge.status, ChargeStatus.SUCCEEDED)
    card = result.card
    saved = None
    if charge.save_card and card is not None and charge.stripe_account_id:
        saved = await cards.record_card(
            conn,
            charge.account_id,
            charge.customer_id,
            charge.stripe_account_id,
            card,
            make_default=False,
        )
        await cards.record_consent(
            conn,
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
    await repo.save_charge(conn, paid)
    note = "paid" + (f"; card {saved.payment_method_id} saved to the profile" if saved else "")
    await repo.add_history(
        conn, charge.charge_id, paid.status, note, payment_intent_id=result.payment_intent_id
    )
    await outbox.enqueue(conn, paid.succeeded_event())
    return paid
