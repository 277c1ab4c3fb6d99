"""Completing a charge from whichever signal comes first: Stripe's webhook, link-service's
PaymentLinkPaid, or the reconciliation sweep. Each asks Stripe, and the charge is paid once,
with one PaymentSucceeded, whatever the order."""

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from bookpay_shared.consuming import TransientError, UnprocessableEvent
from bookpay_shared.events import (
    ChargeMethod,
    FailureReason,
    PaymentFailed,
    PaymentLinkPaid,
    PaymentSucceeded,
    utcnow,
)
from charge_service.adapters.testing import STRIPE_ACCOUNT, World, sign
from charge_service.domain.model import Charge, ChargeStatus
from charge_service.usecases import link_payments, webhooks


async def link_charge(world: World) -> Charge:
    return await world.charge_requested(world.request(ChargeMethod.PAYMENT_LINK))


async def card_waiting_for_the_customer(world: World) -> Charge:
    """A card on file whose bank wanted the customer: it continued as a payment link, on the
    PaymentIntent of the attempt; the customer then authenticates on the page."""
    card = await world.saved_card()
    world.stripe.require_authentication(card)
    charge = await world.charge_requested(world.request())
    assert charge.stripe_payment_intent_id is not None
    intent = world.stripe.intents[charge.stripe_payment_intent_id]
    world.stripe.cards[card].requires_authentication = False
    await world.stripe.confirm_on_session(
        stripe_account=intent.stripe_account,
        payment_intent_id=intent.payment_intent_id,
        payment_method_id=card,
        save_card=False,
        idempotency_key="page:confirm",
    )
    return charge


async def test_payment_link_paid_completes_the_charge(world: World) -> None:
    charge = await link_charge(world)
    intent = await world.link_payment_intent(charge)

    paid = await world.link_paid(charge, intent)

    assert paid.status is ChargeStatus.SUCCEEDED
    assert (paid.stripe_payment_intent_id, paid.card_last4) == (intent, "1881")
    [succeeded] = world.published(PaymentSucceeded)
    assert succeeded.method is ChargeMethod.PAYMENT_LINK
    assert "the customer paid (payment page)" in [h.note for h in world.history(charge.charge_id)]


async def test_payment_link_paid_twice_pays_once(world: World) -> None:
    charge = await link_charge(world)
    intent = await world.link_payment_intent(charge)

    await world.link_paid(charge, intent)
    await world.link_paid(charge, intent)

    assert len(world.published(PaymentSucceeded)) == 1


async def test_an_unpaid_payment_intent_completes_nothing(world: World) -> None:
    charge = await link_charge(world)
    intent = await world.link_payment_intent(charge, paid=False)

    still = await world.link_paid(charge, intent)

    assert still.status is ChargeStatus.AWAITING_CUSTOMER
    assert world.published(PaymentSucceeded) == []


async def test_a_payment_intent_of_another_charge_is_refused(world: World) -> None:
    charge = await link_charge(world)
    other = await link_charge(world)
    theirs = await world.link_payment_intent(other)

    still = await world.link_paid(charge, theirs)

    assert still.status is ChargeStatus.AWAITING_CUSTOMER
    assert world.published(PaymentSucceeded) == []


async def test_a_payment_intent_for_another_amount_is_refused(world: World) -> None:
    charge = await link_charge(world)
    intent = await world.link_payment_intent(charge)
    world.stripe.intents[intent].amount = charge.amount - 1

    still = await world.link_paid(charge, intent)

    assert still.status is ChargeStatus.AWAITING_CUSTOMER


async def test_the_card_the_customer_kept_on_the_page_is_saved(world: World) -> None:
    charge = await link_charge(world)
    intent = await world.link_payment_intent(charge, save_card="true")

    paid = await world.link_paid(charge, intent, save_card=True)

    assert paid.saved_payment_method_id is not None
    assert world.uow.state.cards[paid.saved_payment_method_id].last4 == "1881"
    consent = world.uow.state.consents[paid.saved_payment_method_id]
    assert (consent["by"], consent["text"]) == ("customer", link_payments.DEFAULT_CONSENT)


