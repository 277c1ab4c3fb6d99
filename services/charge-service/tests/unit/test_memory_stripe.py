"""The in-memory Stripe stand-in for benchmarks: test cards, latency and the concurrency cap.
No assertion depends on how long anything takes."""

import asyncio
from typing import Any

import pytest
from charge_service.adapters.memory_stripe import MemoryStripeGateway
from charge_service.main import _stripe_gateway
from charge_service.settings import ChargeSettings
from pydantic import ValidationError

ACCOUNT = "acct_bench"


async def customer_with_card(
    stripe: MemoryStripeGateway, n: int, test_card: str = "pm_card_visa"
) -> tuple[str, str]:
    customer = await stripe.create_customer(
        stripe_account=ACCOUNT,
        email=None,
        name=None,
        metadata={},
        idempotency_key=f"customer:{n}",
    )
    card = await stripe.attach_payment_method(
        stripe_account=ACCOUNT, customer_id=customer, payment_method_id=test_card
    )
    return customer, card.payment_method_id


async def charge(stripe: MemoryStripeGateway, customer: str, card: str, n: int) -> Any:
    return await stripe.charge_off_session(
        stripe_account=ACCOUNT,
        amount=1000,
        currency="usd",
        customer_id=customer,
        payment_method_id=card,
        metadata={"charge_id": f"c{n}"},
        idempotency_key=f"charge:c{n}",
        description=None,
    )


async def test_a_test_card_saved_twice_becomes_two_payment_methods_that_can_be_charged() -> None:
    stripe = MemoryStripeGateway()
    customer, first = await customer_with_card(stripe, 1)
    second = await stripe.attach_payment_method(
        stripe_account=ACCOUNT, customer_id=customer, payment_method_id="pm_card_visa"
    )

    paid = await charge(stripe, customer, first, 1)

    assert first != second.payment_method_id
    assert first.startswith("pm_") and second.payment_method_id.startswith("pm_")
    assert (second.brand, second.last4) == ("visa", "4242")
    assert paid.succeeded and paid.card.last4 == "4242"


async def test_an_instance_charges_a_card_another_instance_saved_with_ids_of_its_own() -> None:
    one, other = MemoryStripeGateway(), MemoryStripeGateway()
    customer, visa = await customer_with_card(one, 1)
    poor, declined = await customer_with_card(one, 2, "pm_card_chargeDeclinedInsufficientFunds")

    here = await charge(one, customer, visa, 1)
    there = await charge(other, customer, visa, 2)
    refused = await charge(other, poor, declined, 3)

    assert here.succeeded and there.succeeded and there.card.last4 == "4242"
    assert here.payment_intent_id != there.payment_intent_id
    assert not refused.succeeded and refused.failure.decline_code == "insufficient_funds"


async def test_test_cards_decline_and_want_authentication_as_stripe_s_do() -> None:
    stripe = MemoryStripeGateway()
    customer, declined = await customer_with_card(stripe, 1, "pm_card_chargeDeclined")
    other, needs_3ds = await customer_with_card(stripe, 2, "pm_card_authenticationRequired")

    refused = await charge(stripe, customer, declined, 1)
    unauthenticated = await charge(stripe, other, needs_3ds, 2)

    assert refused.failure.reason == "card_declined"
    assert unauthenticated.failure.reason == "authentication_required"


async def test_the_cap_keeps_at_most_two_calls_in_flight() -> None:
    stripe = MemoryStripeGateway(latency_ms=5, max_concurrent=2)
    customers = [await customer_with_card(stripe, n) for n in range(3)]
    stripe.most_in_flight = 0

    results = await asyncio.gather(*(charge(stripe, *customers[n % 3], n) for n in range(12)))

    assert all(result.succeeded for result in results)
    assert stripe.most_in_flight == 2
    assert stripe.in_flight == 0


async def test_without_a_cap_every_call_waits_out_its_latency_at_the_same_time() -> None:
    stripe = MemoryStripeGateway(latency_ms=5)
    customer, card = await customer_with_card(stripe, 1)
    stripe.most_in_flight = 0

    await asyncio.gather(*(charge(stripe, customer, card, n) for n in range(20)))

    # All 20 were started in one turn of the event loop, before any sleep could end.
    assert stripe.most_in_flight == 20


def settings(**values: Any) -> ChargeSettings:
    return ChargeSettings(
        database_url="postgresql://u:p@127.0.0.1/charge",
        stripe_secret_key="sk_test_bench",
        **values,
    )


def test_the_memory_stand_in_is_chosen_by_its_setting() -> None:
    chosen = _stripe_gateway(
        settings(stripe_stand_in="memory", stripe_latency_ms=2.5, stripe_max_concurrent=4)
    )
    assert isinstance(chosen, MemoryStripeGateway)


def test_the_memory_stand_in_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="memory"):
        ChargeSettings(
            database_url="postgresql://u:p@db/charge",
            stripe_secret_key="sk_live_real_key",
            environment="production",
            stripe_stand_in="memory",
            kafka_security_protocol="SASL_SSL",
            kafka_username="charge-service",
            kafka_password="Zr4kP9wLm2Qx7VbN5tHc",
        )
