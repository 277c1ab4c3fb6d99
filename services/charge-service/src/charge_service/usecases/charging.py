"""Charging a card: an attempt runs in three steps so that a crash anywhere loses nothing and
pays nothing twice.

1. begin (one transaction): record the charge if new (checked against our records), check the
   connection and the card, and move it to `processing` — or fail it at once with the reason.
   A payment-link charge only waits for the customer (`awaiting_customer`).
2. Stripe. A card on file: ONE request creates the PaymentIntent and confirms it off-session
   (idempotency key `charge:<charge_id>`); its id is recorded with the outcome in step 3. A
   resumed attempt with no PaymentIntent recorded first looks for one already made for the
   charge and adopts it, else re-sends the same request with the same key. A new card: create
   the charge's single PaymentIntent (key `charge:<charge_id>`, its id stored before anything
   is confirmed), then confirm it on-session. A resumed attempt with a PaymentIntent recorded
   retrieves it first and only confirms it if it is not paid yet.
3. finish (one transaction): record the outcome of *this* attempt (a stale outcome of an
   earlier attempt is dropped) and write PaymentSucceeded or PaymentFailed to the outbox.
A `processing` charge left behind by a crash is resumed by the redelivered event or by the
reconciliation sweep (reconcile.py).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from bookpay_shared.consuming import TransientError
from bookpay_shared.events import ChargeMethod, ChargeRequested, FailureReason, utcnow

from charge_service.domain.model import (
    NOT_CONNECTED,
    Charge,
    ChargeStatus,
    Failure,
    check_transition,
    choose_card,
    no_card_failure,
)
from charge_service.usecases import cards, outcomes
from charge_service.usecases.accepting import (
    InvalidCharge,
    UnknownBookings,
    check_against_records,
    lock_bookings,
)
from charge_service.usecases.deps import Deps, stripe_call
from charge_service.usecases.outcomes import Outcome
from charge_service.usecases.stripe_types import IntentResult, StripeRequestRejected
from charge_service.usecases.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

CHARGE_CONSUMER = "charge-service.charge-requested"


class CannotRetry(Exception):
    """The charge cannot take another card."""


class TooManyAttempts(Exception):
    """The charge has made as many attempts as one charge may (a guard against card testing)."""


class UnknownCharge(LookupError):
    pass


# How far before the charge was recorded a PaymentIntent made for it is looked for (our clock
# and Stripe's may differ a little).
CLOCK_SKEW = timedelta(minutes=5)


async def process_charge_requested(deps: Deps, uow: UnitOfWork, event: ChargeRequested) -> None:
    async with uow:
        begun = await _begin(deps, uow, event)
        await uow.commit()
    if begun is not None:
        charge, resumed = begun
        await run_attempt(deps, uow, charge, event.event_id, resumed=resumed)


async def run_attempt(
    deps: Deps,
    uow: UnitOfWork,
    charge: Charge,
    event_id: uuid.UUID | None = None,
    *,
    resumed: bool = True,
) -> None:
    """Steps 2 and 3 for a `processing` charge: an attempt just started (`resumed=False`), or
    one that may have reached Stripe already (a crash, a redelivery, the sweep, a webhook)."""
    outcome = await _pay(deps, uow, charge, resumed=resumed)
    deps.faults.crash_point("charge.after_stripe_confirm")
    await _finish(uow, charge, outcome, event_id)
    deps.faults.crash_point("charge.after_outcome_committed")


async def _begin(deps: Deps, uow: UnitOfWork, event: ChargeRequested) -> tuple[Charge, bool] | None:
    """The charge to attempt and whether the attempt is resumed; None when there is none.
    Runs in the caller's transaction, committed whatever it returns."""
    requested = Charge.from_request(event)
    # The bookings' locks first, as the HTTP API takes them: charges for the same bookings
    # are checked one at a time, and no lock order (bookings, then the charge) is reversed.
    await lock_bookings(uow, requested)
    new = await uow.charges.add(requested)
    charge = await uow.charges.get(event.charge_id, for_update=True)
    assert charge is not None
    if new:
        await uow.charges.add_history(
            charge.charge_id, charge.status, "charge requested", by=event.requested_by
        )
        if not await _fits_our_records(uow, charge, event, deps.projection_wait):
            await uow.inbox.claim(CHARGE_CONSUMER, event.event_id)
            return None
    if charge.status is ChargeStatus.PROCESSING:
        return charge, True  # an attempt interrupted by a crash: resume it
    if charge.status is not ChargeStatus.REQUESTED:
        await uow.inbox.claim(CHARGE_CONSUMER, event.event_id)
        log.info(
            "charge %s is %s; event %s changes nothing",
            charge.charge_id,
            charge.status,
            event.event_id,
        )
        return None
    started = await _start(uow, charge, event.link_expires_in_hours)
    if started is None:
        await uow.inbox.claim(CHARGE_CONSUMER, event.event_id)
        return None
    return started, False


