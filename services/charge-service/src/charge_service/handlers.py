"""charge-service use cases: connect Stripe, save cards, accept and process charges.

Charging a card on file runs in three steps so that a crash anywhere loses nothing and pays
nothing twice:
1. `begin` (one transaction): record the charge if new, check the connection and the card,
   and move it to `processing` — or fail it at once with the reason.
2. Stripe: create the charge's single PaymentIntent (idempotency key `charge:<charge_id>`,
   its id stored before it is confirmed), then confirm it off-session. A charge resumed after a
   crash retrieves its PaymentIntent first and only confirms it if it is not paid yet.
3. `finish` (one transaction): record the outcome and write PaymentSucceeded or PaymentFailed
   to the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from bookpay_shared import inbox, outbox, projections
from bookpay_shared.consuming import TransientError
from bookpay_shared.db import Connection, Pool
from bookpay_shared.events import ChargeMethod, ChargeRequested, FailureReason, utcnow
from bookpay_shared.faults import FaultPoints

from charge_service import repository as repo
from charge_service.domain import (
    NOT_CONNECTED,
    TERMINAL,
    Charge,
    ChargeStatus,
    Failure,
    SavedCard,
    check_transition,
    choose_card,
    no_card_failure,
)
from charge_service.stripe_types import (
    CardDetails,
    IntentResult,
    StripeGateway,
    StripeRequestRejected,
    StripeUnavailable,
)

log = logging.getLogger(__name__)

CHARGE_CONSUMER = "charge-service.charge-requested"
T = TypeVar("T")


@dataclass(frozen=True)
class Deps:
    pool: Pool
    stripe: StripeGateway
    faults: FaultPoints
    stripe_max_attempts: int = 4


class ChargeConflict(Exception):
    """The charge_id is already used by a different charge."""


class NotConnected(Exception):
    """The account has not connected a Stripe account."""


class UnknownCustomer(LookupError):
    pass


class InvalidCharge(ValueError):
    """The charge does not match our records (bookings, customer, currency, amount)."""


# --- Stripe connection and saved cards ----------------------------------------------------


async def connect_stripe(pool: Pool, account_id: uuid.UUID, stripe_account_id: str) -> None:
    async with pool.acquire() as conn:
        await repo.upsert_connection(conn, account_id, stripe_account_id)


async def save_card(
    deps: Deps,
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    payment_method_id: str,
    *,
    make_default: bool,
) -> SavedCard:
    """Attach a Stripe.js-tokenized card to the customer's Stripe customer and record it."""
    async with deps.pool.acquire() as conn:
        stripe_account = await repo.get_connection(conn, account_id)
        customer = await projections.get_customer(conn, account_id, customer_id)
    if stripe_account is None:
        raise NotConnected(NOT_CONNECTED.message)
    if customer is None:
        raise UnknownCustomer(f"customer {customer_id} not found in account {account_id}")
    stripe_customer = await _ensure_stripe_customer(deps, customer, stripe_account)
    details = await _stripe_call(
        deps,
        lambda: deps.stripe.attach_payment_method(
            stripe_account=stripe_account,
            customer_id=stripe_customer,
            payment_method_id=payment_method_id,
        ),
    )
    return await _record_card(deps, account_id, customer_id, stripe_account, details, make_default)


async def _ensure_stripe_customer(
    deps: Deps, customer: projections.KnownCustomer, stripe_account: str
) -> str:
    async with deps.pool.acquire() as conn:
        existing = await repo.get_stripe_customer(conn, customer.customer_id, stripe_account)
    if existing:
        return existing
    created = await _stripe_call(
        deps,
        lambda: deps.stripe.create_customer(
            stripe_account=stripe_account,
            email=customer.email,
            name=customer.name,
            metadata={
                "customer_id": str(customer.customer_id),
                "account_id": str(customer.account_id),
            },
            idempotency_key=f"customer:{customer.customer_id}:{stripe_account}",
        ),
    )
    async with deps.pool.acquire() as conn:
        return await repo.insert_stripe_customer(
            conn, customer.customer_id, stripe_account, created
        )


async def _record_card(
    deps: Deps,
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    stripe_account: str,
    details: CardDetails,
    make_default: bool,
) -> SavedCard:
    card = SavedCard(
        payment_method_id=details.payment_method_id,
        account_id=account_id,
        customer_id=customer_id,
        stripe_account_id=stripe_account,
        brand=details.brand,
        last4=details.last4,
        exp_month=details.exp_month,
        exp_year=details.exp_year,
        fingerprint=details.fingerprint,
        is_default=False,
    )
    async with deps.pool.acquire() as conn, conn.transaction():
        await repo.insert_card(conn, card)
        cards = await repo.list_cards(conn, customer_id, stripe_account)
        if make_default or not any(c.is_default for c in cards):
            await repo.make_default_card(conn, customer_id, stripe_account, card.payment_method_id)
            card = replace(card, is_default=True)
    if card.is_default:
        stripe_customer = await _ensure_stripe_customer_id(deps, customer_id, stripe_account)
        await _stripe_call(
            deps,
            lambda: deps.stripe.set_default_payment_method(
                stripe_account=stripe_account,
                customer_id=stripe_customer,
                payment_method_id=card.payment_method_id,
            ),
        )
    return card


