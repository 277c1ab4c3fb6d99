"""link-service's Stripe adapter: the PaymentIntent of a payment link, nothing else.

Every call acts on the merchant's connected account (`Stripe-Account` header). It implements
`usecases.ports.StripeGateway`, and fails with that port's `StripeUnavailable` or
`StripeRejected`.

`StripeApiGateway` is written for real Stripe; `StripeApiGateway.for_localstripe` leaves out
the parameters the local stand-in rejects (see docs/stripe-stand-in.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, TypeVar

import stripe
from bookpay_shared.metrics import Metrics
from bookpay_shared.stripe_api import is_transient, new_client
from bookpay_shared.tracing import client_span

from link_service.usecases.ports import CardShown, Intent, StripeRejected, StripeUnavailable

if TYPE_CHECKING:
    from stripe.params import PaymentIntentCreateParams, PaymentIntentModifyParams

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class StripeApiGateway:
    """`StripeGateway` on the Stripe API (stripe-python, async).

    `supports_setup_future_usage`: when the customer asks to save the card, ask Stripe to keep
    it for off-session use (`setup_future_usage=off_session`, which also records the consent
    that later off-session charges need). localstripe rejects the parameter; the `save_card`
    metadata alone then tells charge-service to attach the card after the payment.
    `supports_allowed_payment_method_types`: restrict the PaymentIntent to cards.
    """

    def __init__(
        self,
        secret_key: str,
        api_base: str | None = None,
        *,
        supports_setup_future_usage: bool = True,
        supports_allowed_payment_method_types: bool = True,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        """Where each call's duration and failures are counted (`bookpay_stripe_*`)."""
        self._client, self._http = new_client(
            secret_key, api_base, timeout_seconds=20, max_network_retries=2
        )
        self._future_usage = supports_setup_future_usage
        self._allowed_types = supports_allowed_payment_method_types

    @classmethod
    def for_localstripe(
        cls, api_base: str, secret_key: str, *, metrics: Metrics | None = None
    ) -> StripeApiGateway:
        return cls(
            secret_key,
            api_base,
            supports_setup_future_usage=False,
            supports_allowed_payment_method_types=False,
            metrics=metrics,
        )

    async def create_intent(
        self,
        *,
        stripe_account: str,
        amount: int,
        currency: str,
        metadata: Mapping[str, str],
        save_card: bool,
        idempotency_key: str,
    ) -> Intent:
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency,
            "metadata": dict(metadata),
        }
        if self._allowed_types:
            params["allowed_payment_method_types"] = ["card"]
        if save_card and self._future_usage:
            params["setup_future_usage"] = "off_session"
        call = self._client.v1.payment_intents.create_async(
            params, {"stripe_account": stripe_account, "idempotency_key": idempotency_key}
        )
        return await self._intent("create", stripe_account, call)

    async def retrieve_intent(self, *, stripe_account: str, intent_id: str) -> Intent:
        call = self._client.v1.payment_intents.retrieve_async(
            intent_id, {"expand": ["payment_method"]}, {"stripe_account": stripe_account}
        )
        return await self._intent("retrieve", stripe_account, call)

    async def update_intent(
        self, *, stripe_account: str, intent_id: str, metadata: Mapping[str, str], save_card: bool
    ) -> Intent:
        params: PaymentIntentModifyParams = {"metadata": dict(metadata)}
        if self._future_usage:
            params["setup_future_usage"] = "off_session" if save_card else ""
        call = self._client.v1.payment_intents.update_async(
            intent_id, params, {"stripe_account": stripe_account}
        )
        return await self._intent("update", stripe_account, call)

    async def cancel_intent(self, *, stripe_account: str, intent_id: str) -> Intent:
        call = self._client.v1.payment_intents.cancel_async(
            intent_id, options={"stripe_account": stripe_account}
        )
        return await self._intent("cancel", stripe_account, call)

    async def _intent(
        self, operation: str, stripe_account: str, call: Awaitable[stripe.PaymentIntent]
    ) -> Intent:
        """Await one call in a client span, its Stripe errors turned into ours; count it (the
        operation label is `<operation> payment intent`) and log exactly one line for it: the
        operation, the PaymentIntent's id and status (or Stripe's error code, HTTP status and
        request id), the account and the duration."""
        operation = f"{operation} payment intent"
        started = time.monotonic()
        with client_span(f"stripe {operation}", {"stripe.operation": operation}):
            try:
                pi = await call
            except stripe.StripeError as exc:
                status = exc.http_status
                unavailable = is_transient(exc)
                elapsed = self._observe(
                    operation, started, "unavailable" if unavailable else "rejected"
                )
                log.warning(
                    "stripe %s error code=%s http=%s request=%s stripe_account=%s in %.0f ms",
                    operation,
                    exc.code,
                    status,
                    exc.request_id,
                    stripe_account,
                    elapsed * 1000,
                )
                if unavailable:
                    raise StripeUnavailable(f"Stripe unavailable ({type(exc).__name__})") from exc
                raise StripeRejected(exc.user_message or type(exc).__name__, exc.code) from exc
        elapsed = self._observe(operation, started)
        log.info(
            "stripe %s ok id=%s status=%s stripe_account=%s in %.0f ms",
            operation,
            pi.id,
            pi.status,
            stripe_account,
            elapsed * 1000,
        )
        metadata = pi.metadata.to_dict() if "metadata" in pi and pi.metadata else {}
        return Intent(
            id=pi.id,
            status=pi.status,
            amount=pi.amount,
            currency=pi.currency,
            metadata={str(k): str(v) for k, v in metadata.items()},
            client_secret=pi.client_secret,
            card=_card_of(pi),
        )

    def _observe(self, operation: str, started: float, error_kind: str | None = None) -> float:
        """Count one call; return its duration in seconds."""
        elapsed = time.monotonic() - started
        if self._metrics is not None:
            self._metrics.stripe_call(operation, elapsed, error_kind)
        return elapsed


def _card_of(pi: stripe.PaymentIntent) -> CardShown | None:
    """The card of a PaymentIntent whose `payment_method` is expanded (a bare id, as create
    and update return it, names no card)."""
    method = pi.payment_method if "payment_method" in pi else None
    if not isinstance(method, stripe.PaymentMethod) or "card" not in method or not method.card:
        return None
    return CardShown(brand=str(method.card.brand), last4=str(method.card.last4))
