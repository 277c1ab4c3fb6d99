"""Stripe webhooks: the signature is verified on the raw body (within a tolerance window),
each Stripe event is handled once (deduplicated by its id), in any order.

Only PaymentIntent outcomes matter here. `payment_intent.succeeded` for one of our charges
leads to the same idempotent completion as the payment page and the sweep; everything the
handler needs it re-reads from Stripe, so a replayed or late event changes nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import replace
from typing import Any

import stripe

from charge_service.domain.model import ChargeStatus, Failure
from charge_service.usecases import charging, link_payments
from charge_service.usecases.deps import Deps
from charge_service.usecases.stripe_types import payment_failure
from charge_service.usecases.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class InvalidWebhook(ValueError):
    """A forged, stale or malformed webhook: answered 400, changes nothing."""


def verify(deps: Deps, payload: bytes, signature: str | None) -> dict[str, Any]:
    if not deps.webhook_secret:
        raise InvalidWebhook("webhooks are not configured (no signing secret)")
    if not signature:
        raise InvalidWebhook("missing Stripe-Signature header")
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), signature, deps.webhook_secret, deps.webhook_tolerance_seconds
        )
        event = json.loads(payload)
    except RecursionError as exc:
        raise InvalidWebhook("invalid webhook: nested too deep") from exc
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidWebhook(f"invalid webhook: {exc}") from exc
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise InvalidWebhook("invalid webhook: not a Stripe event")
    return event


async def receive(deps: Deps, uow: UnitOfWork, payload: bytes, signature: str | None) -> str:
    """Verify and handle one webhook; returns what was done (for the response and logs).

    The event is recorded as received only once it has been handled, so a crash in between
    lets Stripe's retry handle it again (handling is idempotent)."""
    event = verify(deps, payload, signature)
    intent = _payment_intent_of(event)
    async with uow:
        if await uow.webhook_events.seen(event["id"]):
            return "duplicate"
    account = event.get("account")  # a Connect webhook: the connected account it happened on
    outcome = await _handle(
        deps, uow, str(event.get("type")), intent, account if isinstance(account, str) else None
    )
    async with uow:
        await uow.webhook_events.record(event["id"], str(event.get("type")), intent.get("id"))
        await uow.commit()
    return outcome


def _payment_intent_of(event: dict[str, Any]) -> dict[str, Any]:
    """The event's PaymentIntent, or {} when it carries none; a signed event whose `data` is
    not the shape Stripe sends is treated as carrying none (answered, ignored)."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict) or obj.get("object") != "payment_intent":
        return {}
    if not isinstance(obj.get("id"), str):
        return {}
    return obj


async def _handle(
    deps: Deps, uow: UnitOfWork, event_type: str, intent: dict[str, Any], stripe_account: str | None
) -> str:
    charge_id = _charge_id(intent)
    if charge_id is None:
        return "ignored"
    async with uow:
        charge = await uow.charges.get(charge_id)
    if charge is None:
        return "ignored"
    if event_type == "payment_intent.succeeded":
        if charge.status in (ChargeStatus.AWAITING_CUSTOMER, ChargeStatus.FAILED):
            paid = await link_payments.complete(
                deps,
                uow,
                charge_id,
                str(intent["id"]),
                source="Stripe webhook",
                stripe_account=stripe_account,
            )
            return "completed" if paid else "ignored"
        if charge.status is ChargeStatus.PROCESSING:
            await charging.run_attempt(deps, uow, charge)
            return "resumed"
    if (
        event_type == "payment_intent.payment_failed"
        and charge.status is ChargeStatus.AWAITING_CUSTOMER
    ):
        return await _count_page_attempt(uow, charge_id, intent)
    return "ignored"


async def _count_page_attempt(uow: UnitOfWork, charge_id: uuid.UUID, intent: dict[str, Any]) -> str:
    """A try on the payment page failed (a declined card...): it is one of the charge's
    attempts, with its reason. The customer's browser confirms with Stripe directly, so Stripe's
    webhook is the one word our servers get of it; it is handled once per Stripe event."""
    failure = _page_failure(intent)
    async with uow:
        charge = await uow.charges.get(charge_id, for_update=True)
        if charge is None or charge.status is not ChargeStatus.AWAITING_CUSTOMER:
            return "ignored"
        counted = replace(charge, attempts=charge.attempts + 1)
        await uow.charges.save(counted)
        await uow.charges.add_history(
            charge_id,
            charge.status,
            f"a payment attempt on the payment page failed ({_payment_error(intent)})",
            payment_intent_id=intent["id"],
            attempt=counted.attempts,
            reason=failure.reason,
            decline_code=failure.decline_code,
            message=failure.message,
        )
        await uow.commit()
    return "recorded"


def _page_failure(intent: dict[str, Any]) -> Failure:
    """The failure in our vocabulary (`card_declined`, `insufficient_funds`...), from the
    PaymentIntent's `last_payment_error`."""
    error = intent.get("last_payment_error")
    error = error if isinstance(error, dict) else {}

    def text(key: str) -> str | None:
        value = error.get(key)
        return value if isinstance(value, str) and value else None

    return payment_failure(text("code"), text("decline_code"), text("message"))


def _charge_id(intent: dict[str, Any]) -> uuid.UUID | None:
    metadata = intent.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("charge_id"), str):
        return None
    try:
        return uuid.UUID(metadata["charge_id"])
    except ValueError:
        return None


def _payment_error(intent: dict[str, Any]) -> str:
    """Why a payment attempt failed, from the PaymentIntent's `last_payment_error`."""
    error = intent.get("last_payment_error")
    if not isinstance(error, dict):
        return "no reason given"
    parts = [
        str(error[key])
        for key in ("decline_code", "code", "message")
        if isinstance(error.get(key), str) and error[key]
    ]
    return ": ".join(dict.fromkeys(parts)) or "no reason given"
