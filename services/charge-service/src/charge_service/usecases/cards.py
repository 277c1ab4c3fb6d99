"""Stripe connections and the cards saved on customers' profiles.

A Stripe connection is recorded only once Stripe confirms that the Stripe account is connected
to our platform; every connection is kept in the account's history, with who made it and when.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

from bookpay_shared import projections
from bookpay_shared.events import StripeConnectionChanged

from charge_service.domain.model import NOT_CONNECTED, SavedCard, StripeConnection
from charge_service.usecases.deps import Deps, stripe_call
from charge_service.usecases.stripe_types import (
    CardDetails,
    ConnectedAccount,
    StripeAccountNotConnected,
)
from charge_service.usecases.unit_of_work import StripeAccountTaken, UnitOfWork


class NotConnected(Exception):
    """The account has not connected a Stripe account."""


class NotConnectedToPlatform(Exception):
    """Stripe says the Stripe account does not exist or is not connected to our platform (the
    platform's own account included: charges on it would be the platform's, not the
    business's)."""


class StripeAccountInUse(Exception):
    """Another account is connected to this Stripe account: one business's Stripe account
    (its customers, cards and payouts) belongs to one account here."""


class UnknownCustomer(LookupError):
    pass


class UnknownCard(LookupError):
    pass


async def verify_stripe_account(deps: Deps, stripe_account_id: str) -> ConnectedAccount:
    """Ask Stripe whether the account exists and is connected to our platform, and refuse the
    platform's own account (Stripe answers for it too, but it is no business's account)."""
    if stripe_account_id == await stripe_call(deps, deps.stripe.platform_account_id):
        raise NotConnectedToPlatform(
            f"Stripe account {stripe_account_id} is the platform's own account, not an account "
            "connected to it; connect the business's own Stripe account"
        )
    try:
        return await stripe_call(
            deps,
            lambda: deps.stripe.retrieve_connected_account(stripe_account_id=stripe_account_id),
        )
    except StripeAccountNotConnected as exc:
        raise NotConnectedToPlatform(
            f"Stripe account {stripe_account_id} does not exist or is not connected to this "
            "platform; connect it through Stripe Connect onboarding first"
        ) from exc


async def connect_stripe(
    deps: Deps,
    uow: UnitOfWork,
    account_id: uuid.UUID,
    stripe_account_id: str,
    *,
    connected_by: str,
) -> tuple[list[StripeConnection], ConnectedAccount]:
    """Record the account's Stripe connection, once Stripe confirms that the Stripe account is
    connected to our platform, and announce it to other services. Connecting the account it is
    connected to already changes nothing. Charges and links made before keep the Stripe
    account they were made on. Returns the account's connections, newest (current) first."""
    stripe_account = await verify_stripe_account(deps, stripe_account_id)
    in_use = StripeAccountInUse(
        f"Stripe account {stripe_account_id} is connected to another account; a Stripe account "
        "belongs to one account (disconnect it there first)"
    )
    try:
        async with uow:
            holder = await uow.connections.account_connected_to(stripe_account_id)
            if holder is not None and holder != account_id:
                raise in_use
            change = await uow.connections.record(account_id, stripe_account_id, connected_by)
            if change is not None:
                await uow.outbox.enqueue(
                    StripeConnectionChanged(
                        correlation_id=account_id,
                        account_id=account_id,
                        stripe_account_id=stripe_account_id,
                        version=change.version,
                    ),
                )
            history = await uow.connections.history(account_id)
            await uow.commit()
    except StripeAccountTaken as exc:  # another account connected it just now
        raise in_use from exc
    return history, stripe_account


async def _connected_customer(
    uow: UnitOfWork, account_id: uuid.UUID, customer_id: uuid.UUID
) -> tuple[str, projections.KnownCustomer]:
    async with uow:
        stripe_account = await uow.connections.current(account_id)
        customer = await uow.records.customer(account_id, customer_id)
    if customer is None:
        raise UnknownCustomer(f"customer {customer_id} not found in account {account_id}")
    if stripe_account is None:
        raise NotConnected(NOT_CONNECTED.message)
    return stripe_account, customer


async def ensure_stripe_customer(
    deps: Deps, uow: UnitOfWork, customer: projections.KnownCustomer, stripe_account: str
) -> str:
    """The customer's Stripe customer on the connected account, created the first time."""
    async with uow:
        existing = await uow.cards.stripe_customer(customer.customer_id, stripe_account)
    if existing:
        return existing
    created = await stripe_call(
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
    async with uow:
        recorded = await uow.cards.add_stripe_customer(
            customer.customer_id, stripe_account, created
        )
        await uow.commit()
    return recorded


async def save_card(
    deps: Deps,
    uow: UnitOfWork,
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    payment_method_id: str,
    *,
    make_default: bool,
) -> SavedCard:
    """Attach a Stripe.js-tokenized card to the customer's Stripe customer and record it."""
    stripe_account, customer = await _connected_customer(uow, account_id, customer_id)
    stripe_customer = await ensure_stripe_customer(deps, uow, customer, stripe_account)
    details = await stripe_call(
        deps,
        lambda: deps.stripe.attach_payment_method(
            stripe_account=stripe_account,
            customer_id=stripe_customer,
            payment_method_id=payment_method_id,
        ),
    )
    async with uow:
        card = await record_card(
            uow, account_id, customer_id, stripe_account, details, make_default=make_default
        )
        await uow.commit()
    if card.is_default:
        await _set_stripe_default(deps, stripe_account, stripe_customer, card.payment_method_id)
    return card


async def record_card(
    uow: UnitOfWork,
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    stripe_account: str,
    details: CardDetails,
    *,
    make_default: bool,
) -> SavedCard:
    """Record a card attached in Stripe; it becomes the default when asked or when the customer
    had none. Call inside the unit of work's transaction."""
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
    await uow.cards.add(card)
    cards = await uow.cards.list(customer_id, stripe_account)
    if make_default or not any(
        c.is_default for c in cards if c.payment_method_id != card.payment_method_id
    ):
        await uow.cards.make_default(customer_id, stripe_account, card.payment_method_id)
        card = replace(card, is_default=True)
    return card


async def record_consent(
    uow: UnitOfWork,
    card: SavedCard,
    *,
    charge_id: uuid.UUID,
    text: str,
    given_by: str,
    given_at: datetime,
) -> None:
    await uow.cards.record_consent(
        payment_method_id=card.payment_method_id,
        charge_id=charge_id,
        customer_id=card.customer_id,
        text=text,
        given_by=given_by,
        given_at=given_at,
    )


async def _set_stripe_default(
    deps: Deps, stripe_account: str, stripe_customer: str, payment_method_id: str
) -> None:
    await stripe_call(
        deps,
        lambda: deps.stripe.set_default_payment_method(
            stripe_account=stripe_account,
            customer_id=stripe_customer,
            payment_method_id=payment_method_id,
        ),
    )


async def list_cards(
    uow: UnitOfWork, account_id: uuid.UUID, customer_id: uuid.UUID
) -> list[SavedCard]:
    async with uow:
        stripe_account = await uow.connections.current(account_id)
        if await uow.records.customer(account_id, customer_id) is None:
            raise UnknownCustomer(f"customer {customer_id} not found in account {account_id}")
        if stripe_account is None:
            return []
        return await uow.cards.list(customer_id, stripe_account)


async def _owned_card(
    uow: UnitOfWork, account_id: uuid.UUID, customer_id: uuid.UUID, payment_method_id: str
) -> tuple[str, SavedCard]:
    stripe_account, _ = await _connected_customer(uow, account_id, customer_id)
    async with uow:
        card = await uow.cards.get(customer_id, payment_method_id)
    if card is None or card.stripe_account_id != stripe_account:
        raise UnknownCard(f"card {payment_method_id} is not on this customer's profile")
    return stripe_account, card


async def set_default_card(
    deps: Deps,
    uow: UnitOfWork,
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    payment_method_id: str,
) -> SavedCard:
    stripe_account, card = await _owned_card(uow, account_id, customer_id, payment_method_id)
    async with uow:
        stripe_customer = await uow.cards.stripe_customer(customer_id, stripe_account)
    assert stripe_customer is not None
    await _set_stripe_default(deps, stripe_account, stripe_customer, payment_method_id)
    async with uow:
        await uow.cards.make_default(customer_id, stripe_account, payment_method_id)
        await uow.commit()
    return replace(card, is_default=True)


async def remove_card(
    deps: Deps,
    uow: UnitOfWork,
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    payment_method_id: str,
) -> None:
    """Detach the card in Stripe and take it off the profile; the newest other card becomes
    the default if this one was."""
    stripe_account, card = await _owned_card(uow, account_id, customer_id, payment_method_id)
    await stripe_call(
        deps,
        lambda: deps.stripe.detach_payment_method(
            stripe_account=stripe_account, payment_method_id=payment_method_id
        ),
    )
    async with uow:
        await uow.cards.remove(payment_method_id)
        remaining = await uow.cards.list(customer_id, stripe_account)
        if card.is_default and remaining:
            await uow.cards.make_default(
                customer_id, stripe_account, remaining[-1].payment_method_id
            )
        await uow.commit()
