"""The Stripe adapter: the only module of charge-service that talks to Stripe.

Every call acts on a connected account (`stripe_account`, sent as the `Stripe-Account` header)
and returns our own types (stripe_types), never Stripe objects.

`StripeApiGateway` is written for real Stripe. The stand-in used locally (localstripe) lacks
a few request parameters; each gap has a constructor switch, all set by
`StripeApiGateway.for_localstripe` (see docs/stripe-stand-in.md).
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

from charge_service.domain.model import Failure
from charge_service.usecases.stripe_types import (
    CardDetails,
    ConnectedAccount,
    IntentResult,
    StripeAccountNotConnected,
    StripeCardRejected,
    StripeRequestRejected,
    StripeUnavailable,
    payment_failure,
)

if TYPE_CHECKING:
    from stripe.params import (
        CustomerCreateParams,
        PaymentIntentConfirmParams,
        PaymentIntentCreateParams,
        PaymentIntentListParams,
    )

__all__ = ["StripeApiGateway"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")
# PaymentIntent states in which the money has moved (or is moving): confirming again is moot.
_CONFIRMED_STATES = frozenset({"succeeded", "processing", "requires_capture"})
_CONFIRMABLE_STATES = frozenset({"requires_payment_method", "requires_confirmation"})
_AUTHENTICATION_REQUIRED = payment_failure("authentication_required", None, None)


def _text(obj: stripe.StripeObject | None, key: str) -> str | None:
    """A string field that a Stripe object may lack (stand-ins omit some)."""
    if obj is None or key not in obj:
        return None
    value = obj[key]
    return value if isinstance(value, str) else None


def _id_of(value: str | stripe.StripeObject | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return _text(value, "id")


def _card_details(payment_method: stripe.PaymentMethod) -> CardDetails | None:
    card = payment_method.card if "card" in payment_method else None
    if card is None:
        return None
    return CardDetails(
        payment_method_id=payment_method.id,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        fingerprint=_text(card, "fingerprint"),
    )


def _translate(exc: stripe.StripeError) -> StripeUnavailable | StripeRequestRejected:
    message = exc.user_message or type(exc).__name__
    status = exc.http_status
    if isinstance(exc, stripe.CardError):
        error = exc.error
        intent = error.payment_intent if error is not None and "payment_intent" in error else None
        method = error.payment_method if error is not None and "payment_method" in error else None
        return StripeCardRejected(
            payment_failure(exc.code, _text(error, "decline_code"), exc.user_message),
            code=exc.code,
            payment_intent_status=intent.status if intent is not None else None,
            card=_card_details(method) if method is not None else None,
            payment_intent_id=_text(intent, "id"),
        )
    if is_transient(exc):
        return StripeUnavailable(f"Stripe unavailable: {message}")
    return StripeRequestRejected(message, code=exc.code, http_status=status)


class StripeApiGateway:
    """`StripeGateway` on the Stripe API (stripe-python's async methods over httpx).

    The `supports_*` switches exist for stand-ins that lack parts of the API; leave them on
    for real Stripe:

    - `supports_setup_future_usage`: save a card while paying on-session with
      `setup_future_usage="off_session"`, which also records the customer's consent for later
      off-session charges (SCA). localstripe rejects the parameter; with the switch off the
      card is attached to the customer before the charge instead. That fallback is only
      right for a stand-in: real Stripe refuses to attach a card already used without
      `setup_future_usage`, and an attached card lacks the off-session consent.
    - `supports_confirm_parameters`: pass `payment_method`, `off_session` and
      `use_stripe_sdk` to `/confirm`. localstripe rejects them; with the switch off the
      payment method is set with an update, then the PaymentIntent is confirmed bare.
    - `supports_description`: send the PaymentIntent `description` (localstripe rejects it;
      it is then dropped).
    - `supports_allowed_payment_method_types`: restrict the PaymentIntent to cards with
      `allowed_payment_method_types=["card"]` (the pinned API version no longer takes
      `payment_method_types`). localstripe rejects it and only knows cards anyway.
    - `supports_list_filters`: list a customer's PaymentIntents with `customer` and
      `created[gte]`. localstripe rejects both; with the switch off every PaymentIntent is
      listed, page by page, and filtered here (fine for a test store, not for real Stripe).
    """

    def __init__(
        self,
        secret_key: str,
        api_base: str | None = None,
        *,
        supports_setup_future_usage: bool = True,
        supports_confirm_parameters: bool = True,
        supports_description: bool = True,
        supports_allowed_payment_method_types: bool = True,
        supports_list_filters: bool = True,
        http_client: stripe.HTTPClient | None = None,
        max_network_retries: int = 0,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        """Where each call's duration and failures are counted (`bookpay_stripe_*`)."""
        self._client, self._http = new_client(
            secret_key,
            api_base,
            timeout_seconds=30,
            max_network_retries=max_network_retries,
            http_client=http_client,
        )
        self._setup_future_usage = supports_setup_future_usage
        self._platform_account: str | None = None
        self._confirm_parameters = supports_confirm_parameters
        self._description = supports_description
        self._allowed_types = supports_allowed_payment_method_types
        self._list_filters = supports_list_filters

    @classmethod
    def for_localstripe(
        cls,
        api_base: str,
        secret_key: str = "sk_test_localstripe",
        *,
        http_client: stripe.HTTPClient | None = None,
        metrics: Metrics | None = None,
    ) -> StripeApiGateway:
        """A gateway for localstripe: the `supports_*` switches of what it lacks off (the
        devstack's stand-in serves list filters)."""
        return cls(
            secret_key,
            api_base,
            supports_setup_future_usage=False,
            supports_confirm_parameters=False,
            supports_description=False,
            supports_allowed_payment_method_types=False,
            http_client=http_client,
            metrics=metrics,
        )

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def create_customer(
        self,
        *,
        stripe_account: str,
        email: str | None,
        name: str | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> str:
        context = {"stripe_account": stripe_account}
        params: CustomerCreateParams = {"metadata": dict(metadata)}
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        customer = await self._send(
            "create customer",
            context,
            self._client.v1.customers.create_async(
                params, {"stripe_account": stripe_account, "idempotency_key": idempotency_key}
            ),
        )
        return customer.id

    async def attach_payment_method(
        self, *, stripe_account: str, customer_id: str, payment_method_id: str
    ) -> CardDetails:
        """Save a card on a customer. A declined card raises `StripeCardRejected`."""
        context = {"stripe_account": stripe_account, "payment_method_id": payment_method_id}
        try:
            method = await self._send(
                "attach payment method",
                context,
                self._client.v1.payment_methods.attach_async(
                    payment_method_id, {"customer": customer_id}, {"stripe_account": stripe_account}
                ),
            )
        except StripeCardRejected:
            raise
        except StripeRequestRejected:
            # Attached already (a retry after a crash)? Then this is done.
            method = await self._retrieve_payment_method(stripe_account, payment_method_id)
            if _id_of(method.customer) != customer_id:
                raise
        return self._require_card(method)

    async def detach_payment_method(self, *, stripe_account: str, payment_method_id: str) -> None:
        context = {"stripe_account": stripe_account, "payment_method_id": payment_method_id}
        try:
            await self._send(
                "detach payment method",
                context,
                self._client.v1.payment_methods.detach_async(
                    payment_method_id, options={"stripe_account": stripe_account}
                ),
            )
        except StripeRequestRejected:
            method = await self._retrieve_payment_method(stripe_account, payment_method_id)
            if method.customer is not None:
                raise

    async def set_default_payment_method(
        self, *, stripe_account: str, customer_id: str, payment_method_id: str
    ) -> None:
        context = {"stripe_account": stripe_account, "customer_id": customer_id}
        await self._send(
            "set default payment method",
            context,
            self._client.v1.customers.update_async(
                customer_id,
                {"invoice_settings": {"default_payment_method": payment_method_id}},
                {"stripe_account": stripe_account},
            ),
        )

    async def create_payment_intent(
        self,
        *,
        stripe_account: str,
        amount: int,
        currency: str,
        customer_id: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
        description: str | None,
    ) -> IntentResult:
        """Create an unconfirmed card PaymentIntent; `amount` is in the currency's minor unit."""
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency,
            "customer": customer_id,
            "metadata": dict(metadata),
        }
        if self._allowed_types:
            params["allowed_payment_method_types"] = ["card"]
        if description and self._description:
            params["description"] = description
        intent = await self._send(
            "create payment intent",
            {"stripe_account": stripe_account},
            self._client.v1.payment_intents.create_async(
                params, {"stripe_account": stripe_account, "idempotency_key": idempotency_key}
            ),
        )
        return await self._result(intent, stripe_account, off_session=False)

    async def charge_off_session(
        self,
        *,
        stripe_account: str,
        amount: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
        description: str | None,
    ) -> IntentResult:
        """Charge a saved card without the customer in ONE request: create the PaymentIntent
        with `confirm=true, off_session=true`. The card (brand, last 4, expiry, fingerprint)
        comes from the answer (`payment_method` expanded).

        Stripe answers a decline or a card that wants 3-D Secure with a 402 card error whose
        `payment_intent` is the PaymentIntent it made (status `requires_payment_method`): that
        is returned as a result with `failure`. A 402 that names no PaymentIntent (localstripe's
        don't) is completed by looking the PaymentIntent up by its metadata. localstripe
        answers a card needing 3-D Secure with `requires_action` instead of a 402: read as
        failure `authentication_required`, as after `confirm_off_session`.
        """
        context = {"stripe_account": stripe_account, "payment_method_id": payment_method_id}
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency,
            "customer": customer_id,
            "payment_method": payment_method_id,
            "off_session": True,
            "confirm": True,
            "metadata": dict(metadata),
            "expand": ["payment_method"],
        }
        if self._allowed_types:
            params["allowed_payment_method_types"] = ["card"]
        if description and self._description:
            params["description"] = description
        try:
            intent = await self._send(
                "create and confirm payment intent off-session",
                context,
                self._client.v1.payment_intents.create_async(
                    params, {"stripe_account": stripe_account, "idempotency_key": idempotency_key}
                ),
            )
        except StripeCardRejected as declined:
            intent_id = declined.payment_intent_id
            if intent_id is None:
                found = await self.find_payment_intent(
                    stripe_account=stripe_account,
                    customer_id=customer_id,
                    created_since=int(time.time()) - 3600,  # made by this very request
                    metadata=metadata,
                )
                if found is None:
                    raise
                intent_id = found.payment_intent_id
            return IntentResult(
                payment_intent_id=intent_id,
                status=declined.payment_intent_status or "requires_payment_method",
                card=declined.card,
                failure=declined.failure,
                client_secret=None,
                amount=amount,
                currency=currency,
                customer_id=customer_id,
                metadata=dict(metadata),
            )
        return await self._result(intent, stripe_account, off_session=True)

    async def find_payment_intent(
        self,
        *,
        stripe_account: str,
        customer_id: str,
        created_since: int | None,
        metadata: Mapping[str, str],
    ) -> IntentResult | None:
        """Look for a PaymentIntent we made and may not have recorded (a crash between Stripe's
        answer and our record): the customer's PaymentIntents created since `created_since`,
        newest first, the first whose metadata holds every pair of `metadata`. Lists are
        consistent at once, unlike Stripe's search, which may lag by a minute."""
        wanted = dict(metadata)
        starting_after: str | None = None
        while True:
            params: PaymentIntentListParams = {"limit": 100}
            if self._list_filters:
                params["customer"] = customer_id
                if created_since is not None:
                    params["created"] = {"gte": created_since}
            if starting_after is not None:
                params["starting_after"] = starting_after
            page = await self._send(
                "list payment intents",
                {"stripe_account": stripe_account, "customer_id": customer_id},
                self._client.v1.payment_intents.list_async(
                    params, {"stripe_account": stripe_account}
                ),
            )
            for intent in page.data:
                if self._matches(intent, customer_id, created_since, wanted):
                    return await self._result(intent, stripe_account, off_session=True)
            if not page.has_more or not page.data:
                return None
            starting_after = page.data[-1].id

    def _matches(
        self,
        intent: stripe.PaymentIntent,
        customer_id: str,
        created_since: int | None,
        metadata: Mapping[str, str],
    ) -> bool:
        held = intent.metadata.to_dict() if "metadata" in intent and intent.metadata else {}
        if any(held.get(key) != value for key, value in metadata.items()):
            return False
        if self._list_filters:
            return True  # Stripe filtered by customer and creation time
        customer = _id_of(intent.customer) if "customer" in intent else None
        created = intent.created if "created" in intent else None
        recent = created_since is None or created is None or created >= created_since
        return customer == customer_id and recent

    async def confirm_off_session(
        self,
        *,
        stripe_account: str,
        payment_intent_id: str,
        payment_method_id: str,
        idempotency_key: str,
    ) -> IntentResult:
        """Charge a saved card without the customer. Declines are results, not exceptions;
        a card that wants 3-D Secure fails with reason `authentication_required`."""
        params: PaymentIntentConfirmParams = {
            "payment_method": payment_method_id,
            "off_session": True,
        }
        return await self._confirm(
            stripe_account, payment_intent_id, params, idempotency_key, off_session=True
        )

    async def confirm_on_session(
        self,
        *,
        stripe_account: str,
        payment_intent_id: str,
        payment_method_id: str,
        save_card: bool,
        idempotency_key: str,
    ) -> IntentResult:
        """Charge a card entered through Stripe.js, its owner present.

        Status `requires_action` means 3-D Secure: hand `client_secret` to Stripe.js
        (`handleNextAction`) in the customer's browser. With `save_card` the card is kept on
        the PaymentIntent's customer for later off-session charges (see
        `supports_setup_future_usage` for the stand-in gap).
        """
        params: PaymentIntentConfirmParams = {
            "payment_method": payment_method_id,
            "use_stripe_sdk": True,
        }
        if save_card and self._setup_future_usage:
            params["setup_future_usage"] = "off_session"
        return await self._confirm(
            stripe_account,
            payment_intent_id,
            params,
            idempotency_key,
            off_session=False,
            attach_first=save_card and not self._setup_future_usage,
        )

    async def retrieve_payment_intent(
        self, *, stripe_account: str, payment_intent_id: str
    ) -> IntentResult:
        """The PaymentIntent as Stripe has it now: what to look at first when resuming a charge
        whose outcome is unknown (a crash, a timeout) before confirming anything again."""
        intent = await self._retrieve_intent(stripe_account, payment_intent_id)
        return await self._result(intent, stripe_account, off_session=False)

    async def retrieve_connected_account(self, *, stripe_account_id: str) -> ConnectedAccount:
        """`GET /v1/accounts/{id}` with the platform's key. Stripe answers it only for an
        account connected to our platform: for any other (or an unknown id) it refuses,
        404 `resource_missing` or 403 "does not have access to account", which both mean
        "not connected" here."""
        try:
            account = await self._send(
                "retrieve connected account",
                {"stripe_account": stripe_account_id},
                self._client.v1.accounts.retrieve_async(stripe_account_id),
            )
        except StripeRequestRejected as exc:
            if exc.http_status in (400, 403, 404):
                raise StripeAccountNotConnected(
                    exc.message, code=exc.code, http_status=exc.http_status
                ) from exc
            raise
        if account.id != stripe_account_id:
            raise StripeAccountNotConnected(f"Stripe answered for another account, {account.id}")
        return ConnectedAccount(
            stripe_account_id=account.id,
            charges_enabled="charges_enabled" in account and bool(account.charges_enabled),
            details_submitted="details_submitted" in account and bool(account.details_submitted),
        )

    async def platform_account_id(self) -> str:
        """`GET /v1/account`, asked once per process (the platform's key does not change)."""
        if self._platform_account is None:
            account = await self._send(
                "retrieve the platform's account",
                {},
                self._client.v1.accounts.retrieve_current_async(),
            )
            self._platform_account = account.id
        return self._platform_account

    async def _confirm(
        self,
        stripe_account: str,
        payment_intent_id: str,
        params: PaymentIntentConfirmParams,
        idempotency_key: str,
        *,
        off_session: bool,
        attach_first: bool = False,
    ) -> IntentResult:
        context = {"stripe_account": stripe_account, "payment_intent_id": payment_intent_id}
        payment_method_id = params["payment_method"]
        try:
            if attach_first or not self._confirm_parameters:
                current = await self._retrieve_intent(stripe_account, payment_intent_id)
                if current.status not in _CONFIRMABLE_STATES:
                    return await self._result(current, stripe_account, off_session=off_session)
                customer_id = _id_of(current.customer)
                if attach_first and customer_id:
                    await self.attach_payment_method(
                        stripe_account=stripe_account,
                        customer_id=customer_id,
                        payment_method_id=payment_method_id,
                    )
            intent = await self._confirm_call(
                stripe_account, payment_intent_id, params, idempotency_key
            )
        except StripeCardRejected as declined:
            return IntentResult(
                payment_intent_id=payment_intent_id,
                status=declined.payment_intent_status or "requires_payment_method",
                card=declined.card,
                failure=declined.failure,
                client_secret=None,
            )
        except StripeRequestRejected:
            # Often "payment_intent_unexpected_state": confirmed before (a retry after a crash,
            # or the idempotency key expired). Report the PaymentIntent as it stands.
            current = await self._retrieve_intent(stripe_account, payment_intent_id)
            if current.status not in _CONFIRMED_STATES | {"requires_action"}:
                raise
            intent = current
            log.info(
                "stripe payment intent was confirmed before payment_intent_id=%s "
                "stripe_account=%s status=%s",
                payment_intent_id,
                stripe_account,
                current.status,
                extra=context,
            )
        return await self._result(intent, stripe_account, off_session=off_session)

    async def _confirm_call(
        self,
        stripe_account: str,
        payment_intent_id: str,
        params: PaymentIntentConfirmParams,
        idempotency_key: str,
    ) -> stripe.PaymentIntent:
        context = {"stripe_account": stripe_account, "payment_intent_id": payment_intent_id}
        intents = self._client.v1.payment_intents
        confirm: PaymentIntentConfirmParams = {"expand": ["payment_method"]}
        if self._confirm_parameters:
            confirm.update(params)
        else:
            await self._send(
                "update payment intent",
                context,
                intents.update_async(
                    payment_intent_id,
                    {"payment_method": params["payment_method"]},
                    {"stripe_account": stripe_account, "idempotency_key": f"{idempotency_key}:pm"},
                ),
            )
        return await self._send(
            "confirm payment intent",
            context,
            intents.confirm_async(
                payment_intent_id,
                confirm,
                {"stripe_account": stripe_account, "idempotency_key": idempotency_key},
            ),
        )

    async def _result(
        self, intent: stripe.PaymentIntent, stripe_account: str, *, off_session: bool
    ) -> IntentResult:
        failure: Failure | None = None
        error = intent.last_payment_error if "last_payment_error" in intent else None
        if intent.status == "requires_action" and off_session:
            failure = _AUTHENTICATION_REQUIRED  # real Stripe answers 402 instead
        elif intent.status in ("requires_payment_method", "canceled") and error is not None:
            failure = payment_failure(
                _text(error, "code"), _text(error, "decline_code"), _text(error, "message")
            )
        metadata: dict[str, object] = (
            intent.metadata.to_dict() if "metadata" in intent and intent.metadata else {}
        )
        return IntentResult(
            payment_intent_id=intent.id,
            status=intent.status,
            card=await self._card_of(intent.payment_method, stripe_account),
            failure=failure,
            client_secret=intent.client_secret,
            amount=intent.amount,
            currency=intent.currency,
            customer_id=_id_of(intent.customer) if "customer" in intent else None,
            metadata={str(k): str(v) for k, v in metadata.items()},
        )

    async def _card_of(
        self, method: str | stripe.PaymentMethod | None, stripe_account: str
    ) -> CardDetails | None:
        if method is None:
            return None
        if isinstance(method, str):
            method = await self._retrieve_payment_method(stripe_account, method)
        return _card_details(method)

    def _require_card(self, method: stripe.PaymentMethod) -> CardDetails:
        card = _card_details(method)
        if card is None:
            raise StripeRequestRejected(f"payment method {method.id} is not a card")
        return card

    async def _retrieve_intent(
        self, stripe_account: str, payment_intent_id: str
    ) -> stripe.PaymentIntent:
        return await self._send(
            "retrieve payment intent",
            {"stripe_account": stripe_account, "payment_intent_id": payment_intent_id},
            self._client.v1.payment_intents.retrieve_async(
                payment_intent_id,
                {"expand": ["payment_method"]},
                {"stripe_account": stripe_account},
            ),
        )

    async def _retrieve_payment_method(
        self, stripe_account: str, payment_method_id: str
    ) -> stripe.PaymentMethod:
        return await self._send(
            "retrieve payment method",
            {"stripe_account": stripe_account, "payment_method_id": payment_method_id},
            self._client.v1.payment_methods.retrieve_async(
                payment_method_id, options={"stripe_account": stripe_account}
            ),
        )

    async def _send(self, operation: str, context: Mapping[str, str], call: Awaitable[_T]) -> _T:
        """Await one Stripe call in a client span, turning Stripe's errors into ours; count it
        and log exactly one line for it: the operation, the object's id and status (or Stripe's
        error code, decline code, HTTP status and request id), the ids it acted on, the
        duration."""
        details = " ".join(f"{key}={value}" for key, value in context.items())
        started = time.monotonic()
        with client_span(f"stripe {operation}", {"stripe.operation": operation, **context}):
            try:
                result = await call
            except stripe.StripeError as exc:
                translated = _translate(exc)
                self._observe(operation, started, _error_kind(translated))
                decline = _text(exc.error, "decline_code") if exc.error is not None else None
                log.log(
                    logging.INFO if isinstance(translated, StripeCardRejected) else logging.WARNING,
                    "stripe %s error code=%s decline=%s http=%s request=%s %s (%s) in %.0f ms",
                    operation,
                    exc.code,
                    decline,
                    exc.http_status,
                    exc.request_id,
                    details,
                    type(translated).__name__,
                    (time.monotonic() - started) * 1000,
                    extra={
                        **context,
                        "stripe_code": exc.code,
                        "stripe_request_id": exc.request_id,
                    },
                )
                raise translated from exc
        self._observe(operation, started)
        obj = result if isinstance(result, stripe.StripeObject) else None
        log.info(
            "stripe %s ok id=%s status=%s %s in %.0f ms",
            operation,
            _text(obj, "id"),
            _text(obj, "status"),
            details,
            (time.monotonic() - started) * 1000,
            extra=dict(context),
        )
        return result

    def _observe(self, operation: str, started: float, error_kind: str | None = None) -> None:
        if self._metrics is not None:
            self._metrics.stripe_call(operation, time.monotonic() - started, error_kind)


def _error_kind(error: StripeUnavailable | StripeRequestRejected) -> str:
    """The `kind` label of a failed call: a decline is the card's answer, not a fault of ours
    or Stripe's, and alerts leave it out."""
    if isinstance(error, StripeCardRejected):
        return "card_rejected"
    return "unavailable" if isinstance(error, StripeUnavailable) else "rejected"
