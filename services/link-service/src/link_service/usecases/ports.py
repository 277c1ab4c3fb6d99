"""What link-service's use cases need from Stripe, as a protocol: the PaymentIntent of a
payment link and the two ways a call can fail. `adapters.stripe_gateway` implements it on the
Stripe API; the use cases know only this.

- `StripeUnavailable`: network trouble, rate limiting, a 5xx: try again later;
- `StripeRejected`: Stripe refused the request (unknown id, a state that forbids it...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Intent:
    id: str
    status: str
    amount: int
    currency: str
    metadata: Mapping[str, str]
    client_secret: str | None = field(repr=False)
    """For Stripe.js in the customer's browser only; never log or store it (left out of
    repr, so that logging an Intent cannot leak it)."""
    card: CardShown | None = None
    """The card it was paid (or tried) with, when Stripe names one: for the receipt."""

    @property
    def save_card(self) -> bool:
        return self.metadata.get("save_card") == "true"


@dataclass(frozen=True)
class CardShown:
    """What a receipt may show of a card: its brand and last four digits, nothing more."""

    brand: str
    last4: str


class StripeUnavailable(Exception):
    """Stripe could not be reached or asked us to slow down."""


class StripeRejected(Exception):
    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class StripeGateway(Protocol):
    async def create_intent(
        self,
        *,
        stripe_account: str,
        amount: int,
        currency: str,
        metadata: Mapping[str, str],
        save_card: bool,
        idempotency_key: str,
    ) -> Intent: ...

    async def retrieve_intent(self, *, stripe_account: str, intent_id: str) -> Intent: ...

    async def update_intent(
        self, *, stripe_account: str, intent_id: str, metadata: Mapping[str, str], save_card: bool
    ) -> Intent: ...

    async def cancel_intent(self, *, stripe_account: str, intent_id: str) -> Intent: ...
