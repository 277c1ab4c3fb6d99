"""What the HTTP API shows of charges and cards."""

from __future__ import annotations

from typing import Any

from bookpay_shared.db import Pool
from pydantic import BaseModel

from charge_service import repository as repo
from charge_service.domain import Charge, SavedCard


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


async def charge_view(pool: Pool, charge: Charge) -> dict[str, Any]:
    async with pool.acquire() as conn:
        history = await repo.get_history(conn, charge.charge_id)
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
