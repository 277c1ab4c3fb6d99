"""Connecting an account's Stripe account: Stripe is asked first, and an account it does not
know, or that is not connected to our platform, is refused before anything is recorded."""

import uuid

import pytest
from bookpay_shared.consuming import TransientError
from bookpay_shared.faults import NO_FAULTS
from charge_service.adapters.fake_stripe import FakeStripeGateway
from charge_service.adapters.fake_unit_of_work import FakeUnitOfWork
from charge_service.adapters.memory_stripe import MemoryStripeGateway
from charge_service.usecases import cards
from charge_service.usecases.deps import Deps
from charge_service.usecases.stripe_types import StripeGateway


def deps(stripe: StripeGateway) -> Deps:
    # No database: a refused account must be refused before anything is recorded.
    return Deps(stripe=stripe, faults=NO_FAULTS, stripe_max_attempts=2)


async def test_an_account_connected_to_the_platform_is_verified_with_stripe() -> None:
    stripe = FakeStripeGateway()
    connected = stripe.connect_account()

    account = await cards.verify_stripe_account(deps(stripe), connected)

    assert account.stripe_account_id == connected and account.charges_enabled
    assert [(c.method, c.kwargs.get("stripe_account_id")) for c in stripe.calls] == [
        ("platform_account_id", None),
        ("retrieve_connected_account", connected),
    ]


async def test_an_account_still_onboarding_is_verified_and_says_so() -> None:
    stripe = FakeStripeGateway()
    onboarding = stripe.connect_account(charges_enabled=False)

    account = await cards.verify_stripe_account(deps(stripe), onboarding)

    assert not account.charges_enabled and not account.details_submitted


async def test_an_unknown_account_is_not_connected_and_nothing_is_recorded() -> None:
    stripe = FakeStripeGateway()
    stripe.connect_account()

    uow = FakeUnitOfWork()

    with pytest.raises(cards.NotConnectedToPlatform, match="acct_1SomeoneElse"):
        await cards.connect_stripe(
            deps(stripe), uow, uuid.uuid4(), "acct_1SomeoneElse", connected_by="staff"
        )
    assert uow.state.connection_changes == [] and uow.state.published == []


async def test_stripe_unreachable_is_retried_then_reported_as_transient() -> None:
    stripe = FakeStripeGateway()
    connected = stripe.connect_account()
    stripe.fail_next(2)

    with pytest.raises(TransientError):
        await cards.verify_stripe_account(deps(stripe), connected)


async def test_the_memory_stand_in_takes_any_account_as_connected() -> None:
    stripe = MemoryStripeGateway()

    account = await cards.verify_stripe_account(deps(stripe), "acct_bench")

    assert account.stripe_account_id == "acct_bench"


async def test_the_platforms_own_account_is_refused_though_stripe_answers_for_it() -> None:
    stripe = FakeStripeGateway()

    with pytest.raises(cards.NotConnectedToPlatform, match="platform's own account"):
        await cards.verify_stripe_account(deps(stripe), stripe.platform_account)
    assert "retrieve_connected_account" not in [c.method for c in stripe.calls]
