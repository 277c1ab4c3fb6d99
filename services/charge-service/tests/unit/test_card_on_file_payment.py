"""A card-on-file attempt against the in-memory Stripe: one request per payment, and a resumed
attempt adopts the PaymentIntent an earlier try made instead of making another.
(`charging.pay_card_on_file` is the Stripe side of the attempt; it touches no database.)"""

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from bookpay_shared.consuming import TransientError
from bookpay_shared.events import ChargeMethod, FailureReason
from bookpay_shared.faults import NO_FAULTS
from charge_service.adapters.fake_stripe import FakeCustomer, FakeStripeGateway
from charge_service.domain.model import Charge, ChargeStatus
from charge_service.usecases import outcomes
from charge_service.usecases.charging import pay_card_on_file
from charge_service.usecases.deps import Deps

ACCOUNT = "acct_unit"


def deps(stripe: FakeStripeGateway, *, max_attempts: int = 3) -> Deps:
    return Deps(stripe=stripe, faults=NO_FAULTS, stripe_max_attempts=max_attempts)


def saved_card(stripe: FakeStripeGateway) -> tuple[str, str]:
    """A Stripe customer with a saved card: (customer id, payment method id)."""
    customer = "cus_unit"
    stripe.customers[customer] = FakeCustomer(customer, ACCOUNT, None, None, {})
    payment_method_id = stripe.add_card(last4="4242", stripe_account=ACCOUNT)
    stripe.cards[payment_method_id].customer_id = customer
    return customer, payment_method_id


def processing(payment_method_id: str, **changes: Any) -> Charge:
    base = Charge(
        charge_id=uuid.UUID(int=7),
        account_id=uuid.UUID(int=1),
        customer_id=uuid.UUID(int=2),
        booking_ids=(uuid.UUID(int=3),),
        amount=4500,
        currency="usd",
        method=ChargeMethod.CARD_ON_FILE,
        payment_method_id=payment_method_id,
        save_card=False,
        message=None,
        requested_by="staff@example.com",
        status=ChargeStatus.PROCESSING,
        attempts=1,
        stripe_account_id=ACCOUNT,
        requested_at=datetime.now(UTC),
    )
    return replace(base, **changes)


async def test_a_card_on_file_is_paid_in_one_stripe_request() -> None:
    stripe = FakeStripeGateway()
    customer, card = saved_card(stripe)
    charge = processing(card)

    result = await pay_card_on_file(deps(stripe), charge, customer, resumed=False)

    assert [call.method for call in stripe.calls] == ["charge_off_session"]
    call = stripe.calls[0].kwargs
    assert call["idempotency_key"] == f"charge:{charge.charge_id}"
    assert call["payment_method_id"] == card and call["customer_id"] == customer
    assert cast(dict[str, str], call["metadata"])["charge_id"] == str(charge.charge_id)
    assert result.succeeded
    assert result.card is not None and (result.card.last4, result.card.brand) == ("4242", "visa")
    assert [i.payment_intent_id for i in stripe.intents.values()] == [result.payment_intent_id]


async def test_a_declined_card_fails_the_charge_with_its_payment_intent() -> None:
    stripe = FakeStripeGateway()
    customer, card = saved_card(stripe)
    stripe.decline(card, decline_code="insufficient_funds")
    charge = processing(card)

    result = await pay_card_on_file(deps(stripe), charge, customer, resumed=False)

    assert len(stripe.calls) == 1
    assert result.payment_intent_id in stripe.intents
    failure = outcomes.failure_of(result, charge)
    assert failure is not None
    assert failure.reason is FailureReason.INSUFFICIENT_FUNDS
    assert failure.decline_code == "insufficient_funds"


async def test_authentication_required_continues_as_a_link_on_the_same_payment_intent() -> None:
    stripe = FakeStripeGateway()
    customer, card = saved_card(stripe)
    stripe.require_authentication(card)
    charge = processing(card)

    result = await pay_card_on_file(deps(stripe), charge, customer, resumed=False)

    assert len(stripe.calls) == 1
    assert result.status == "requires_payment_method"
    failure = outcomes.failure_of(result, charge)
    assert failure is not None and failure.reason is FailureReason.AUTHENTICATION_REQUIRED
    # What `_finish` records: the outcome's PaymentIntent, which the payment link then uses.
    recorded = replace(charge, stripe_payment_intent_id=result.payment_intent_id)
    assert outcomes.continues_as_link(recorded)
    assert list(stripe.intents) == [result.payment_intent_id]


