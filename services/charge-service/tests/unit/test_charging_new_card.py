"""A new card (tokenized by Stripe.js) and a payment link, requested over Kafka; another card
for a new-card charge whose card failed (`charging.try_another_card`)."""

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from bookpay_shared.consuming import TransientError
from bookpay_shared.events import (
    ChargeAccepted,
    ChargeMethod,
    FailureReason,
    PaymentFailed,
    PaymentSucceeded,
)
from charge_service.adapters.fake_stripe import FakeStripeGateway
from charge_service.adapters.testing import World
from charge_service.domain.model import ChargeStatus
from charge_service.usecases import charging
from charge_service.usecases.stripe_types import IntentResult, StripeUnavailable

CONSENT = "I agree that my card is saved for future payments."


async def test_a_new_card_is_charged_on_its_own_payment_intent(world: World) -> None:
    card = world.stripe.add_card(last4="5555", brand="mastercard")

    charge = await world.charge_requested(
        world.request(ChargeMethod.NEW_CARD, payment_method_id=card)
    )

    assert charge.status is ChargeStatus.SUCCEEDED
    assert (charge.card_brand, charge.card_last4) == ("mastercard", "5555")
    [created] = world.stripe.calls_to("create_payment_intent")
    assert created.kwargs["metadata"]["charge_id"] == str(charge.charge_id)  # type: ignore[index]
    assert world.payments_at_stripe() == [charge.stripe_payment_intent_id]
    [paid] = world.published(PaymentSucceeded)
    assert paid.saved_payment_method_id is None
    assert world.uow.state.cards == {}


@dataclass
class ConfirmTimesOut(FakeStripeGateway):
    """Stripe whose confirmations time out until `recovered`."""

    recovered: bool = False

    async def confirm_on_session(self, **kwargs: Any) -> IntentResult:
        if not self.recovered:
            raise StripeUnavailable("timed out")
        return await super().confirm_on_session(**kwargs)


async def test_the_payment_intent_is_recorded_before_it_is_confirmed() -> None:
    stripe = ConfirmTimesOut()
    world = World(stripe=stripe)
    event = world.request(ChargeMethod.NEW_CARD, payment_method_id=stripe.add_card())

    with pytest.raises(TransientError):
        await world.charge_requested(event)
    waiting = world.charge(event.charge_id)
    assert waiting.status is ChargeStatus.PROCESSING
    assert waiting.stripe_payment_intent_id in stripe.intents

    stripe.recovered = True
    charge = await world.charge_requested(event)

    assert charge.status is ChargeStatus.SUCCEEDED
    assert charge.stripe_payment_intent_id == waiting.stripe_payment_intent_id
    assert len(stripe.intents) == 1 and len(stripe.calls_to("create_payment_intent")) == 1


async def test_a_new_card_the_customer_agreed_to_keep_is_saved_with_the_consent(
    world: World,
) -> None:
    card = world.stripe.add_card(last4="4444")

    charge = await world.charge_requested(
        world.request(
            ChargeMethod.NEW_CARD, payment_method_id=card, save_card=True, save_card_consent=CONSENT
        )
    )

    assert charge.saved_payment_method_id == card
    saved = world.uow.state.cards[card]
    assert (saved.last4, saved.is_default, saved.customer_id) == ("4444", True, world.customer)
    assert world.uow.state.consents[card]["text"] == CONSENT
    [paid] = world.published(PaymentSucceeded)
    assert paid.saved_payment_method_id == card


async def test_a_declined_new_card_fails_and_can_take_another_card(world: World) -> None:
    declined = world.stripe.add_card(last4="0002")
    world.stripe.decline(declined)
    event = world.request(ChargeMethod.NEW_CARD, payment_method_id=declined)
    failed = await world.charge_requested(event)
    assert failed.failure is not None
    assert failed.failure.reason is FailureReason.CARD_DECLINED

    good = world.stripe.add_card(last4="4242")
    charge = await charging.try_another_card(
        world.deps,
        world.uow,
        world.account,
        event.charge_id,
        payment_method_id=good,
        save_card=False,
        save_card_consent=None,
    )

    assert charge.status is ChargeStatus.SUCCEEDED
    assert (charge.attempts, charge.card_last4) == (2, "4242")
    assert charge.stripe_payment_intent_id == failed.stripe_payment_intent_id
    assert len(world.stripe.intents) == 1
    assert len(world.published(PaymentFailed)) == 1
    assert len(world.published(PaymentSucceeded)) == 1


