"""A card-on-file charge requested over Kafka (`charging.process_charge_requested`): checked,
charged off-session in one Stripe request, and recorded with its event, once."""

import uuid
from datetime import timedelta

import pytest
from bookpay_shared.consuming import TransientError
from bookpay_shared.events import (
    ChargeMethod,
    FailureReason,
    PaymentFailed,
    PaymentSucceeded,
    utcnow,
)
from charge_service.adapters.testing import World
from charge_service.domain.model import ChargeStatus
from charge_service.usecases.charging import CHARGE_CONSUMER


async def test_a_saved_card_is_charged_once_and_the_payment_announced(world: World) -> None:
    card = await world.saved_card(last4="4242")
    event = world.request()

    charge = await world.charge_requested(event)

    assert charge.status is ChargeStatus.SUCCEEDED
    assert (charge.card_brand, charge.card_last4, charge.attempts) == ("visa", "4242", 1)
    assert charge.payment_method_id == card
    [payment] = world.stripe.calls_to("charge_off_session")
    assert payment.kwargs["idempotency_key"] == f"charge:{charge.charge_id}"
    assert world.payments_at_stripe() == [charge.stripe_payment_intent_id]
    [paid] = world.published(PaymentSucceeded)
    assert (paid.charge_id, paid.amount, paid.card_last4) == (charge.charge_id, 4_500, "4242")
    assert paid.stripe_payment_intent_id == charge.stripe_payment_intent_id
    assert (CHARGE_CONSUMER, event.event_id) in world.uow.state.processed


async def test_the_history_tells_the_attempt(world: World) -> None:
    await world.saved_card()
    charge = await world.charge_requested(world.request())

    notes = [(h.status, h.note) for h in world.history(charge.charge_id)]
    assert notes[0] == ("requested", "charge requested")
    assert notes[1][0] == "processing" and "off-session" in notes[1][1]
    assert notes[-1] == ("succeeded", "paid")


async def test_the_default_card_is_charged_when_none_is_named(world: World) -> None:
    await world.saved_card(last4="1111")
    default = await world.saved_card(last4="2222", make_default=True)
    await world.saved_card(last4="3333")

    charge = await world.charge_requested(world.request())

    assert (charge.payment_method_id, charge.card_last4) == (default, "2222")


async def test_the_card_named_is_charged(world: World) -> None:
    await world.saved_card(last4="1111")
    named = await world.saved_card(last4="3333")

    charge = await world.charge_requested(world.request(payment_method_id=named))

    assert charge.card_last4 == "3333"


@pytest.mark.parametrize(
    ("code", "decline_code", "reason", "retryable"),
    [
        ("card_declined", "generic_decline", FailureReason.CARD_DECLINED, False),
        ("card_declined", "insufficient_funds", FailureReason.INSUFFICIENT_FUNDS, False),
        ("expired_card", None, FailureReason.EXPIRED_CARD, False),
        ("incorrect_cvc", None, FailureReason.INCORRECT_CVC, False),
        ("processing_error", None, FailureReason.PROCESSING_ERROR, True),
    ],
)
async def test_a_declined_card_fails_the_charge_with_its_reason(
    world: World, code: str, decline_code: str | None, reason: FailureReason, retryable: bool
) -> None:
    card = await world.saved_card()
    world.stripe.decline(card, code=code, decline_code=decline_code)

    charge = await world.charge_requested(world.request())

    assert charge.status is ChargeStatus.FAILED
    assert charge.failure is not None and charge.failure.reason is reason
    [failed] = world.published(PaymentFailed)
    assert (failed.reason, failed.decline_code, failed.retryable) == (
        reason,
        decline_code,
        retryable,
    )
    assert failed.next_action is None
    assert world.published(PaymentSucceeded) == [] and world.payments_at_stripe() == []


async def test_no_saved_card_fails_without_asking_stripe_to_pay(world: World) -> None:
    charge = await world.charge_requested(world.request())

    assert charge.status is ChargeStatus.FAILED
    assert charge.failure is not None
    assert charge.failure.reason is FailureReason.NO_CARD_ON_FILE
    assert "no saved card" in charge.failure.message
    assert world.stripe.calls_to("charge_off_session") == []
    [failed] = world.published(PaymentFailed)
    assert failed.reason is FailureReason.NO_CARD_ON_FILE


async def test_a_card_not_on_the_profile_fails_naming_it(world: World) -> None:
    await world.saved_card()

    charge = await world.charge_requested(world.request(payment_method_id="pm_not_saved"))

    assert charge.failure is not None
    assert charge.failure.reason is FailureReason.NO_CARD_ON_FILE
    assert "pm_not_saved" in charge.failure.message


async def test_an_account_without_stripe_is_refused_with_the_reason(world: World) -> None:
    await world.saved_card()
    del world.uow.state.connections[world.account]

    charge = await world.charge_requested(world.request())

    assert charge.failure is not None
    assert charge.failure.reason is FailureReason.STRIPE_NOT_CONNECTED
    assert world.stripe.calls_to("charge_off_session") == []
    [failed] = world.published(PaymentFailed)
    assert failed.reason is FailureReason.STRIPE_NOT_CONNECTED


