"""charge-service's HTTP API (v1): thin routes that validate input and call one handler."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from bookpay_shared.auth import Identity, Scope, authorized
from bookpay_shared.backoff import Backoff
from bookpay_shared.consuming import TransientError
from bookpay_shared.db import Pool
from bookpay_shared.events import BookingIds, ChargeMethod, check_method_fields
from bookpay_shared.guards import client_address
from bookpay_shared.http import NOT_FOUND, ErrorAnswer, ErrorAnswers, NotFound, RateLimited
from bookpay_shared.money import Currency, PositiveAmount
from bookpay_shared.ratelimit import RateLimiter
from bookpay_shared.text import Count, Flag, Paragraphs
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from charge_service.adapters.postgres_unit_of_work import PostgresUnitOfWork
from charge_service.domain.model import Charge
from charge_service.entrypoints import views
from charge_service.usecases import accepting, cards, charging, webhooks
from charge_service.usecases.deps import Deps
from charge_service.usecases.stripe_types import StripeRequestRejected

router = APIRouter()
webhook_router = APIRouter()
"""Stripe's webhook, served alone on its own port (see main)."""
T = TypeVar("T")

PM_PATTERN = r"^pm_[A-Za-z0-9_]+$"
Reads = authorized(Scope.READ)
WritesCards = authorized(Scope.CARDS_WRITE)
ChargesCaller = Annotated[Identity, authorized(Scope.CHARGES_WRITE)]
ConnectsStripe = Annotated[Identity, authorized(Scope.ACCOUNTS_WRITE)]


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


def get_pool(request: Request) -> Pool:
    pool: Pool = request.app.state.pool
    return pool


def get_uow(request: Request) -> PostgresUnitOfWork:
    """A unit of work for this request: each use case runs its transactions in it."""
    return PostgresUnitOfWork(get_pool(request))