async def test_a_resumed_attempt_adopts_the_payment_intent_already_made() -> None:
    """A crash between Stripe's answer and our record: the charge is `processing` with no
    PaymentIntent recorded. The resumed attempt finds the one made and sends nothing again."""
    stripe = FakeStripeGateway()
    customer, card = saved_card(stripe)
    charge = processing(card)
    first = await pay_card_on_file(deps(stripe), charge, customer, resumed=False)
    stripe.calls.clear()

    resumed = await pay_card_on_file(deps(stripe), charge, customer, resumed=True)

    assert [call.method for call in stripe.calls] == ["find_payment_intent"]
    assert resumed.payment_intent_id == first.payment_intent_id
    assert resumed.succeeded
    assert len(stripe.intents) == 1
    assert stripe.intents[first.payment_intent_id].confirmations == 1


async def test_a_resumed_attempt_adopts_a_declined_payment_intent_without_retrying_it() -> None:
    stripe = FakeStripeGateway()
    customer, card = saved_card(stripe)
    stripe.require_authentication(card)
    charge = processing(card)
    first = await pay_card_on_file(deps(stripe), charge, customer, resumed=False)

    resumed = await pay_card_on_file(deps(stripe), charge, customer, resumed=True)

    assert resumed.payment_intent_id == first.payment_intent_id
    assert resumed.failure is not None and resumed.failure.reason == "authentication_required"
    assert stripe.intents[first.payment_intent_id].confirmations == 1


async def test_a_lost_answer_is_adopted_when_the_attempt_resumes() -> None:
    stripe = FakeStripeGateway()
    customer, card = saved_card(stripe)
    charge = processing(card)
    stripe.fail_next(after_effect=True)  # Stripe charged the card; its answer never came

    with pytest.raises(TransientError):
        await pay_card_on_file(deps(stripe, max_attempts=1), charge, customer, resumed=False)
    resumed = await pay_card_on_file(deps(stripe), charge, customer, resumed=True)

    assert resumed.succeeded
    assert len(stripe.intents) == 1


async def test_a_resumed_attempt_that_never_reached_stripe_sends_the_same_request() -> None:
    stripe = FakeStripeGateway()
    customer, card = saved_card(stripe)
    charge = processing(card)

    resumed = await pay_card_on_file(deps(stripe), charge, customer, resumed=True)

    assert [call.method for call in stripe.calls] == ["find_payment_intent", "charge_off_session"]
    assert stripe.calls[1].kwargs["idempotency_key"] == f"charge:{charge.charge_id}"
    assert resumed.succeeded and len(stripe.intents) == 1


async def test_the_same_request_again_is_answered_by_stripe_from_its_key() -> None:
    """Without the lookup (a key still held by Stripe), the request is replayed, not repeated."""
    stripe = FakeStripeGateway()
    customer, card = saved_card(stripe)
    charge = processing(card)

    first = await pay_card_on_file(deps(stripe), charge, customer, resumed=False)
    again = await pay_card_on_file(deps(stripe), charge, customer, resumed=False)

    assert again == first
    assert len(stripe.intents) == 1


async def test_a_later_attempt_uses_its_own_key() -> None:
    stripe = FakeStripeGateway()
    customer, card = saved_card(stripe)
    charge = processing(card, attempts=2)

    await pay_card_on_file(deps(stripe), charge, customer, resumed=False)

    assert [call.method for call in stripe.calls] == ["find_payment_intent", "charge_off_session"]
    assert stripe.calls[1].kwargs["idempotency_key"] == f"charge:{charge.charge_id}:attempt:2"


async def test_an_adopted_payment_intent_never_confirmed_is_confirmed_off_session() -> None:
    """A PaymentIntent created by the two-request flow and never confirmed (a crash in between
    before payments became one request) is confirmed, not made again."""
    stripe = FakeStripeGateway()
    customer, card = saved_card(stripe)
    charge = processing(card)
    created = await stripe.create_payment_intent(
        stripe_account=ACCOUNT,
        amount=charge.amount,
        currency=charge.currency,
        customer_id=customer,
        metadata={"charge_id": str(charge.charge_id)},
        idempotency_key=charge.idempotency_key,
        description=None,
    )

    resumed = await pay_card_on_file(deps(stripe), charge, customer, resumed=True)

    assert resumed.payment_intent_id == created.payment_intent_id and resumed.succeeded
    assert [call.method for call in stripe.calls][-2:] == [
        "find_payment_intent",
        "confirm_off_session",
    ]
    assert len(stripe.intents) == 1
