"""What the HTTP API shows of charges and cards."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from bookpay_shared.events import ChargeMethod, FailureReason
from pydantic import BaseModel

from charge_service.domain.model import Charge, ChargeStatus, SavedCard, StripeConnection
from charge_service.usecases.unit_of_work import UnitOfWork


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


class ConnectionChangeOut(BaseModel):
    stripe_account_id: str
    previous_stripe_account_id: str | None
    connected_by: str
    connected_at: datetime

    @classmethod
    def of(cls, c: StripeConnection) -> ConnectionChangeOut:
        return cls(
            stripe_account_id=c.stripe_account_id,
            previous_stripe_account_id=c.previous_stripe_account_id,
            connected_by=c.connected_by,
            connected_at=c.connected_at,
        )


class ConnectionOut(BaseModel):
    account_id: uuid.UUID
    stripe_account_id: str
    connected: bool = True
    connected_by: str
    """Who made the current connection."""
    connected_at: datetime
    charges_enabled: bool | None = None
    """As Stripe said when the connection was made (false: its onboarding is not finished)."""
    history: list[ConnectionChangeOut]
    """Every connection the account made, newest first."""

    @classmethod
    def of(
        cls, history: list[StripeConnection], *, charges_enabled: bool | None = None
    ) -> ConnectionOut:
        current = history[0]
        return cls(
            account_id=current.account_id,
            stripe_account_id=current.stripe_account_id,
            connected_by=current.connected_by,
            connected_at=current.connected_at,
            charges_enabled=charges_enabled,
            history=[ConnectionChangeOut.of(c) for c in history],
        )


class FailureOut(BaseModel):
    reason: FailureReason
    message: str
    decline_code: str | None = None
    """The card issuer's decline code, when Stripe gave one (`insufficient_funds`, ...)."""


class ChargeSummaryOut(BaseModel):
    """A charge in a staff list: what it is and how it stands (its Stripe ids, card and
    history are on `GET …/charges/{charge_id}`)."""

    charge_id: uuid.UUID
    customer_id: uuid.UUID
    booking_ids: list[uuid.UUID]
    amount: int
    currency: str
    method: ChargeMethod
    status: ChargeStatus
    failure: FailureOut | None
    """Why it failed (failed charges only)."""
    attempts: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Charge) -> ChargeSummaryOut:
        assert c.requested_at is not None and c.updated_at is not None, "a recorded charge"
        return cls(
            charge_id=c.charge_id,
            customer_id=c.customer_id,
            booking_ids=list(c.booking_ids),
            amount=c.amount,
            currency=c.currency,
            method=c.method,
            status=c.status,
            failure=FailureOut(
                reason=c.failure.reason,
                message=c.failure.message,
                decline_code=c.failure.decline_code,
            )
            if c.failure and c.status is ChargeStatus.FAILED
            else None,
            attempts=c.attempts,
            created_at=c.requested_at,
            updated_at=c.updated_at,
        )


class ChargesOut(BaseModel):
    charges: list[ChargeSummaryOut]
    next_cursor: str | None = None
    """Pass as `cursor` for the next page; null on the last page."""


async def charge_view(uow: UnitOfWork, charge: Charge) -> dict[str, Any]:
    async with uow:
        history = await uow.charges.history(charge.charge_id)
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
        "stripe_account_id": charge.stripe_account_id,
        "card": {"brand": charge.card_brand, "last4": charge.card_last4}
        if charge.card_last4
        else None,
        "saved_payment_method_id": charge.saved_payment_method_id,
        "failure": None
        if failure is None
        else {
            "reason": failure.reason.value,
            "message": failure.message,
            "decline_code": failure.decline_code,
        },
        "paid_at": charge.paid_at,
        "over_collected": None
        if charge.over_collected is None
        else {"amount": charge.over_collected, "currency": charge.currency},
        "attempts": charge.attempts,
        "history": [
            {"at": h.at, "status": h.status, "note": h.note, "detail": h.detail} for h in history
        ],
    }
