"""Charging: accept charge requests, run attempts against Stripe, record the outcome.

An attempt runs in three steps so that a crash anywhere loses nothing and pays nothing twice:
1. begin (one transaction): record the charge if new, check the connection and the card, and
   move it to `processing` — or fail it at once with the reason. A payment-link charge only
   waits for the customer (`awaiting_customer`).
2. Stripe: create the charge's single PaymentIntent (idempotency key `charge:<charge_id>`; its
   id is stored before anything is confirmed), then confirm it: off-session for a card on
   file, on-session for a new card. A resumed attempt retrieves the PaymentIntent first and
   only confirms it if it is not paid yet.
3. finish (one transaction): record the outcome and write PaymentSucceeded or PaymentFailed to
   the outbox.
A `processing` charge left behind by a crash is resumed by the redelivered event or by the
reconciliation sweep (reconcile.py).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace

from bookpay_shared import inbox, outbox, projections
from bookpay_shared.consuming import TransientError
from bookpay_shared.db import Connection, Pool
from bookpay_shared.events import ChargeMethod, ChargeRequested, FailureReason, utcnow

from charge_service import cards
from charge_service import repository as repo
from charge_service.deps import Deps, stripe_call
from charge_service.domain import (
    NOT_CONNECTED,
    Charge,
    ChargeStatus,
    Failure,
    authentication_failure,
    check_transition,
    choose_card,
    no_card_failure,
)
from charge_service.stripe_types import IntentResult, StripeRequestRejected

log = logging.getLogger(__name__)

CHARGE_CONSUMER = "charge-service.charge-requested"
Outcome = IntentResult | Failure


class ChargeConflict(Exception):
    """The charge_id is already used by a different charge."""


class InvalidCharge(ValueError):
    """The charge does not match our records (bookings, customer, currency, amount)."""


class CannotRetry(Exception):
    """The charge cannot take another card."""


class UnknownCharge(LookupError):
    pass


# --- accepting a charge over HTTP ------------------------------------------------------------


async def request_charge(pool: Pool, charge: Charge) -> tuple[Charge, bool]:
    """Record a charge and publish ChargeRequested; a repeat of the same charge is a no-op.

    Returns the charge as recorded and whether it was new."""
    async with pool.acquire() as conn, conn.transaction():
        existing = await repo.get_charge(conn, charge.charge_id)
        if existing is not None:
            if not existing.same_request(charge):
                raise ChargeConflict(f"charge {charge.charge_id} exists with different details")
            return existing, False
        await _check_against_records(conn, charge)
        if not await repo.insert_charge(conn, charge):
            raise ChargeConflict(
                f"charge {charge.charge_id} was just requested concurrently; retry"
            )
        await repo.add_history(
            conn, charge.charge_id, charge.status, "charge requested", by=charge.requested_by
        )
        await outbox.enqueue(conn, charge.request_event())
    return charge, True


async def _check_against_records(conn: Connection, charge: Charge) -> None:
    if await projections.get_customer(conn, charge.account_id, charge.customer_id) is None:
        raise cards.UnknownCustomer(
            f"customer {charge.customer_id} not found in account {charge.account_id}"
        )
    bookings = await projections.get_bookings(conn, charge.account_id, list(charge.booking_ids))
    found = {b.booking_id for b in bookings}
    missing = [str(b) for b in charge.booking_ids if b not in found]
    if missing:
        raise InvalidCharge(f"unknown booking(s) for this account: {', '.join(missing)}")
    if any(b.customer_id != charge.customer_id for b in bookings):
        raise InvalidCharge("every booking must belong to the charged customer")
    if any(b.currency != charge.currency for b in bookings):
        raise InvalidCharge("the charge's currency must be the bookings' currency")
    balance = sum(b.balance_due for b in bookings)
    if charge.amount > balance:
        raise InvalidCharge(
            f"amount {charge.amount} exceeds the bookings' balance due ({balance} {charge.currency})"
        )


# --- processing ChargeRequested -------------------------------------------------------------


async def process_charge_requested(deps: Deps, event: ChargeRequested) -> None:
    charge = await _begin(deps.pool, event)
    if charge is not None:
        await run_attempt(deps, charge, event.event_id)


async def run_attempt(deps: Deps, charge: Charge, event_id: uuid.UUID | None = None) -> None:
    """Steps 2 and 3 for a `processing` charge (new, or resumed after a crash)."""
    outcome = await _pay(deps, charge)
    deps.faults.crash_point("charge.after_stripe_confirm")
    await _finish(deps.pool, charge.charge_id, outcome, event_id)
    deps.faults.crash_point("charge.after_outcome_committed")


async def _begin(pool: Pool, event: ChargeRequested) -> Charge | None:
    async with pool.acquire() as conn, conn.transaction():
        if await repo.insert_charge(conn, Charge.from_request(event)):
            await repo.add_history(
                conn,
                event.charge_id,
                ChargeStatus.REQUESTED,
                "charge requested",
                by=event.requested_by,
            )
        charge = await repo.get_charge(conn, event.charge_id, for_update=True)
        assert charge is not None
        if charge.status is ChargeStatus.PROCESSING:
            return charge  # an attempt interrupted by a crash: resume it
        if charge.status is not ChargeStatus.REQUESTED:
            await inbox.claim(conn, CHARGE_CONSUMER, event.event_id)
            log.info(
                "charge %s is %s; event %s changes nothing",
                charge.charge_id,
                charge.status,
                event.event_id,
            )
            return None
        if charge.method is ChargeMethod.PAYMENT_LINK:
            await _await_customer(
                conn, charge, "waiting for the customer to pay through a payment link"
            )
            await inbox.claim(conn, CHARGE_CONSUMER, event.event_id)
            return None
        started = await _start_attempt(conn, charge)
        if started is None:
            await inbox.claim(conn, CHARGE_CONSUMER, event.event_id)
        return started


async def _await_customer(conn: Connection, charge: Charge, note: str) -> Charge:
    check_transition(charge.status, ChargeStatus.AWAITING_CUSTOMER)
    waiting = replace(
        charge, status=ChargeStatus.AWAITING_CUSTOMER, method=ChargeMethod.PAYMENT_LINK
    )
    await repo.save_charge(conn, waiting)
    await repo.add_history(conn, charge.charge_id, waiting.status, note)
    return waiting


async def _start_attempt(conn: Connection, charge: Charge) -> Charge | None:
    """Move the charge to `processing` for its next attempt, or fail it now with the reason."""
    stripe_account = await repo.get_connection(conn, charge.account_id)
    if stripe_account is None:
        await _fail(conn, charge, NOT_CONNECTED)
        return None
    payment_method_id = charge.payment_method_id
    if charge.method is ChargeMethod.CARD_ON_FILE:
        card = choose_card(
            await repo.list_cards(conn, charge.customer_id, stripe_account), payment_method_id
        )
        if (
            card is None
            or await repo.get_stripe_customer(conn, charge.customer_id, stripe_account) is None
        ):
            await _fail(conn, charge, no_card_failure(payment_method_id))
            return None
        payment_method_id = card.payment_method_id
        note = f"charging the saved {card.brand} ending {card.last4} off-session"
    else:
        note = "charging a new card on-session" + (" and saving it" if charge.save_card else "")
    check_transition(charge.status, ChargeStatus.PROCESSING)
    started = replace(
        charge,
        status=ChargeStatus.PROCESSING,
        attempts=charge.attempts + 1,
        stripe_account_id=stripe_account,
        payment_method_id=payment_method_id,
        failure=None,
    )
    await repo.save_charge(conn, started)
    await repo.add_history(
        conn,
        charge.charge_id,
        started.status,
        note,
        attempt=started.attempts,
        payment_method_id=payment_method_id,
    )
    return started


async def _fail(conn: Connection, charge: Charge, failure: Failure) -> None:
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


async def _pay(deps: Deps, charge: Charge) -> Outcome:
    try:
        intent_id = await _payment_intent(deps, charge)
        if isinstance(intent_id, IntentResult):
            return intent_id  # paid before: nothing to confirm
        return await _confirm(deps, charge, intent_id)
    except StripeRequestRejected as exc:
        return Failure(FailureReason.INVALID_REQUEST, f"Stripe refused the request: {exc}")


async def _payment_intent(deps: Deps, charge: Charge) -> str | IntentResult:
    """The charge's PaymentIntent id, created once; or the PaymentIntent itself when it is
    already paid (a resumed attempt)."""
    stripe_account = charge.stripe_account_id
    assert stripe_account is not None
    existing = charge.stripe_payment_intent_id
    if existing is not None:
        current = await stripe_call(
            deps,
            lambda: deps.stripe.retrieve_payment_intent(
                stripe_account=stripe_account, payment_intent_id=existing
            ),
        )
        return (
            current
            if current.status in ("succeeded", "processing", "requires_capture")
            else existing
        )
    stripe_customer = await _stripe_customer(deps, charge, stripe_account)
    created = await stripe_call(
        deps,
        lambda: deps.stripe.create_payment_intent(
            stripe_account=stripe_account,
            amount=charge.amount,
            currency=charge.currency,
            customer_id=stripe_customer,
            metadata=payment_metadata(charge),
            idempotency_key=charge.idempotency_key,
            description=f"bookpay charge {charge.charge_id}",
        ),
    )
    async with deps.pool.acquire() as conn:
        return await repo.set_payment_intent(conn, charge.charge_id, created.payment_intent_id)


async def _stripe_customer(deps: Deps, charge: Charge, stripe_account: str) -> str:
    async with deps.pool.acquire() as conn:
        customer = await projections.get_customer(conn, charge.account_id, charge.customer_id)
    if customer is None:
        raise TransientError(f"customer {charge.customer_id} is not known here yet")
    return await cards.ensure_stripe_customer(deps, customer, stripe_account)


async def _confirm(deps: Deps, charge: Charge, intent_id: str) -> IntentResult:
    stripe_account = charge.stripe_account_id
    payment_method_id = charge.payment_method_id
    assert stripe_account is not None and payment_method_id is not None
    if charge.method is ChargeMethod.CARD_ON_FILE:
        return await stripe_call(
            deps,
            lambda: deps.stripe.confirm_off_session(
                stripe_account=stripe_account,
                payment_intent_id=intent_id,
                payment_method_id=payment_method_id,
                idempotency_key=charge.confirm_idempotency_key,
            ),
        )
    return await stripe_call(
        deps,
        lambda: deps.stripe.confirm_on_session(
            stripe_account=stripe_account,
            payment_intent_id=intent_id,
            payment_method_id=payment_method_id,
            save_card=charge.save_card,
            idempotency_key=charge.confirm_idempotency_key,
        ),
    )


def payment_metadata(charge: Charge) -> dict[str, str]:
    return {
        "charge_id": str(charge.charge_id),
        "account_id": str(charge.account_id),
        "customer_id": str(charge.customer_id),
        "booking_ids": ",".join(str(b) for b in charge.booking_ids),
        "method": charge.method.value,
    }


async def _finish(
    pool: Pool, charge_id: uuid.UUID, outcome: Outcome, event_id: uuid.UUID | None
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        charge = await repo.get_charge(conn, charge_id, for_update=True)
        assert charge is not None
        if charge.status is not ChargeStatus.PROCESSING:
            return
        if isinstance(outcome, IntentResult):
            charge = replace(charge, stripe_payment_intent_id=outcome.payment_intent_id)
        await _record_outcome(conn, charge, outcome)
        if event_id is not None:
            await inbox.claim(conn, CHARGE_CONSUMER, event_id)


async def _record_outcome(conn: Connection, charge: Charge, outcome: Outcome) -> None:
    if isinstance(outcome, IntentResult) and outcome.succeeded:
        await succeed(conn, charge, outcome)
        return
    failure = outcome if isinstance(outcome, Failure) else _failure_of(outcome, charge)
    if failure is None:
        status = outcome.status if isinstance(outcome, IntentResult) else "unknown"
        await repo.save_charge(conn, charge)
        await repo.add_history(
            conn, charge.charge_id, charge.status, f"waiting for Stripe (PaymentIntent {status})"
        )
        return
    if failure.reason is FailureReason.AUTHENTICATION_REQUIRED and _continues_as_link(charge):
        waiting = await _await_customer(
            conn,
            replace(charge, failure=failure),
            "the bank asks the customer to authenticate: continuing as a payment link",
        )
        await outbox.enqueue(conn, waiting.failed_event())
        return
    await _fail(conn, charge, failure)


def _continues_as_link(charge: Charge) -> bool:
    return (
        charge.method is ChargeMethod.CARD_ON_FILE
        and charge.fallback_to_link
        and bool(charge.stripe_payment_intent_id)
    )


def _failure_of(result: IntentResult, charge: Charge) -> Failure | None:
    if result.status == "requires_action":
        return authentication_failure(on_session=charge.method is ChargeMethod.NEW_CARD)
    if result.failure is None:
        return None
    f = result.failure
    return Failure(FailureReason(f.reason), f.message, f.decline_code, f.retryable)


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


# --- another card for a failed new-card charge ----------------------------------------------


async def try_another_card(
    deps: Deps,
    account_id: uuid.UUID,
    charge_id: uuid.UUID,
    *,
    payment_method_id: str,
    save_card: bool,
    save_card_consent: str | None,
) -> Charge:
    """Attempt a failed new-card charge again with another card (same charge, same
    PaymentIntent). Runs the attempt now and returns the charge as it then stands."""
    async with deps.pool.acquire() as conn, conn.transaction():
        charge = await repo.get_charge(conn, charge_id, for_update=True)
        if charge is None or charge.account_id != account_id:
            raise UnknownCharge(f"charge {charge_id} not found in account {account_id}")
        if (
            charge.status is ChargeStatus.PROCESSING
            and charge.payment_method_id == payment_method_id
        ):
            started: Charge | None = charge  # the same submission again: finish it
        elif not charge.can_try_another_card():
            raise CannotRetry(
                f"charge {charge_id} is {charge.status}; only a failed new-card charge takes another card"
            )
        else:
            again = replace(
                charge,
                payment_method_id=payment_method_id,
                save_card=save_card,
                save_card_consent=save_card_consent,
            )
            started = await _start_attempt(conn, again)
    if started is not None:
        await run_attempt(deps, started)
    async with deps.pool.acquire() as conn:
        current = await repo.get_charge(conn, charge_id)
    assert current is not None
    return current
