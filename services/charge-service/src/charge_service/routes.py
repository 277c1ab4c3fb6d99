"""charge-service's HTTP API (v1): thin routes that validate input and call one handler."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from bookpay_shared.consuming import TransientError
from bookpay_shared.events import BookingIds, ChargeMethod
from bookpay_shared.http import ApiError, Conflict, NotFound, Unprocessable
from bookpay_shared.money import Currency, PositiveAmount
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from charge_service import handlers
from charge_service import repository as repo
from charge_service.domain import Charge, SavedCard
from charge_service.stripe_types import StripeRequestRejected

router = APIRouter(prefix="/v1")

PM_PATTERN = r"^pm_[A-Za-z0-9_]+$"


def get_deps(request: Request) -> handlers.Deps:
    deps: handlers.Deps = request.app.state.deps
    return deps


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConnectionIn(Strict):
    stripe_account_id: str = Field(pattern=r"^acct_[A-Za-z0-9]+$", max_length=255)


class PaymentMethodIn(Strict):
    payment_method_id: str = Field(pattern=PM_PATTERN, max_length=255)
    make_default: bool = False


class ChargeIn(Strict):
    charge_id: uuid.UUID | None = None
    customer_id: uuid.UUID
    booking_ids: BookingIds
    amount: PositiveAmount
    currency: Currency
    method: ChargeMethod
    payment_method_id: str | None = Field(default=None, pattern=PM_PATTERN, max_length=255)
    save_card: bool = False
    message: str | None = Field(default=None, max_length=2000)
    requested_by: str = Field(default="staff", min_length=1, max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> ChargeIn:
        if len(set(self.booking_ids)) != len(self.booking_ids):
            raise ValueError("booking_ids must not repeat a booking")
        if self.method is ChargeMethod.NEW_CARD and not self.payment_method_id:
            raise ValueError("payment_method_id is required for method new_card")
        if self.save_card and self.method is not ChargeMethod.NEW_CARD:
            raise ValueError("save_card applies only to method new_card")
        return self


class CardOut(BaseModel):
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    is_default: bool

    @classmethod
    def of(cls, c: SavedCard) -> CardOut:
        return cls(
            payment_method_id=c.payment_method_id,
            brand=c.brand,
            last4=c.last4,
            exp_month=c.exp_month,
            exp_year=c.exp_year,
            is_default=c.is_default,
        )


class ChargeAccepted(BaseModel):
    charge_id: uuid.UUID
    status: str


@router.put("/accounts/{account_id}/stripe-connection")
async def connect_stripe(
    account_id: uuid.UUID, body: ConnectionIn, deps: handlers.Deps = Depends(get_deps)
) -> dict[str, Any]:
    await handlers.connect_stripe(deps.pool, account_id, body.stripe_account_id)
    return {
        "account_id": account_id,
        "stripe_account_id": body.stripe_account_id,
        "connected": True,
    }


@router.get("/accounts/{account_id}/stripe-connection")
async def get_stripe_connection(
    account_id: uuid.UUID, deps: handlers.Deps = Depends(get_deps)
) -> dict[str, Any]:
    async with deps.pool.acquire() as conn:
        stripe_account = await repo.get_connection(conn, account_id)
    if stripe_account is None:
        raise NotFound(
            "this account has not connected a Stripe account", code="stripe_not_connected"
        )
    return {"account_id": account_id, "stripe_account_id": stripe_account, "connected": True}


@router.post("/accounts/{account_id}/customers/{customer_id}/payment-methods", status_code=201)
async def save_payment_method(
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    body: PaymentMethodIn,
    deps: handlers.Deps = Depends(get_deps),
) -> CardOut:
    try:
        card = await handlers.save_card(
            deps, account_id, customer_id, body.payment_method_id, make_default=body.make_default
        )
    except handlers.NotConnected as exc:
        raise Conflict(str(exc), code="stripe_not_connected") from exc
    except handlers.UnknownCustomer as exc:
        raise NotFound(str(exc)) from exc
    except StripeRequestRejected as exc:
        raise Unprocessable(f"Stripe refused the card: {exc}", code="stripe_rejected") from exc
    except TransientError as exc:
        raise ApiError(str(exc), code="stripe_unavailable", status_code=503) from exc
    return CardOut.of(card)


@router.get("/accounts/{account_id}/customers/{customer_id}/payment-methods")
async def list_payment_methods(
    account_id: uuid.UUID, customer_id: uuid.UUID, deps: handlers.Deps = Depends(get_deps)
) -> dict[str, list[CardOut]]:
    try:
        cards = await handlers.list_cards(deps.pool, account_id, customer_id)
    except handlers.UnknownCustomer as exc:
        raise NotFound(str(exc)) from exc
    return {"payment_methods": [CardOut.of(c) for c in cards]}


@router.post("/accounts/{account_id}/charges", status_code=202)
async def create_charge(
    account_id: uuid.UUID, body: ChargeIn, deps: handlers.Deps = Depends(get_deps)
) -> ChargeAccepted:
    charge = Charge(
        charge_id=body.charge_id or uuid.uuid4(),
        account_id=account_id,
        customer_id=body.customer_id,
        booking_ids=tuple(body.booking_ids),
        amount=body.amount,
        currency=body.currency,
        method=body.method,
        payment_method_id=body.payment_method_id,
        save_card=body.save_card,
        message=body.message,
        requested_by=body.requested_by,
    )
    try:
        recorded, _ = await handlers.request_charge(deps.pool, charge)
    except handlers.UnknownCustomer as exc:
        raise NotFound(str(exc)) from exc
    except handlers.InvalidCharge as exc:
        raise Unprocessable(str(exc), code="charge_mismatch") from exc
    except handlers.ChargeConflict as exc:
        raise Conflict(str(exc), code="charge_id_conflict") from exc
    return ChargeAccepted(charge_id=recorded.charge_id, status=recorded.status.value)


@router.get("/accounts/{account_id}/charges/{charge_id}")
async def get_charge(
    account_id: uuid.UUID, charge_id: uuid.UUID, deps: handlers.Deps = Depends(get_deps)
) -> dict[str, Any]:
    async with deps.pool.acquire() as conn:
        charge = await repo.get_charge(conn, charge_id)
        if charge is None or charge.account_id != account_id:
            raise NotFound(f"charge {charge_id} not found in account {account_id}")
        history = await repo.get_history(conn, charge_id)
    return _charge_view(charge, history)


def _charge_view(charge: Charge, history: list[repo.HistoryEntry]) -> dict[str, Any]:
    failure = charge.failure
    return {
        "charge_id": charge.charge_id,
        "account_id": charge.account_id,
        "customer_id": charge.customer_id,
        "booking_ids": list(charge.booking_ids),
        "amount": charge.amount,
        "currency": charge.currency,
        "method": charge.method.value,
        "status": charge.status.value,
        "requested_by": charge.requested_by,
        "payment_method_id": charge.payment_method_id,
        "stripe_payment_intent_id": charge.stripe_payment_intent_id,
        "card": {"brand": charge.card_brand, "last4": charge.card_last4}
        if charge.card_last4
        else None,
        "failure": None
        if failure is None
        else {
            "reason": failure.reason.value,
            "message": failure.message,
            "decline_code": failure.decline_code,
        },
        "paid_at": charge.paid_at,
        "attempts": charge.attempts,
        "history": [_history_view(h) for h in history],
    }


def _history_view(h: repo.HistoryEntry) -> dict[str, Any]:
    at: datetime = h.at
    return {"at": at, "status": h.status, "note": h.note, "detail": h.detail}