async def test_payment_link_paid_for_a_charge_not_known_yet_is_retried(world: World) -> None:
    charge = await link_charge(world)
    unknown = PaymentLinkPaid(
        correlation_id=charge.charge_id,
        charge_id=uuid.uuid4(),
        account_id=world.account,
        customer_id=world.customer,
        link_id=charge.charge_id,
        stripe_payment_intent_id="pi_unknown",
    )

    with pytest.raises(TransientError):
        await link_payments.on_payment_link_paid(world.deps, world.uow, unknown)
    stale = unknown.model_copy(update={"occurred_at": utcnow() - timedelta(hours=1)})
    with pytest.raises(UnprocessableEvent):
        await link_payments.on_payment_link_paid(world.deps, world.uow, stale)


async def test_webhook_then_payment_link_paid_pays_once(world: World) -> None:
    charge = await link_charge(world)
    intent = await world.link_payment_intent(charge)

    assert await world.webhook(intent) == "completed"
    paid = await world.link_paid(charge, intent)

    assert paid.status is ChargeStatus.SUCCEEDED
    assert len(world.published(PaymentSucceeded)) == 1


async def test_payment_link_paid_then_webhook_pays_once(world: World) -> None:
    charge = await link_charge(world)
    intent = await world.link_payment_intent(charge)

    await world.link_paid(charge, intent)
    assert await world.webhook(intent) == "ignored"

    assert len(world.published(PaymentSucceeded)) == 1


async def test_webhook_then_sweep_pays_once(world: World) -> None:
    charge = await card_waiting_for_the_customer(world)
    assert charge.stripe_payment_intent_id is not None

    assert await world.webhook(charge.stripe_payment_intent_id) == "completed"
    assert await world.sweep() == 0  # nothing left in flight

    assert world.charge(charge.charge_id).status is ChargeStatus.SUCCEEDED
    assert len(world.published(PaymentSucceeded)) == 1


async def test_sweep_then_webhook_pays_once(world: World) -> None:
    charge = await card_waiting_for_the_customer(world)
    assert charge.stripe_payment_intent_id is not None

    assert await world.sweep() == 1
    assert await world.webhook(charge.stripe_payment_intent_id) == "ignored"

    assert world.charge(charge.charge_id).status is ChargeStatus.SUCCEEDED
    assert len(world.published(PaymentSucceeded)) == 1
    assert "the customer paid (reconciliation)" in [h.note for h in world.history(charge.charge_id)]


async def test_sweep_then_payment_link_paid_pays_once(world: World) -> None:
    charge = await card_waiting_for_the_customer(world)
    assert charge.stripe_payment_intent_id is not None

    await world.sweep()
    paid = await world.link_paid(charge, charge.stripe_payment_intent_id)

    assert paid.status is ChargeStatus.SUCCEEDED
    assert len(world.published(PaymentSucceeded)) == 1


async def test_the_sweep_leaves_a_charge_the_customer_has_not_paid(world: World) -> None:
    card = await world.saved_card()
    world.stripe.require_authentication(card)
    charge = await world.charge_requested(world.request())

    assert await world.sweep() == 1

    assert world.charge(charge.charge_id).status is ChargeStatus.AWAITING_CUSTOMER
    assert world.published(PaymentSucceeded) == []


async def test_the_sweep_looks_only_at_charges_idle_long_enough(world: World) -> None:
    await card_waiting_for_the_customer(world)

    assert await world.sweep(idle=timedelta(seconds=5)) == 0
    assert world.published(PaymentSucceeded) == []


async def test_the_sweep_finishes_an_attempt_left_processing(world: World) -> None:
    await world.saved_card()
    event = world.request()
    world.stripe.fail_next(after_effect=True)  # paid at Stripe; the process never heard
    with pytest.raises(TransientError):
        await world.charge_requested(event)

    assert await world.sweep() == 1

    charge = world.charge(event.charge_id)
    assert charge.status is ChargeStatus.SUCCEEDED
    assert world.payments_at_stripe() == [charge.stripe_payment_intent_id]
    assert len(world.published(PaymentSucceeded)) == 1