Uow = Annotated[PostgresUnitOfWork, Depends(get_uow)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConnectionIn(Strict):
    stripe_account_id: str = Field(pattern=r"^acct_[A-Za-z0-9_]+$", max_length=255)


class PaymentMethodIn(Strict):
    payment_method_id: str = Field(pattern=PM_PATTERN, max_length=255)
    make_default: Flag = False


class NewCardIn(Strict):
    payment_method_id: str = Field(pattern=PM_PATTERN, max_length=255)
    save_card: Flag = False
    save_card_consent: Paragraphs | None = Field(default=None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _consent(self) -> NewCardIn:
        if self.save_card and not self.save_card_consent:
            raise ValueError(
                "save_card_consent (the consent text the customer agreed to) is required to save the card"
            )
        return self


class ChargeIn(Strict):
    charge_id: uuid.UUID | None = None
    customer_id: uuid.UUID
    booking_ids: BookingIds
    amount: PositiveAmount
    currency: Currency
    method: ChargeMethod
    payment_method_id: str | None = Field(default=None, pattern=PM_PATTERN, max_length=255)
    save_card: Flag = False
    save_card_consent: Paragraphs | None = Field(default=None, min_length=1, max_length=1000)
    message: Paragraphs | None = Field(default=None, max_length=2000)
    fallback_to_link: Flag = True
    link_expires_in_hours: Count | None = Field(default=None, ge=1, le=24 * 90)

    @model_validator(mode="after")
    def _consistent(self) -> ChargeIn:
        if len(set(self.booking_ids)) != len(self.booking_ids):
            raise ValueError("booking_ids must not repeat a booking")
        check_method_fields(
            self.method,
            payment_method_id=self.payment_method_id,
            save_card=self.save_card,
            save_card_consent=self.save_card_consent,
            link_expires_in_hours=self.link_expires_in_hours,
        )
        return self

    def charge(self, account_id: uuid.UUID, requested_by: str) -> Charge:
        """The charge, asked for by `requested_by` (the caller's credential, never the body)."""
        return Charge(
            charge_id=self.charge_id or uuid.uuid4(),
            account_id=account_id,
            customer_id=self.customer_id,
            booking_ids=tuple(self.booking_ids),
            amount=self.amount,
            currency=self.currency,
            method=self.method,
            payment_method_id=self.payment_method_id,
            save_card=self.save_card,
            message=self.message,
            requested_by=requested_by,
            save_card_consent=self.save_card_consent,
            fallback_to_link=self.fallback_to_link,
            link_expires_in_hours=self.link_expires_in_hours,
        )


class ChargeAccepted(BaseModel):
    charge_id: uuid.UUID
    status: str


ERROR_ANSWERS: ErrorAnswers = {
    cards.UnknownCustomer: NOT_FOUND,
    cards.UnknownCard: NOT_FOUND,
    charging.UnknownCharge: NOT_FOUND,
    cards.NotConnected: ErrorAnswer(409, "stripe_not_connected"),
    cards.NotConnectedToPlatform: ErrorAnswer(422, "stripe_account_not_connected"),
    cards.StripeAccountInUse: ErrorAnswer(409, "stripe_account_in_use"),
    accepting.InvalidCharge: ErrorAnswer(422, "charge_mismatch"),
    accepting.ChargeConflict: ErrorAnswer(409, "charge_id_conflict"),
    charging.CannotRetry: ErrorAnswer(409, "charge_not_retryable"),
    charging.TooManyAttempts: ErrorAnswer(429, "too_many_attempts"),
    StripeRequestRejected: ErrorAnswer(422, "stripe_rejected", "Stripe refused the card: "),
    TransientError: ErrorAnswer(503, "stripe_unavailable", retry_after=1),
    webhooks.InvalidWebhook: ErrorAnswer(400, "invalid_webhook"),
}
"""How the use cases' errors are answered (installed on both apps by main)."""


PROJECTION_WAIT = 2.0
"""Seconds a call naming a customer or booking this service does not know yet is tried again
before it is answered: one booking-service created a moment ago is on its way here through
Kafka (read your writes across services)."""


async def _once_known(work: Callable[[], Awaitable[T]], wait: float = PROJECTION_WAIT) -> T:
    """`work`, tried again for up to `wait` seconds while it names a customer or booking not
    known here yet (those use cases refuse before any effect, so trying again is safe); then
    its refusal, saying the entity may still be on its way."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    delays = Backoff(base=0.05, cap=0.5).delays()
    while True:
        try:
            return await work()
        except (cards.UnknownCustomer, accepting.UnknownBookings) as exc:
            delay = next(delays)
            if loop.time() + delay > deadline:
                raise type(exc)(
                    f"{exc} (one created a moment ago may still be on its way here: "
                    "try again shortly)"
                ) from exc
            await asyncio.sleep(delay)


@router.put(
    "/v1/accounts/{account_id}/stripe-connection",
    responses={
        409: {
            "description": "`stripe_account_in_use`: another account is connected to this "
            "Stripe account; nothing is recorded"
        },
        422: {
            "description": "`stripe_account_not_connected`: Stripe does not know the "
            "account, it is not connected to this platform, or it is the platform's own "
            "account; nothing is recorded"
        },
    },
)
async def connect_stripe(
    account_id: uuid.UUID,
    body: ConnectionIn,
    caller: ConnectsStripe,
    uow: Uow,
    deps: Deps = Depends(get_deps),
) -> views.ConnectionOut:
    """Connect the account to a Stripe account already connected to this platform (through
    Stripe Connect onboarding). Stripe is asked first; charges and links made before keep the
    Stripe account they were made on."""
    history, stripe_account = await _once_known(
        lambda: cards.connect_stripe(
            deps, uow, account_id, body.stripe_account_id, connected_by=caller.subject
        )
    )
    return views.ConnectionOut.of(history, charges_enabled=stripe_account.charges_enabled)


@router.get("/v1/accounts/{account_id}/stripe-connection", dependencies=[Reads])
async def get_stripe_connection(account_id: uuid.UUID, uow: Uow) -> views.ConnectionOut:
    async with uow:
        history = await uow.connections.history(account_id)
    if not history:
        raise NotFound(
            "this account has not connected a Stripe account", code="stripe_not_connected"
        )
    return views.ConnectionOut.of(history)


CUSTOMER_CARDS = "/v1/accounts/{account_id}/customers/{customer_id}/payment-methods"


@router.post(CUSTOMER_CARDS, status_code=201, dependencies=[WritesCards])
async def save_payment_method(
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    body: PaymentMethodIn,
    uow: Uow,
    deps: Deps = Depends(get_deps),
) -> views.CardOut:
    card = await _once_known(
        lambda: cards.save_card(
            deps,
            uow,
            account_id,
            customer_id,
            body.payment_method_id,
            make_default=body.make_default,
        )
    )
    return views.CardOut.of(card)


@router.get(CUSTOMER_CARDS, dependencies=[Reads])
async def list_payment_methods(
    account_id: uuid.UUID, customer_id: uuid.UUID, uow: Uow
) -> dict[str, list[views.CardOut]]:
    listed = await _once_known(lambda: cards.list_cards(uow, account_id, customer_id))
    return {"payment_methods": [views.CardOut.of(c) for c in listed]}


@router.post(CUSTOMER_CARDS + "/{payment_method_id}/default", dependencies=[WritesCards])
async def make_default_payment_method(
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    payment_method_id: str,
    uow: Uow,
    deps: Deps = Depends(get_deps),
) -> views.CardOut:
    card = await _once_known(
        lambda: cards.set_default_card(deps, uow, account_id, customer_id, payment_method_id)
    )
    return views.CardOut.of(card)


@router.delete(CUSTOMER_CARDS + "/{payment_method_id}", status_code=204, dependencies=[WritesCards])
async def remove_payment_method(
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    payment_method_id: str,
    uow: Uow,
    deps: Deps = Depends(get_deps),
) -> None:
    await _once_known(
        lambda: cards.remove_card(deps, uow, account_id, customer_id, payment_method_id)
    )


@router.post("/v1/accounts/{account_id}/charges", status_code=202)
async def create_charge(
    account_id: uuid.UUID, body: ChargeIn, caller: ChargesCaller, uow: Uow
) -> ChargeAccepted:
    charge = body.charge(account_id, requested_by=caller.subject)
    recorded, _ = await _once_known(lambda: accepting.request_charge(uow, charge))
    return ChargeAccepted(charge_id=recorded.charge_id, status=recorded.status.value)


def limit_attempts(request: Request, account_id: uuid.UUID) -> None:
    """New-card attempts are rate limited per account and per client address."""
    limiter: RateLimiter = request.app.state.attempt_limiter
    client = client_address(request, request.app.state.trusted_proxies)
    wait = max(limiter.allow(f"account:{account_id}"), limiter.allow(f"client:{client}"))
    if wait:
        raise RateLimited(wait, "too many card attempts; wait a moment and try again")


@router.post(
    "/v1/accounts/{account_id}/charges/{charge_id}/attempts",
    # The credential first: a caller who is refused spends nothing of the account's limit.
    dependencies=[authorized(Scope.CHARGES_WRITE), Depends(limit_attempts)],
)
async def try_another_card(
    account_id: uuid.UUID,
    charge_id: uuid.UUID,
    body: NewCardIn,
    uow: Uow,
    deps: Deps = Depends(get_deps),
) -> dict[str, Any]:
    """Another card for a new-card charge whose card failed: same charge, same PaymentIntent.
    A charge takes at most `CHARGE_MAX_ATTEMPTS_PER_CHARGE` attempts in all (429
    `too_many_attempts` after that)."""
    charge = await _once_known(
        lambda: charging.try_another_card(
            deps,
            uow,
            account_id,
            charge_id,
            payment_method_id=body.payment_method_id,
            save_card=body.save_card,
            save_card_consent=body.save_card_consent,
        )
    )
    return await views.charge_view(uow, charge)


@router.get("/v1/accounts/{account_id}/charges/{charge_id}", dependencies=[Reads])
async def get_charge(account_id: uuid.UUID, charge_id: uuid.UUID, uow: Uow) -> dict[str, Any]:
    async with uow:
        charge = await uow.charges.get(charge_id)
    if charge is None or charge.account_id != account_id:
        raise NotFound(f"charge {charge_id} not found in account {account_id}")
    return await views.charge_view(uow, charge)


@webhook_router.post("/v1/stripe/webhooks")
async def stripe_webhook(
    request: Request, uow: Uow, deps: Deps = Depends(get_deps)
) -> dict[str, str]:
    payload = await request.body()
    outcome = await webhooks.receive(deps, uow, payload, request.headers.get("stripe-signature"))
    return {"received": outcome}