async def _fits_our_records(
    uow: UnitOfWork, charge: Charge, event: ChargeRequested, wait: timedelta
) -> bool:
    """Check a charge requested over Kafka as the HTTP API checks its own: fail it when it does
    not fit our records. A customer or booking not known yet may be an event still on its way
    from booking-service: retried for `wait` after the request, then failed."""
    try:
        await check_against_records(uow, charge)
    except (cards.UnknownCustomer, InvalidCharge) as exc:
        unknown = isinstance(exc, cards.UnknownCustomer | UnknownBookings)
        if unknown and utcnow() - event.occurred_at < wait:
            raise TransientError(
                f"charge {charge.charge_id}: {exc}; waiting for booking-service's events"
            ) from exc
        await outcomes.fail(uow, charge, Failure(FailureReason.INVALID_REQUEST, str(exc)))
        return False
    return True


async def _start(
    uow: UnitOfWork, charge: Charge, link_expires_in_hours: int | None
) -> Charge | None:
    """Move a requested charge on: to the customer (payment link) or to its first attempt.
    An accepted payment-link charge is announced (ChargeAccepted, in the same transaction):
    link-service makes links only for charges accepted here, never from a raw request."""
    if charge.method is not ChargeMethod.PAYMENT_LINK:
        return await _start_attempt(uow, charge)
    stripe_account = await uow.connections.current(charge.account_id)
    if stripe_account is None:
        await outcomes.fail(uow, charge, NOT_CONNECTED)
    else:  # the PaymentIntent will be on this account, whatever the connection becomes
        waiting = await outcomes.await_customer(
            uow,
            replace(charge, stripe_account_id=stripe_account),
            "waiting for the customer to pay through a payment link",
        )
        accepted = replace(waiting, link_expires_in_hours=link_expires_in_hours)
        await uow.outbox.enqueue(accepted.accepted_event())
    return None


async def _start_attempt(uow: UnitOfWork, charge: Charge) -> Charge | None:
    """Move the charge to `processing` for its next attempt, or fail it now with the reason.
    The first attempt pins the charge to the account's Stripe account; a later one (another
    card) stays on it, whatever the account is connected to now: its PaymentIntent is there."""
    stripe_account = charge.stripe_account_id or await uow.connections.current(charge.account_id)
    if stripe_account is None:
        await outcomes.fail(uow, charge, NOT_CONNECTED)
        return None
    payment_method_id = charge.payment_method_id
    if charge.method is ChargeMethod.CARD_ON_FILE:
        card = choose_card(
            await uow.cards.list(charge.customer_id, stripe_account), payment_method_id
        )
        if (
            card is None
            or await uow.cards.stripe_customer(charge.customer_id, stripe_account) is None
        ):
            await outcomes.fail(uow, charge, no_card_failure(payment_method_id))
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
    await uow.charges.save(started)
    await uow.charges.add_history(
        charge.charge_id,
        started.status,
        note,
        attempt=started.attempts,
        payment_method_id=payment_method_id,
    )
    return started


async def _pay(deps: Deps, uow: UnitOfWork, charge: Charge, *, resumed: bool) -> Outcome:
    try:
        paid = await _paid_before(deps, charge)
        if paid is not None:
            return paid
        if charge.method is ChargeMethod.CARD_ON_FILE and charge.stripe_payment_intent_id is None:
            stripe_account = charge.stripe_account_id
            assert stripe_account is not None
            stripe_customer = await _stripe_customer(deps, uow, charge, stripe_account)
            return await pay_card_on_file(deps, charge, stripe_customer, resumed=resumed)
        intent_id = charge.stripe_payment_intent_id or await _create_payment_intent(
            deps, uow, charge
        )
        return await _confirm(deps, charge, intent_id)
    except StripeRequestRejected as exc:
        return Failure(FailureReason.INVALID_REQUEST, f"Stripe refused the request: {exc}")


async def _paid_before(deps: Deps, charge: Charge) -> IntentResult | None:
    """The charge's PaymentIntent when it is already paid (or paying): a resumed attempt."""
    stripe_account, existing = charge.stripe_account_id, charge.stripe_payment_intent_id
    if existing is None:
        return None
    assert stripe_account is not None
    current = await stripe_call(
        deps,
        lambda: deps.stripe.retrieve_payment_intent(
            stripe_account=stripe_account, payment_intent_id=existing
        ),
    )
    return current if current.status in ("succeeded", "processing", "requires_capture") else None