async def _ensure_stripe_customer_id(
    deps: Deps, customer_id: uuid.UUID, stripe_account: str
) -> str:
    async with deps.pool.acquire() as conn:
        found = await repo.get_stripe_customer(conn, customer_id, stripe_account)
    assert found is not None
    return found


async def list_cards(pool: Pool, account_id: uuid.UUID, customer_id: uuid.UUID) -> list[SavedCard]:
    async with pool.acquire() as conn:
        stripe_account = await repo.get_connection(conn, account_id)
        if await projections.get_customer(conn, account_id, customer_id) is None:
            raise UnknownCustomer(f"customer {customer_id} not found in account {account_id}")
        if stripe_account is None:
            return []
        return await repo.list_cards(conn, customer_id, stripe_account)


# --- accepting a charge over HTTP -------------------------------------------------------------


async def request_charge(pool: Pool, charge: Charge) -> tuple[Charge, bool]:
    """Record a charge and publish ChargeRequested; a repeat of the same charge is a no-op.

    Returns the charge as recorded and whether it was new.
    """
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
        raise UnknownCustomer(
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


@dataclass(frozen=True)
class Plan:
    charge: Charge
    stripe_customer_id: str
    card: SavedCard


async def process_charge_requested(deps: Deps, event: ChargeRequested) -> None:
    plan = await _begin(deps.pool, event)
    if plan is None:
        return
    outcome: IntentResult | Failure
    try:
        outcome = await _pay_off_session(deps, plan)
    except StripeRequestRejected as exc:
        outcome = Failure(FailureReason.INVALID_REQUEST, f"Stripe refused the request: {exc}")
    deps.faults.crash_point("charge.after_stripe_confirm")
    await _finish(deps.pool, plan.charge.charge_id, outcome, event.event_id)
    deps.faults.crash_point("charge.after_outcome_committed")


async def _begin(pool: Pool, event: ChargeRequested) -> Plan | None:
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
        if charge.status in TERMINAL:
            await inbox.claim(conn, CHARGE_CONSUMER, event.event_id)
            log.info(
                "charge %s is already %s; event %s ignored",
                charge.charge_id,
                charge.status,
                event.event_id,
            )
            return None
        if charge.method is not ChargeMethod.CARD_ON_FILE:
            log.info(
                "charge %s (%s) is not charged by this consumer", charge.charge_id, charge.method
            )
            return None
        return await _plan_card_on_file(conn, charge, event)


async def _plan_card_on_file(
    conn: Connection, charge: Charge, event: ChargeRequested
) -> Plan | None:
    stripe_account = await repo.get_connection(conn, charge.account_id)
    if stripe_account is None:
        await _fail(conn, charge, NOT_CONNECTED, event)
        return None
    card = choose_card(
        await repo.list_cards(conn, charge.customer_id, stripe_account), charge.payment_method_id
    )
    stripe_customer = await repo.get_stripe_customer(conn, charge.customer_id, stripe_account)
    if card is None or stripe_customer is None:
        await _fail(conn, charge, no_card_failure(charge.payment_method_id), event)
        return None
    if charge.status is ChargeStatus.REQUESTED:
        check_transition(charge.status, ChargeStatus.PROCESSING)
        charge = replace(
            charge,
            status=ChargeStatus.PROCESSING,
            attempts=charge.attempts + 1,
            stripe_account_id=stripe_account,
            payment_method_id=card.payment_method_id,
        )
        await repo.save_charge(conn, charge)
        await repo.add_history(
            conn,
            charge.charge_id,
            charge.status,
            f"charging {card.brand} ending {card.last4} off-session",
            payment_method_id=card.payment_method_id,
        )
    return Plan(charge, stripe_customer, card)


async def _fail(conn: Connection, charge: Charge, failure: Failure, event: ChargeRequested) -> None:
    check_transition(charge.status, ChargeStatus.FAILED)
    failed = replace(charge, status=ChargeStatus.FAILED, failure=failure)
    await repo.save_charge(conn, failed)
    await repo.add_history(
        conn, charge.charge_id, failed.status, failure.message, reason=failure.reason.value
    )
    await outbox.enqueue(conn, failed.failed_event())
    await inbox.claim(conn, CHARGE_CONSUMER, event.event_id)


async def _pay_off_session(deps: Deps, plan: Plan) -> IntentResult:
    charge = plan.charge
    stripe_account = charge.stripe_account_id
    assert stripe_account is not None
    intent_id = charge.stripe_payment_intent_id
    if intent_id is not None:
        existing_id = intent_id
        current = await _stripe_call(
            deps,
            lambda: deps.stripe.retrieve_payment_intent(
                stripe_account=stripe_account, payment_intent_id=existing_id
            ),
        )
        if current.status in ("succeeded", "processing", "requires_capture"):
            return current
    else:
        created = await _stripe_call(
            deps,
            lambda: deps.stripe.create_payment_intent(
                stripe_account=stripe_account,
                amount=charge.amount,
                currency=charge.currency,
                customer_id=plan.stripe_customer_id,
                metadata=_metadata(charge),
                idempotency_key=charge.idempotency_key,
                description=f"bookpay charge {charge.charge_id}",
            ),
        )
        async with deps.pool.acquire() as conn:
            intent_id = await repo.set_payment_intent(
                conn, charge.charge_id, created.payment_intent_id
            )
    confirmed_id = intent_id
    return await _stripe_call(
        deps,
        lambda: deps.stripe.confirm_off_session(
            stripe_account=stripe_account,
            payment_intent_id=confirmed_id,
            payment_method_id=plan.card.payment_method_id,
            idempotency_key=charge.confirm_idempotency_key,
        ),
    )


def _metadata(charge: Charge) -> dict[str, str]:
    return {
        "charge_id": str(charge.charge_id),
        "account_id": str(charge.account_id),
        "customer_id": str(charge.customer_id),
        "booking_ids": ",".join(str(b) for b in charge.booking_ids),
        "method": charge.method.value,
    }


def _failure_of(result: IntentResult) -> Failure | None:
    if result.failure is None:
        return None
    return Failure(
        FailureReason(result.failure.reason),
        result.failure.message,
        result.failure.decline_code,
        result.failure.retryable,
    )


async def _finish(
    pool: Pool, charge_id: uuid.UUID, outcome: IntentResult | Failure, event_id: uuid.UUID
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        charge = await repo.get_charge(conn, charge_id, for_update=True)
        assert charge is not None
        if charge.status is not ChargeStatus.PROCESSING:
            return
        if isinstance(outcome, IntentResult):
            charge = replace(charge, stripe_payment_intent_id=outcome.payment_intent_id)
        failure = outcome if isinstance(outcome, Failure) else _failure_of(outcome)
        if isinstance(outcome, IntentResult) and outcome.status == "succeeded":
            await _succeed(conn, charge, outcome)
        elif failure is not None:
            check_transition(charge.status, ChargeStatus.FAILED)
            failed = replace(charge, status=ChargeStatus.FAILED, failure=failure)
            await repo.save_charge(conn, failed)
            await repo.add_history(
                conn,
                charge_id,
                failed.status,
                failure.message,
                reason=failure.reason.value,
                decline_code=failure.decline_code,
            )
            await outbox.enqueue(conn, failed.failed_event())
        else:
            status = outcome.status if isinstance(outcome, IntentResult) else "unknown"
            await repo.add_history(
                conn, charge_id, charge.status, f"waiting for Stripe (PaymentIntent {status})"
            )
        await inbox.claim(conn, CHARGE_CONSUMER, event_id)


async def _succeed(conn: Connection, charge: Charge, result: IntentResult) -> None:
    check_transition(charge.status, ChargeStatus.SUCCEEDED)
    card = result.card
    paid = replace(
        charge,
        status=ChargeStatus.SUCCEEDED,
        card_brand=card.brand if card else charge.card_brand,
        card_last4=card.last4 if card else charge.card_last4,
        paid_at=utcnow(),
    )
    await repo.save_charge(conn, paid)
    await repo.add_history(
        conn, charge.charge_id, paid.status, "paid", payment_intent_id=result.payment_intent_id
    )
    await outbox.enqueue(conn, paid.succeeded_event())


async def _stripe_call(deps: Deps, call: Callable[[], Awaitable[T]]) -> T:
    """Run a Stripe call, retrying transient failures with backoff; then give up transiently.

    A permanent rejection becomes StripeRequestRejected for the caller to report."""
    for attempt in range(1, deps.stripe_max_attempts + 1):
        try:
            return await call()
        except StripeUnavailable as exc:
            if attempt == deps.stripe_max_attempts:
                raise TransientError(f"Stripe unavailable: {exc}") from exc
            await asyncio.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")