async def test_a_card_wanting_authentication_continues_as_a_payment_link(world: World) -> None:
    card = await world.saved_card()
    world.stripe.require_authentication(card)

    charge = await world.charge_requested(world.request())

    assert charge.status is ChargeStatus.AWAITING_CUSTOMER
    assert charge.method is ChargeMethod.PAYMENT_LINK
    assert charge.requested_method is ChargeMethod.CARD_ON_FILE
    assert charge.stripe_payment_intent_id in world.stripe.intents
    [failed] = world.published(PaymentFailed)
    assert failed.reason is FailureReason.AUTHENTICATION_REQUIRED
    assert failed.next_action == "payment_link"
    assert failed.stripe_payment_intent_id == charge.stripe_payment_intent_id


async def test_without_the_link_fallback_authentication_required_fails(world: World) -> None:
    card = await world.saved_card()
    world.stripe.require_authentication(card)

    charge = await world.charge_requested(world.request(fallback_to_link=False))

    assert charge.status is ChargeStatus.FAILED
    assert charge.failure is not None
    assert charge.failure.reason is FailureReason.AUTHENTICATION_REQUIRED
    [failed] = world.published(PaymentFailed)
    assert failed.next_action is None


async def test_the_same_event_twice_charges_once(world: World) -> None:
    await world.saved_card()
    event = world.request()

    await world.charge_requested(event)
    await world.charge_requested(event)

    assert len(world.stripe.calls_to("charge_off_session")) == 1
    assert len(world.published(PaymentSucceeded)) == 1


async def test_another_request_with_the_same_charge_id_charges_once(world: World) -> None:
    await world.saved_card()
    first = world.request()
    await world.charge_requested(first)

    again = world.request(charge_id=first.charge_id)
    charge = await world.charge_requested(again)

    assert charge.status is ChargeStatus.SUCCEEDED
    assert len(world.payments_at_stripe()) == 1
    assert len(world.published(PaymentSucceeded)) == 1
    assert (CHARGE_CONSUMER, again.event_id) in world.uow.state.processed


async def test_a_kafka_request_over_the_balance_fails_as_invalid(world: World) -> None:
    await world.saved_card()

    charge = await world.charge_requested(world.request(amount=world.balance_due + 1))

    assert charge.failure is not None
    assert charge.failure.reason is FailureReason.INVALID_REQUEST
    assert "balance due" in charge.failure.message
    assert world.stripe.calls_to("charge_off_session") == []


async def test_two_kafka_requests_never_take_more_than_the_balance(world: World) -> None:
    await world.saved_card()

    first = await world.charge_requested(world.request(amount=6_000))
    second = await world.charge_requested(world.request(amount=6_000))

    assert first.status is ChargeStatus.SUCCEEDED
    assert second.failure is not None
    assert second.failure.reason is FailureReason.INVALID_REQUEST
    assert len(world.payments_at_stripe()) == 1


async def test_an_unknown_booking_is_waited_for_then_refused(world: World) -> None:
    await world.saved_card()
    event = world.request(booking_ids=(uuid.uuid4(),))

    with pytest.raises(TransientError, match="waiting for booking-service"):
        await world.charge_requested(event)
    assert world.uow.state.charges == {}  # rolled back: the retry starts afresh

    old = event.model_copy(update={"occurred_at": utcnow() - timedelta(hours=1)})
    charge = await world.charge_requested(old)
    assert charge.failure is not None
    assert charge.failure.reason is FailureReason.INVALID_REQUEST
    assert (CHARGE_CONSUMER, event.event_id) in world.uow.state.processed


async def test_stripe_down_leaves_the_charge_processing_and_a_redelivery_finishes_it(
    world: World,
) -> None:
    await world.saved_card()
    event = world.request()
    world.stripe.fail_next()

    with pytest.raises(TransientError):
        await world.charge_requested(event)
    assert world.charge(event.charge_id).status is ChargeStatus.PROCESSING
    assert world.published(PaymentSucceeded) == []

    charge = await world.charge_requested(event)

    assert charge.status is ChargeStatus.SUCCEEDED
    assert charge.attempts == 1
    assert len(world.payments_at_stripe()) == 1


async def test_an_answer_lost_after_stripe_charged_is_not_charged_again(world: World) -> None:
    await world.saved_card()
    event = world.request()
    world.stripe.fail_next(after_effect=True)  # Stripe charged; its answer never came

    with pytest.raises(TransientError):
        await world.charge_requested(event)
    assert len(world.payments_at_stripe()) == 1

    charge = await world.charge_requested(event)

    assert charge.status is ChargeStatus.SUCCEEDED
    assert world.payments_at_stripe() == [charge.stripe_payment_intent_id]
    assert len(world.published(PaymentSucceeded)) == 1


async def test_a_request_stripe_refuses_fails_as_invalid(world: World) -> None:
    card = await world.saved_card()
    world.stripe.cards[card].customer_id = "cus_someone_else"

    charge = await world.charge_requested(world.request())

    assert charge.failure is not None
    assert charge.failure.reason is FailureReason.INVALID_REQUEST
    assert "Stripe refused" in charge.failure.message