async def pay_card_on_file(
    deps: Deps, charge: Charge, stripe_customer: str, *, resumed: bool
) -> IntentResult:
    """The Stripe side of a card-on-file attempt with no PaymentIntent recorded (it touches no
    database): one request that creates and confirms the PaymentIntent off-session.

    An attempt that may have reached Stripe before (`resumed`), or a later attempt, first looks
    for a PaymentIntent already made for this charge and adopts it: its state is the answer
    Stripe gave (paid, declined, wanting authentication), so nothing is sent again. This does
    not depend on the idempotency key, which Stripe keeps for 24 hours only. Otherwise the
    same request is sent with the same key, so a request whose answer was lost (or is still
    on its way) is replayed by Stripe, not made twice."""
    stripe_account, payment_method_id = charge.stripe_account_id, charge.payment_method_id
    assert stripe_account is not None and payment_method_id is not None
    if resumed or charge.attempts > 1:
        found = await stripe_call(
            deps,
            lambda: deps.stripe.find_payment_intent(
                stripe_account=stripe_account,
                customer_id=stripe_customer,
                created_since=_unix(charge.requested_at - CLOCK_SKEW)
                if charge.requested_at
                else None,
                metadata={"charge_id": str(charge.charge_id)},
            ),
        )
        if found is not None:
            log.info(
                "charge %s: adopting PaymentIntent %s (%s) made by an earlier try",
                charge.charge_id,
                found.payment_intent_id,
                found.status,
            )
            if found.status != "requires_confirmation" and (
                found.status != "requires_payment_method" or found.failure is not None
            ):
                return found
            # Created but never confirmed (an attempt made before payments were one request).
            return await _confirm(deps, charge, found.payment_intent_id)
    return await stripe_call(
        deps,
        lambda: deps.stripe.charge_off_session(
            stripe_account=stripe_account,
            amount=charge.amount,
            currency=charge.currency,
            customer_id=stripe_customer,
            payment_method_id=payment_method_id,
            metadata=payment_metadata(charge),
            idempotency_key=charge.off_session_idempotency_key,
            description=f"bookpay charge {charge.charge_id}",
        ),
    )


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


async def _create_payment_intent(deps: Deps, uow: UnitOfWork, charge: Charge) -> str:
    """Create the charge's one PaymentIntent and record it; return the one recorded."""
    stripe_account = charge.stripe_account_id
    assert stripe_account is not None
    stripe_customer = await _stripe_customer(deps, uow, charge, stripe_account)
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
    async with uow:
        recorded = await uow.charges.set_payment_intent(charge.charge_id, created.payment_intent_id)
        await uow.commit()
    return recorded


async def _stripe_customer(deps: Deps, uow: UnitOfWork, charge: Charge, stripe_account: str) -> str:
    async with uow:
        customer = await uow.records.customer(charge.account_id, charge.customer_id)
    assert customer is not None, "checked when the charge was accepted"
    return await cards.ensure_stripe_customer(deps, uow, customer, stripe_account)


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
    uow: UnitOfWork, attempted: Charge, outcome: Outcome, event_id: uuid.UUID | None
) -> None:
    async with uow:
        charge = await uow.charges.get(attempted.charge_id, for_update=True)
        assert charge is not None
        if charge.status is not ChargeStatus.PROCESSING or charge.attempts != attempted.attempts:
            log.info(
                "charge %s moved on; the outcome of attempt %d is dropped",
                charge.charge_id,
                attempted.attempts,
            )
            return
        if isinstance(outcome, IntentResult):
            charge = replace(charge, stripe_payment_intent_id=outcome.payment_intent_id)
        await outcomes.record(uow, charge, outcome)
        if event_id is not None:
            await uow.inbox.claim(CHARGE_CONSUMER, event_id)
        await uow.commit()


async def try_another_card(
    deps: Deps,
    uow: UnitOfWork,
    account_id: uuid.UUID,
    charge_id: uuid.UUID,
    *,
    payment_method_id: str,
    save_card: bool,
    save_card_consent: str | None,
) -> Charge:
    """Attempt a failed new-card charge again with another card (same charge, same
    PaymentIntent). Runs the attempt now and returns the charge as it then stands."""
    async with uow:
        charge = await uow.charges.get(charge_id)
        if charge is None or charge.account_id != account_id:
            raise UnknownCharge(f"charge {charge_id} not found in account {account_id}")
        await lock_bookings(uow, charge)  # before the charge's row, as when it was accepted
        charge = await uow.charges.get(charge_id, for_update=True)
        assert charge is not None
        if (
            charge.status is ChargeStatus.PROCESSING
            and charge.payment_method_id == payment_method_id
        ):
            started: Charge | None = charge  # the same submission again: finish it
        elif not charge.can_try_another_card():
            raise CannotRetry(
                f"charge {charge_id} is {charge.status}; only a failed new-card charge takes another card"
            )
        elif charge.attempts >= deps.max_attempts_per_charge:
            raise TooManyAttempts(
                f"charge {charge_id} has had {charge.attempts} card attempts, the most one "
                f"charge may have ({deps.max_attempts_per_charge}); start a new charge, or ask "
                "the customer to pay through a payment link"
            )
        else:
            again = replace(
                charge,
                payment_method_id=payment_method_id,
                save_card=save_card,
                save_card_consent=save_card_consent,
            )
            # A failed charge took nothing from the balance: others may have taken it since.
            await check_against_records(uow, again)
            started = await _start_attempt(uow, again)
        await uow.commit()
    if started is not None:
        await run_attempt(deps, uow, started, resumed=started is charge)
    async with uow:
        current = await uow.charges.get(charge_id)
    assert current is not None
    return current