async def test_a_duplicate_webhook_is_answered_as_such(world: World) -> None:
    charge = await link_charge(world)
    intent = await world.link_payment_intent(charge)

    assert await world.webhook(intent, event_id="evt_once") == "completed"
    assert await world.webhook(intent, event_id="evt_once") == "duplicate"
    assert len(world.published(PaymentSucceeded)) == 1


async def test_a_webhook_for_a_charge_mid_attempt_resumes_the_attempt(world: World) -> None:
    await world.saved_card()
    event = world.request()
    world.stripe.fail_next(after_effect=True)
    with pytest.raises(TransientError):
        await world.charge_requested(event)
    [intent] = world.stripe.intents

    assert await world.webhook(intent) == "resumed"

    assert world.charge(event.charge_id).status is ChargeStatus.SUCCEEDED
    assert len(world.published(PaymentSucceeded)) == 1


async def test_a_failed_payment_on_the_page_is_recorded_in_the_history(world: World) -> None:
    charge = await link_charge(world)
    intent = await world.link_payment_intent(charge, paid=False)

    declined = {"code": "card_declined", "decline_code": "insufficient_funds", "message": "No."}
    assert (
        await world.webhook(intent, "payment_intent.payment_failed", last_payment_error=declined)
        == "recorded"
    )

    notes = [h.note for h in world.history(charge.charge_id)]
    assert (
        "a payment attempt on the payment page failed (insufficient_funds: card_declined: No.)"
        in notes
    )
    assert world.charge(charge.charge_id).status is ChargeStatus.AWAITING_CUSTOMER


async def test_each_failed_try_on_the_page_is_one_attempt_with_its_reason(world: World) -> None:
    charge = await link_charge(world)
    intent = await world.link_payment_intent(charge, paid=False)
    assert world.charge(charge.charge_id).attempts == 0

    declined = {"code": "card_declined", "decline_code": "generic_decline", "message": "No."}
    short = {"code": "card_declined", "decline_code": "insufficient_funds"}
    failed = "payment_intent.payment_failed"
    await world.webhook(intent, failed, event_id="evt_1", last_payment_error=declined)
    assert await world.webhook(intent, failed, event_id="evt_1") == "duplicate"  # Stripe's retry
    await world.webhook(intent, failed, event_id="evt_2", last_payment_error=short)

    assert world.charge(charge.charge_id).attempts == 2
    tries = [h.detail for h in world.history(charge.charge_id) if "attempt" in h.detail]
    assert [(t["attempt"], t["reason"], t["decline_code"]) for t in tries] == [
        (1, "card_declined", "generic_decline"),
        (2, "insufficient_funds", "insufficient_funds"),
    ]
    assert tries[0]["message"] == "No."

    await world.stripe.confirm_on_session(  # the third try, with a good card
        stripe_account=STRIPE_ACCOUNT,
        payment_intent_id=intent,
        payment_method_id=world.stripe.add_card(last4="4242"),
        save_card=False,
        idempotency_key=f"link:{charge.charge_id}:confirm",
    )
    assert await world.webhook(intent) == "completed"
    paid = world.charge(charge.charge_id)
    assert (paid.status, paid.attempts) == (ChargeStatus.SUCCEEDED, 2)


@pytest.mark.parametrize(
    "data",
    [
        [],
        "payment_intent",
        {"object": ["pi_1"]},
        {"object": {"object": "payment_intent", "id": 7, "metadata": {}}},
        {"object": {"object": "payment_intent", "id": "pi_1", "metadata": ["charge_id"]}},
        {"object": {"object": "payment_intent", "id": "pi_1", "metadata": {"charge_id": 5}}},
        {"object": {"object": "payment_intent", "id": "pi_1", "metadata": "x"}},
    ],
)
async def test_a_signed_webhook_of_the_wrong_shape_is_ignored_not_an_error(
    world: World, data: object
) -> None:
    event = {"id": "evt_odd", "type": "payment_intent.succeeded", "data": data}
    assert await world.signed_webhook(event) == "ignored"


