"""Over-collection recorded on a paid charge, and the cards and Stripe connection that charges
depend on, through the fake unit of work."""

import uuid

import pytest
from bookpay_shared.consuming import UnprocessableEvent
from bookpay_shared.events import ChargeMethod, PaymentOverCollected, StripeConnectionChanged
from charge_service.adapters.testing import World
from charge_service.domain.model import Charge
from charge_service.usecases import cards, over_collection


async def paid_charge(world: World) -> Charge:
    await world.saved_card()
    return await world.charge_requested(world.request())


def over_collected(charge: Charge, amount: int = 1_500, **changes: object) -> PaymentOverCollected:
    fields: dict[str, object] = {
        "correlation_id": charge.charge_id,
        "charge_id": charge.charge_id,
        "account_id": charge.account_id,
        "customer_id": charge.customer_id,
        "booking_ids": list(charge.booking_ids),
        "amount": charge.amount,
        "currency": charge.currency,
        "unapplied_amount": amount,
        "stripe_payment_intent_id": charge.stripe_payment_intent_id,
        **changes,
    }
    return PaymentOverCollected.model_validate(fields)


async def test_over_collection_is_recorded_once_with_a_history_line(world: World) -> None:
    charge = await paid_charge(world)
    event = over_collected(charge)

    await over_collection.on_payment_over_collected(world.uow, event)
    await over_collection.on_payment_over_collected(world.uow, event)

    recorded = world.charge(charge.charge_id)
    assert recorded.over_collected == 1_500
    assert recorded.status is charge.status
    lines = [h for h in world.history(charge.charge_id) if "over the bookings" in h.note]
    assert len(lines) == 1 and lines[0].detail["over_collected"] == 1_500


async def test_over_collection_of_an_unknown_charge_is_unprocessable(world: World) -> None:
    charge = await paid_charge(world)
    with pytest.raises(UnprocessableEvent):
        await over_collection.on_payment_over_collected(
            world.uow, over_collected(charge, charge_id=uuid.uuid4())
        )
    with pytest.raises(UnprocessableEvent):
        await over_collection.on_payment_over_collected(
            world.uow, over_collected(charge, account_id=uuid.uuid4())
        )
    assert world.charge(charge.charge_id).over_collected is None


async def test_over_collection_in_another_currency_is_unprocessable(world: World) -> None:
    charge = await paid_charge(world)
    with pytest.raises(UnprocessableEvent, match="usd, not eur"):
        await over_collection.on_payment_over_collected(
            world.uow, over_collected(charge, currency="eur")
        )
    assert world.uow.rollbacks >= 1 and world.charge(charge.charge_id).over_collected is None


async def test_the_first_saved_card_is_the_default_and_one_stripe_customer_is_made(
    world: World,
) -> None:
    first = await world.saved_card(last4="1111")
    second = await world.saved_card(last4="2222")

    listed = await cards.list_cards(world.uow, world.account, world.customer)

    assert [(c.payment_method_id, c.is_default) for c in listed] == [
        (first, True),
        (second, False),
    ]
    assert len(world.stripe.calls_to("create_customer")) == 1
    assert len(world.uow.state.stripe_customers) == 1


async def test_a_card_saved_as_default_takes_over(world: World) -> None:
    first = await world.saved_card()
    second = await world.saved_card(make_default=True)

    defaults = [c.payment_method_id for c in world.uow.state.cards.values() if c.is_default]
    assert defaults == [second] and first != second
    assert (
        world.stripe.calls_to("set_default_payment_method")[-1].kwargs["payment_method_id"]
        == second
    )


async def test_removing_the_default_card_makes_the_newest_other_the_default(
    world: World,
) -> None:
    default = await world.saved_card(last4="1111")
    await world.saved_card(last4="2222")
    newest = await world.saved_card(last4="3333")

    await cards.remove_card(world.deps, world.uow, world.account, world.customer, default)

    listed = await cards.list_cards(world.uow, world.account, world.customer)
    assert default not in [c.payment_method_id for c in listed]
    assert [c.payment_method_id for c in listed if c.is_default] == [newest]


async def test_a_removed_card_is_not_charged(world: World) -> None:
    card = await world.saved_card()
    await cards.remove_card(world.deps, world.uow, world.account, world.customer, card)

    charge = await world.charge_requested(world.request())

    assert charge.failure is not None and charge.failure.reason.value == "no_card_on_file"


async def test_a_card_for_an_unknown_customer_is_refused(world: World) -> None:
    with pytest.raises(cards.UnknownCustomer):
        await cards.save_card(
            world.deps, world.uow, world.account, uuid.uuid4(), "pm_x", make_default=False
        )
    assert world.stripe.calls == []


async def test_a_card_without_a_stripe_connection_is_refused(world: World) -> None:
    del world.uow.state.connections[world.account]
    with pytest.raises(cards.NotConnected):
        await world.saved_card()
    assert world.uow.state.cards == {}


async def test_a_card_of_another_customer_cannot_be_removed(world: World) -> None:
    card = await world.saved_card()
    someone = uuid.uuid4()
    world.uow.add_customer(world.account, someone)

    with pytest.raises(cards.UnknownCard):
        await cards.remove_card(world.deps, world.uow, world.account, someone, card)
    assert world.stripe.calls_to("detach_payment_method") == []


async def test_connecting_stripe_is_recorded_and_announced_once(world: World) -> None:
    account = uuid.uuid4()
    stripe_account = world.stripe.connect_account("acct_unit_new")

    history, _ = await cards.connect_stripe(
        world.deps, world.uow, account, stripe_account, connected_by="key:unit"
    )
    again, _ = await cards.connect_stripe(
        world.deps, world.uow, account, stripe_account, connected_by="key:unit"
    )

    assert [c.stripe_account_id for c in history] == [stripe_account]
    assert len(again) == 1
    [announced] = world.published(StripeConnectionChanged)
    assert (announced.account_id, announced.version) == (account, 1)


async def test_a_stripe_account_belongs_to_one_account(world: World) -> None:
    with pytest.raises(cards.StripeAccountInUse):
        await cards.connect_stripe(
            world.deps, world.uow, uuid.uuid4(), world.stripe_account, connected_by="key:unit"
        )
    assert world.published(StripeConnectionChanged) == []


async def test_a_charge_keeps_the_stripe_account_it_started_on(world: World) -> None:
    card = await world.saved_card()
    world.stripe.require_authentication(card)
    charge = await world.charge_requested(world.request())
    new_stripe = world.stripe.connect_account("acct_unit_other")
    await cards.connect_stripe(
        world.deps, world.uow, world.account, new_stripe, connected_by="key:unit"
    )
    assert charge.stripe_payment_intent_id is not None

    world.stripe.cards[card].requires_authentication = False
    await world.stripe.confirm_on_session(
        stripe_account=world.stripe_account,
        payment_intent_id=charge.stripe_payment_intent_id,
        payment_method_id=card,
        save_card=False,
        idempotency_key="page",
    )
    await world.sweep()

    paid = world.charge(charge.charge_id)
    assert paid.status.value == "succeeded"
    assert paid.stripe_account_id == world.stripe_account


async def test_a_payment_link_is_not_a_card_on_file(world: World) -> None:
    """A payment-link request never looks at the saved cards."""
    await world.saved_card()
    charge = await world.charge_requested(world.request(ChargeMethod.PAYMENT_LINK))
    assert charge.payment_method_id is None and charge.attempts == 0
