"""charge-service's Stripe vocabulary: results, errors and the gateway interface.

Errors, from the caller's point of view:
- `StripeUnavailable`: transient (network error, timeout, 429 rate limit or `lock_timeout`,
  409 concurrent idempotent request, 5xx). Retry the same call, with the same idempotency key,
  with backoff.
- `StripeRequestRejected`: permanent; there is no payment result (unknown id, bad API key,
  an account that did not grant access, idempotency key reused with other parameters).
  `StripeCardRejected` is the subclass for a card declined while it is being saved;
  `StripeAccountNotConnected` the one for a Stripe account that Stripe does not know or that
  is not connected to our platform.
- A card declined while *paying* is not an exception: `charge_off_session` and `confirm_*`
  return an `IntentResult` whose `failure` says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bookpay_shared.events import FailureReason

from charge_service.domain.model import Failure


@dataclass(frozen=True)
class CardDetails:
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str | None


@dataclass(frozen=True)
class IntentResult:
    payment_intent_id: str
    status: str
    """The PaymentIntent's status: succeeded, processing, requires_action, ..."""
    card: CardDetails | None
    failure: Failure | None
    client_secret: str | None = field(repr=False)
    """For Stripe.js in the customer's browser only; never log or store it."""
    amount: int | None = None
    currency: str | None = None
    customer_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


@dataclass(frozen=True)
class ConnectedAccount:
    """A Stripe account connected to our platform, as Stripe describes it."""

    stripe_account_id: str
    charges_enabled: bool
    """False until the account has finished Stripe's onboarding (charges would be refused)."""
    details_submitted: bool


class StripeUnavailable(Exception):
    """Stripe could not be reached or asked us to slow down; retry with backoff."""


class StripeRequestRejected(Exception):
    """Stripe refused the request for good; retrying it unchanged will not help."""

    def __init__(self, message: str, *, code: str | None = None, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status


class StripeCardRejected(StripeRequestRejected):
    """The card was declined (while being saved, or while paying: then it becomes a result)."""

    def __init__(
        self,
        failure: Failure,
        *,
        code: str | None = None,
        payment_intent_status: str | None = None,
        card: CardDetails | None = None,
        payment_intent_id: str | None = None,
    ):
        super().__init__(failure.message, code=code, http_status=402)
        self.failure = failure
        self.payment_intent_status = payment_intent_status
        self.card = card
        self.payment_intent_id = payment_intent_id
        """The PaymentIntent the declined payment was made on (Stripe names it in the error)."""


class StripeAccountNotConnected(StripeRequestRejected):
    """The Stripe account does not exist, or is not connected to our platform (Stripe gives
    the platform no access to it)."""


class StripeGateway(Protocol):
    """What charge-service needs from Stripe. Every call acts on one connected account."""

    async def create_customer(
        self,
        *,
        stripe_account: str,
        email: str | None,
        name: str | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> str: ...

    async def attach_payment_method(
        self, *, stripe_account: str, customer_id: str, payment_method_id: str
    ) -> CardDetails: ...

    async def detach_payment_method(
        self, *, stripe_account: str, payment_method_id: str
    ) -> None: ...

    async def set_default_payment_method(
        self, *, stripe_account: str, customer_id: str, payment_method_id: str
    ) -> None: ...

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
    ) -> IntentResult: ...

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
        """Create a PaymentIntent and confirm it off-session with a saved card, in one request.
        Declines and `authentication_required` are results (`failure`) naming the PaymentIntent
        made, not exceptions."""
        ...

    async def find_payment_intent(
        self,
        *,
        stripe_account: str,
        customer_id: str,
        created_since: int | None,
        metadata: Mapping[str, str],
    ) -> IntentResult | None:
        """The customer's PaymentIntent created at or after `created_since` (Unix seconds; None:
        any time) whose metadata holds every pair of `metadata`, read as an off-session payment
        (`requires_action` is failure `authentication_required`); None when there is none."""
        ...

    async def confirm_off_session(
        self,
        *,
        stripe_account: str,
        payment_intent_id: str,
        payment_method_id: str,
        idempotency_key: str,
    ) -> IntentResult: ...

    async def confirm_on_session(
        self,
        *,
        stripe_account: str,
        payment_intent_id: str,
        payment_method_id: str,
        save_card: bool,
        idempotency_key: str,
    ) -> IntentResult: ...

    async def retrieve_payment_intent(
        self, *, stripe_account: str, payment_intent_id: str
    ) -> IntentResult: ...

    async def retrieve_connected_account(self, *, stripe_account_id: str) -> ConnectedAccount:
        """The connected account, read with the platform's key (`GET /v1/accounts/{id}`, no
        `Stripe-Account` header); `StripeAccountNotConnected` when Stripe does not know it or
        it is not connected to our platform."""
        ...

    async def platform_account_id(self) -> str:
        """The platform's own Stripe account (`GET /v1/account`): Stripe also answers
        `GET /v1/accounts/{id}` for it, but it is not a connected account of the platform."""
        ...


_DEFAULT_MESSAGES = {
    FailureReason.CARD_DECLINED: "The card was declined.",
    FailureReason.INSUFFICIENT_FUNDS: "The card has insufficient funds.",
    FailureReason.EXPIRED_CARD: "The card has expired.",
    FailureReason.INCORRECT_CVC: "The card's security code is incorrect.",
    FailureReason.AUTHENTICATION_REQUIRED: (
        "The card's bank requires the customer to authenticate this payment; "
        "ask the customer to pay while present, for example with a payment link."
    ),
    FailureReason.PROCESSING_ERROR: "An error occurred while processing the card; try again.",
}
_RETRYABLE_DECLINES = frozenset(
    {"try_again_later", "issuer_not_available", "processing_error", "reenter_transaction"}
)


def payment_failure(code: str | None, decline_code: str | None, message: str | None) -> Failure:
    """Map a Stripe card error (`code`, `decline_code`) to our failure vocabulary."""
    codes = {code, decline_code}
    if codes & {"authentication_required", "payment_intent_authentication_failure"}:
        reason = FailureReason.AUTHENTICATION_REQUIRED
    elif decline_code == "insufficient_funds":
        reason = FailureReason.INSUFFICIENT_FUNDS
    elif "expired_card" in codes:
        reason = FailureReason.EXPIRED_CARD
    elif codes & {"incorrect_cvc", "invalid_cvc"}:
        reason = FailureReason.INCORRECT_CVC
    elif "processing_error" in codes:
        reason = FailureReason.PROCESSING_ERROR
    else:
        reason = FailureReason.CARD_DECLINED
    retryable = reason == FailureReason.PROCESSING_ERROR or decline_code in _RETRYABLE_DECLINES
    return Failure(
        reason=reason,
        message=message or _DEFAULT_MESSAGES[reason],
        decline_code=decline_code,
        retryable=retryable,
    )