async def test_a_signed_webhook_nested_too_deep_is_refused(world: World) -> None:
    depth = 100_000
    payload = ('{"id": "evt_deep", "data": ' + '{"a": ' * depth + "{}" + "}" * depth + "}").encode()
    with pytest.raises(webhooks.InvalidWebhook, match="nested too deep"):
        await webhooks.receive(world.deps, world.uow, payload, sign(payload))


async def test_a_webhook_for_no_charge_of_ours_is_ignored(world: World) -> None:
    intent = await world.stripe.create_payment_intent(
        stripe_account=world.stripe_account,
        amount=100,
        currency="usd",
        customer_id=await world.page_customer(),
        metadata={},
        idempotency_key="someone-else",
        description=None,
    )

    assert await world.webhook(intent.payment_intent_id) == "ignored"
    assert world.uow.state.published == []


@pytest.mark.parametrize(
    ("reason", "failure"),
    [("expired", FailureReason.LINK_EXPIRED), ("cancelled", FailureReason.LINK_CANCELLED)],
)
async def test_a_closed_link_fails_its_charge(
    world: World, reason: str, failure: FailureReason
) -> None:
    charge = await link_charge(world)

    closed = await world.link_closed(charge, reason)  # type: ignore[arg-type]

    assert closed.failure is not None and closed.failure.reason is failure
    [failed] = world.published(PaymentFailed)
    assert failed.reason is failure


async def test_a_closed_link_whose_payment_went_through_is_paid(world: World) -> None:
    charge = await card_waiting_for_the_customer(world)

    closed = await world.link_closed(charge)

    assert closed.status is ChargeStatus.SUCCEEDED
    assert world.published(PaymentSucceeded) and len(world.published(PaymentFailed)) == 1


async def test_a_closed_link_of_a_paid_charge_changes_nothing(world: World) -> None:
    charge = await link_charge(world)
    await world.link_paid(charge, await world.link_payment_intent(charge))

    closed = await world.link_closed(charge)

    assert closed.status is ChargeStatus.SUCCEEDED
    assert world.published(PaymentFailed) == []


async def test_stripe_has_the_last_word_on_an_expired_link(world: World) -> None:
    charge = await link_charge(world)
    await world.link_closed(charge)
    intent = await world.link_payment_intent(charge)

    assert await world.webhook(intent) == "completed"

    paid = world.charge(charge.charge_id)
    assert paid.status is ChargeStatus.SUCCEEDED and paid.failure is None
    assert "Stripe reports it paid after all (Stripe webhook)" in [
        h.note for h in world.history(charge.charge_id)
    ]


async def test_a_payment_signal_leaves_a_charge_an_attempt_has_taken_over(
    world: World,
) -> None:
    declined = world.stripe.add_card()
    world.stripe.decline(declined)
    failed = await world.charge_requested(
        world.request(ChargeMethod.NEW_CARD, payment_method_id=declined)
    )
    assert failed.stripe_payment_intent_id is not None
    intent = world.stripe.intents[failed.stripe_payment_intent_id]
    intent.status, intent.failure = "succeeded", None  # Stripe says otherwise, later

    def another_card_starts() -> None:
        world.uow.state.charges[failed.charge_id] = replace(
            failed, status=ChargeStatus.PROCESSING, attempts=failed.attempts + 1
        )

    world.stripe.meanwhile("retrieve_payment_intent", another_card_starts)
    assert await world.webhook(intent.payment_intent_id) == "ignored"

    assert world.charge(failed.charge_id).status is ChargeStatus.PROCESSING
    assert world.published(PaymentSucceeded) == []


async def test_the_outcome_of_an_attempt_overtaken_meanwhile_is_dropped(world: World) -> None:
    await world.saved_card()
    event = world.request()

    def another_attempt_starts() -> None:
        charge = world.charge(event.charge_id)
        world.uow.state.charges[event.charge_id] = replace(charge, attempts=charge.attempts + 1)

    world.stripe.meanwhile("charge_off_session", another_attempt_starts)
    charge = await world.charge_requested(event)

    assert charge.status is ChargeStatus.PROCESSING and charge.attempts == 2
    assert world.published(PaymentSucceeded) == [] and world.published(PaymentFailed) == []