async def another_card(world: World, charge_id: uuid.UUID, **changes: object) -> object:
    return await charging.try_another_card(
        world.deps,
        world.uow,
        changes.pop("account_id", world.account),  # type: ignore[arg-type]
        charge_id,
        payment_method_id=world.stripe.add_card(),
        save_card=False,
        save_card_consent=None,
    )


async def test_a_paid_charge_takes_no_other_card(world: World) -> None:
    event = world.request(ChargeMethod.NEW_CARD, payment_method_id=world.stripe.add_card())
    await world.charge_requested(event)

    with pytest.raises(charging.CannotRetry):
        await another_card(world, event.charge_id)


async def test_a_charge_takes_at_most_its_attempts(world: World) -> None:
    world.max_attempts_per_charge = 2
    declined = world.stripe.add_card()
    world.stripe.decline(declined)
    event = world.request(ChargeMethod.NEW_CARD, payment_method_id=declined)
    await world.charge_requested(event)
    world.stripe.decline(world.stripe.add_card(payment_method_id="pm_second"))
    await charging.try_another_card(
        world.deps,
        world.uow,
        world.account,
        event.charge_id,
        payment_method_id="pm_second",
        save_card=False,
        save_card_consent=None,
    )

    with pytest.raises(charging.TooManyAttempts, match="2 card attempts"):
        await another_card(world, event.charge_id)
    assert world.charge(event.charge_id).attempts == 2


async def test_another_card_for_an_unknown_charge_is_not_found(world: World) -> None:
    with pytest.raises(charging.UnknownCharge):
        await another_card(world, uuid.uuid4())


async def test_another_card_for_another_accounts_charge_is_not_found(world: World) -> None:
    declined = world.stripe.add_card()
    world.stripe.decline(declined)
    event = world.request(ChargeMethod.NEW_CARD, payment_method_id=declined)
    await world.charge_requested(event)

    with pytest.raises(charging.UnknownCharge):
        await another_card(world, event.charge_id, account_id=uuid.uuid4())


async def test_another_card_is_checked_against_the_balance_again(world: World) -> None:
    from charge_service.usecases.accepting import InvalidCharge

    declined = world.stripe.add_card()
    world.stripe.decline(declined)
    event = world.request(ChargeMethod.NEW_CARD, payment_method_id=declined, amount=6_000)
    await world.charge_requested(event)
    await world.saved_card()
    await world.charge_requested(world.request(amount=6_000))  # took the balance meanwhile

    with pytest.raises(InvalidCharge):
        await another_card(world, event.charge_id)
    assert world.charge(event.charge_id).status is ChargeStatus.FAILED


async def test_a_new_card_wanting_authentication_fails_asking_for_a_link(world: World) -> None:
    card = world.stripe.add_card()
    world.stripe.require_authentication(card)

    charge = await world.charge_requested(
        world.request(ChargeMethod.NEW_CARD, payment_method_id=card)
    )

    assert charge.status is ChargeStatus.FAILED
    assert charge.failure is not None
    assert charge.failure.reason is FailureReason.AUTHENTICATION_REQUIRED
    assert "payment link" in charge.failure.message


async def test_a_payment_link_charge_waits_for_the_customer_and_is_announced(
    world: World,
) -> None:
    charge = await world.charge_requested(
        world.request(ChargeMethod.PAYMENT_LINK, link_expires_in_hours=48)
    )

    assert charge.status is ChargeStatus.AWAITING_CUSTOMER
    assert charge.stripe_account_id == world.stripe_account
    [accepted] = world.published(ChargeAccepted)
    assert (accepted.charge_id, accepted.link_expires_in_hours) == (charge.charge_id, 48)
    assert world.stripe.calls == []


async def test_a_payment_link_without_stripe_fails_and_makes_no_link(world: World) -> None:
    del world.uow.state.connections[world.account]

    charge = await world.charge_requested(world.request(ChargeMethod.PAYMENT_LINK))

    assert charge.failure is not None
    assert charge.failure.reason is FailureReason.STRIPE_NOT_CONNECTED
    assert world.published(ChargeAccepted) == []
