"""Payments the customer makes on the hosted payment page (link-service's), and payments Stripe
reports as succeeded after we had given up on them.

Three signals can say a charge's PaymentIntent succeeded: Stripe's webhook, link-service's
PaymentLinkPaid (its success page or its sweep saw the payment), and this service's
reconciliation sweep. Each leads to `complete`, one idempotent state change: the PaymentIntent
is retrieved from Stripe (no message is trusted), checked against the charge (its charge_id,
amount and currency), and the charge is recorded as paid once, with one PaymentSucceeded —
also when the charge had been failed meanwhile (the link expired, an earlier attempt's
decline): Stripe has the last word on money.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import datetime

from bookpay_shared.consuming import TransientError, UnprocessableEvent
from bookpay_shared.events import FailureReason, PaymentLinkClosed, PaymentLinkPaid, utcnow

from charge_service.domain.model import Charge, ChargeStatus, Failure
from charge_service.usecases import cards, outcomes
from charge_service.usecases.deps import Deps, stripe_call
from charge_service.usecases.stripe_types import IntentResult
from charge_service.usecases.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

DEFAULT_CONSENT = "Saved at the customer's request on the payment page for future payments."
_COMPLETABLE = frozenset({ChargeStatus.AWAITING_CUSTOMER, ChargeStatus.FAILED})


async def on_payment_link_paid(deps: Deps, uow: UnitOfWork, event: PaymentLinkPaid) -> None:
    await _known_charge(deps, uow, event.charge_id, event.occurred_at)
    await complete(
        deps,
        uow,
        event.charge_id,
        event.stripe_payment_intent_id,
        source="payment page",
        stripe_account=event.stripe_account_id,
    )


async def on_payment_link_closed(deps: Deps, uow: UnitOfWork, event: PaymentLinkClosed) -> None:
    """The link can no longer be paid: end its charge, unless Stripe says it was paid."""
    charge = await _known_charge(deps, uow, event.charge_id, event.occurred_at)
    if charge.status is not ChargeStatus.AWAITING_CUSTOMER:
        return
    if charge.stripe_payment_intent_id and await complete(
        deps, uow, charge.charge_id, charge.stripe_payment_intent_id, source="link closed"
    ):
        return
    reason = (
        FailureReason.LINK_EXPIRED if event.reason == "expired" else FailureReason.LINK_CANCELLED
    )
    message = (
        "The payment link expired before the customer paid."
        if event.reason == "expired"
        else "The payment link was cancelled before the customer paid."
    )
    async with uow:
        current = await uow.charges.get(charge.charge_id, for_update=True)
        if current is not None and current.status is ChargeStatus.AWAITING_CUSTOMER:
            await outcomes.fail(uow, current, Failure(reason, message))
            await uow.commit()


async def _known_charge(
    deps: Deps, uow: UnitOfWork, charge_id: uuid.UUID, occurred_at: datetime
) -> Charge:
    """The charge an event names; retried while its ChargeRequested may still be on its way."""
    async with uow:
        charge = await uow.charges.get(charge_id)
    if charge is not None and charge.status is not ChargeStatus.REQUESTED:
        return charge
    if utcnow() - occurred_at < deps.projection_wait:
        raise TransientError(f"charge {charge_id} is not known here yet")
    raise UnprocessableEvent(f"charge {charge_id} is unknown")


async def complete(
    deps: Deps,
    uow: UnitOfWork,
    charge_id: uuid.UUID,
    payment_intent_id: str,
    *,
    source: str,
    stripe_account: str | None = None,
) -> bool:
    """Record the charge as paid if its PaymentIntent succeeded; True once it is paid.

    The PaymentIntent is looked up on the Stripe account the charge is pinned to (the one it was
    started on), never on the account's current connection, which may have changed since. A
    signal that names the Stripe account the PaymentIntent is on (`stripe_account`: the link's,
    or a Connect webhook's `account`) is followed when the account is or was connected to
    that Stripe account: a link pinned a moment before or after the charge (a reconnection
    racing the charge) is still paid once."""
    async with uow:
        charge = await uow.charges.get(charge_id)
        if charge is None:
            log.warning("payment %s names charge %s, unknown here", payment_intent_id, charge_id)
            return False
        pinned = charge.stripe_account_id or await uow.connections.current(charge.account_id)
        if stripe_account not in (None, pinned) and not await uow.connections.was_connected(
            charge.account_id, stripe_account
        ):
            log.error(
                "payment %s for charge %s names Stripe account %s, never connected to its "
                "account; looked up on %s",
                payment_intent_id,
                charge_id,
                stripe_account,
                pinned,
            )
            stripe_account = None
    if charge.status is ChargeStatus.SUCCEEDED:
        return True
    on_account = stripe_account or pinned
    if charge.status not in _COMPLETABLE or on_account is None:
        log.info("charge %s is %s; %s payment signal ignored", charge_id, charge.status, source)
        return False
    intent = await stripe_call(
        deps,
        lambda: deps.stripe.retrieve_payment_intent(
            stripe_account=on_account, payment_intent_id=payment_intent_id
        ),
    )
    if not intent.succeeded or not _belongs_to(intent, charge):
        return False
    charge = replace(charge, stripe_account_id=on_account)
    kept_by_customer = intent.metadata.get("save_card") == "true" and intent.card is not None
    if kept_by_customer:
        charge = await _keep_card(deps, uow, charge, intent)
    return await _record_paid(
        uow, charge, intent, source, consent_by="customer" if kept_by_customer else None
    )


def _belongs_to(intent: IntentResult, charge: Charge) -> bool:
    problems = []
    if intent.metadata.get("charge_id") != str(charge.charge_id):
        problems.append("its metadata names another charge")
    if (intent.amount, intent.currency) != (charge.amount, charge.currency):
        problems.append(f"it is for {intent.amount} {intent.currency}")
    if charge.stripe_payment_intent_id not in (None, intent.payment_intent_id):
        problems.append(f"the charge's PaymentIntent is {charge.stripe_payment_intent_id}")
    for problem in problems:
        log.error(
            "PaymentIntent %s refused for charge %s: %s",
            intent.payment_intent_id,
            charge.charge_id,
            problem,
        )
    return not problems


async def _keep_card(deps: Deps, uow: UnitOfWork, charge: Charge, intent: IntentResult) -> Charge:
    """Attach the card the customer chose to keep to their Stripe customer (idempotent)."""
    assert intent.card is not None and charge.stripe_account_id is not None
    stripe_account = charge.stripe_account_id
    payment_method_id = intent.card.payment_method_id
    async with uow:
        customer = await uow.records.customer(charge.account_id, charge.customer_id)
    if customer is None:
        raise TransientError(f"customer {charge.customer_id} is not known here yet")
    stripe_customer = await cards.ensure_stripe_customer(deps, uow, customer, stripe_account)
    await stripe_call(
        deps,
        lambda: deps.stripe.attach_payment_method(
            stripe_account=stripe_account,
            customer_id=stripe_customer,
            payment_method_id=payment_method_id,
        ),
    )
    consent = intent.metadata.get("save_card_consent") or DEFAULT_CONSENT
    return replace(charge, save_card=True, save_card_consent=consent)


async def _record_paid(
    uow: UnitOfWork, charge: Charge, intent: IntentResult, source: str, *, consent_by: str | None
) -> bool:
    async with uow:
        current = await uow.charges.get(charge.charge_id, for_update=True)
        assert current is not None
        if current.status is ChargeStatus.SUCCEEDED:
            return True
        if current.status not in _COMPLETABLE:
            return False  # an attempt of ours is running: it records its own outcome
        paying = replace(
            current,
            stripe_account_id=charge.stripe_account_id,
            save_card=charge.save_card,
            save_card_consent=charge.save_card_consent,
        )
        note = (
            "the customer paid"
            if current.status is ChargeStatus.AWAITING_CUSTOMER
            else "Stripe reports it paid after all"
        )
        await uow.charges.add_history(charge.charge_id, paying.status, f"{note} ({source})")
        await outcomes.succeed(uow, paying, intent, consent_by=consent_by)
        await uow.commit()
    return True
