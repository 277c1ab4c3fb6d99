"""charge-service's domain: the charge state machine, card choice, and the events a charge
produces. Pure logic, no I/O.

    requested ──► processing ─────────────────► succeeded
        │           │  ▲   │                      ▲  ▲
        │           │  │   ▼                      │  │
        │           │  failed ────────────────────┘  │   (Stripe reports the payment after all)
        │           │  ▲  (a new card: another       │
        │           │  │   attempt)                  │
        │           ▼  │                             │
        └──► awaiting_customer ──────────────────────┘
             (a payment link, or a card on file whose bank wants the customer;
              fails when the link expires or is cancelled)

A charge holds at most one Stripe PaymentIntent, created with the idempotency key
`charge:<charge_id>`; retries, redeliveries and further attempts reuse that PaymentIntent,
never make another.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bookpay_shared.events import (
    ChargeAccepted,
    ChargeMethod,
    ChargeRequested,
    FailureReason,
    PaymentFailed,
    PaymentSucceeded,
)


class ChargeStatus(StrEnum):
    REQUESTED = "requested"
    PROCESSING = "processing"
    """A Stripe attempt is under way (or was interrupted, and is resumed)."""
    AWAITING_CUSTOMER = "awaiting_customer"
    """The customer pays through a payment link."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"


_S = ChargeStatus
_TRANSITIONS: dict[ChargeStatus, frozenset[ChargeStatus]] = {
    _S.REQUESTED: frozenset({_S.PROCESSING, _S.FAILED, _S.AWAITING_CUSTOMER}),
    _S.PROCESSING: frozenset({_S.SUCCEEDED, _S.FAILED, _S.AWAITING_CUSTOMER}),
    _S.AWAITING_CUSTOMER: frozenset({_S.SUCCEEDED, _S.FAILED}),  # paid, or the link closed
    # Another card (new card), or Stripe reporting the payment succeeded after all.
    _S.FAILED: frozenset({_S.PROCESSING, _S.SUCCEEDED}),
    _S.SUCCEEDED: frozenset(),
}

CARD_FAILURES = frozenset(
    {
        FailureReason.CARD_DECLINED,
        FailureReason.INSUFFICIENT_FUNDS,
        FailureReason.EXPIRED_CARD,
        FailureReason.INCORRECT_CVC,
        FailureReason.AUTHENTICATION_REQUIRED,
        FailureReason.PROCESSING_ERROR,
    }
)


class InvalidTransition(Exception):
    pass


def check_transition(current: ChargeStatus, target: ChargeStatus) -> None:
    if target not in _TRANSITIONS[current]:
        raise InvalidTransition(f"a {current} charge cannot become {target}")


@dataclass(frozen=True)
class Failure:
    """Why a payment failed: what the Stripe gateway reports and what PaymentFailed carries."""

    reason: FailureReason
    message: str
    """For a person (Stripe's card messages are written for the cardholder)."""
    decline_code: str | None = None
    retryable: bool = False
    """True when the same card may succeed if tried again later (issuer or network hiccup)."""


@dataclass(frozen=True)
class Charge:
    charge_id: uuid.UUID
    account_id: uuid.UUID
    customer_id: uuid.UUID
    booking_ids: tuple[uuid.UUID, ...]
    amount: int
    currency: str
    method: ChargeMethod
    payment_method_id: str | None
    save_card: bool
    message: str | None
    requested_by: str
    save_card_consent: str | None = None
    fallback_to_link: bool = True
    link_expires_in_hours: int | None = None
    """payment_link only: passed on to link-service with the request; not kept here."""
    status: ChargeStatus = ChargeStatus.REQUESTED
    attempts: int = 0
    stripe_account_id: str | None = None
    stripe_payment_intent_id: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    failure: Failure | None = None
    paid_at: datetime | None = None
    saved_payment_method_id: str | None = None
    requested_at: datetime | None = None
    """When the charge was recorded (None until it is)."""
    updated_at: datetime | None = None
    """When the charge last changed, as read from the database (None until recorded)."""
    requested_method: ChargeMethod | None = None
    """The method asked for: `method` becomes payment_link when the bank wants the customer.
    Set from `method` when not given."""
    requested_payment_method_id: str | None = None
    """The card asked for (None: the default card): `payment_method_id` becomes the card
    chosen. Set from `payment_method_id` when `requested_method` is not given."""

    over_collected: int | None = None
    """What booking-service could not apply to the bookings (PaymentOverCollected): paid beyond
    their balance due, to be refunded."""

    def __post_init__(self) -> None:
        if self.requested_method is None:  # a new request: it asks for what it says
            object.__setattr__(self, "requested_method", self.method)
            object.__setattr__(self, "requested_payment_method_id", self.payment_method_id)

    def can_try_another_card(self) -> bool:
        """A new-card charge whose card failed may be attempted again with another card."""
        return (
            self.method is ChargeMethod.NEW_CARD
            and self.status is ChargeStatus.FAILED
            and self.failure is not None
            and self.failure.reason in CARD_FAILURES
        )

    @property
    def idempotency_key(self) -> str:
        """The Stripe idempotency key of this charge's PaymentIntent."""
        return f"charge:{self.charge_id}"

    @property
    def confirm_idempotency_key(self) -> str:
        return f"charge:{self.charge_id}:confirm:{self.attempts}"

    @property
    def off_session_idempotency_key(self) -> str:
        """The key of a card-on-file attempt's single create-and-confirm request. The first
        attempt uses the charge's key; a later attempt (made only when no PaymentIntent came of
        the earlier ones) gets its own, so Stripe does not replay an earlier answer."""
        if self.attempts <= 1:
            return self.idempotency_key
        return f"charge:{self.charge_id}:attempt:{self.attempts}"

    def same_request(self, other: Charge) -> bool:
        """True when `other` asks for exactly this charge (a harmless repeat): compared with what
        was asked, so a card on file whose card has been chosen since, or that continued as a
        payment link, still matches its repeat."""
        return (
            self.account_id,
            self.customer_id,
            sorted(self.booking_ids),
            self.amount,
            self.currency,
            self.requested_method,
            self.requested_payment_method_id,
        ) == (
            other.account_id,
            other.customer_id,
            sorted(other.booking_ids),
            other.amount,
            other.currency,
            other.requested_method,
            other.requested_payment_method_id,
        )

    @classmethod
    def from_request(cls, event: ChargeRequested) -> Charge:
        return cls(
            charge_id=event.charge_id,
            account_id=event.account_id,
            customer_id=event.customer_id,
            booking_ids=tuple(event.booking_ids),
            amount=event.amount,
            currency=event.currency,
            method=event.method,
            payment_method_id=event.payment_method_id,
            save_card=event.save_card,
            message=event.message,
            requested_by=event.requested_by,
            save_card_consent=event.save_card_consent,
            fallback_to_link=event.fallback_to_link,
        )

    def _charge_fields(self) -> dict[str, Any]:
        """What every event about this charge says of it."""
        return {
            "correlation_id": self.charge_id,
            "charge_id": self.charge_id,
            "account_id": self.account_id,
            "customer_id": self.customer_id,
            "booking_ids": list(self.booking_ids),
            "amount": self.amount,
            "currency": self.currency,
            "method": self.method,
        }

    def request_event(self) -> ChargeRequested:
        return ChargeRequested(
            **self._charge_fields(),
            payment_method_id=self.payment_method_id,
            save_card=self.save_card,
            message=self.message,
            requested_by=self.requested_by,
            save_card_consent=self.save_card_consent,
            fallback_to_link=self.fallback_to_link,
            link_expires_in_hours=self.link_expires_in_hours,
        )

    def accepted_event(self) -> ChargeAccepted:
        """A payment-link charge that passed its checks: link-service makes its link."""
        assert self.method is ChargeMethod.PAYMENT_LINK
        return ChargeAccepted(
            **{**self._charge_fields(), "method": ChargeMethod.PAYMENT_LINK},
            message=self.message,
            requested_by=self.requested_by,
            link_expires_in_hours=self.link_expires_in_hours,
        )

    def succeeded_event(self) -> PaymentSucceeded:
        assert self.stripe_payment_intent_id and self.paid_at
        return PaymentSucceeded(
            **self._charge_fields(),
            stripe_payment_intent_id=self.stripe_payment_intent_id,
            card_brand=self.card_brand,
            card_last4=self.card_last4,
            saved_payment_method_id=self.saved_payment_method_id,
            paid_at=self.paid_at,
        )

    def failed_event(self) -> PaymentFailed:
        assert self.failure is not None
        return PaymentFailed(
            **self._charge_fields(),
            reason=self.failure.reason,
            message=self.failure.message,
            decline_code=self.failure.decline_code,
            retryable=self.failure.retryable,
            stripe_payment_intent_id=self.stripe_payment_intent_id,
            stripe_account_id=self.stripe_account_id,
            next_action="payment_link" if self.status is ChargeStatus.AWAITING_CUSTOMER else None,
        )


IN_FLIGHT = frozenset({_S.REQUESTED, _S.PROCESSING, _S.AWAITING_CUSTOMER})
"""Charges that may still take money."""


@dataclass(frozen=True)
class BalanceClaim:
    """Another charge for some of the same bookings, as far as the balance check is concerned."""

    charge_id: uuid.UUID
    amount: int
    status: ChargeStatus
    awaits_settlement: bool
    """False for charges that succeeded before settlement was tracked (taken as applied)."""
    bookings_not_settled: int
    """How many of its bookings we know whose state does not list it as applied yet."""

    @property
    def counts(self) -> bool:
        """Whether the charge still takes from the balance due that our projection shows: while
        it may still take money, and once paid until booking-service has applied it to every
        booking of it that we know (until then the balance due does not include it)."""
        if self.status in IN_FLIGHT:
            return True
        return (
            self.status is _S.SUCCEEDED and self.awaits_settlement and self.bookings_not_settled > 0
        )


def amount_claimed(claims: list[BalanceClaim]) -> int:
    """What other charges take from the bookings' balance due as our projection shows it."""
    return sum(c.amount for c in claims if c.counts)


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a charge's history: every change of state, attempt and signal."""

    at: datetime
    status: str
    note: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class StripeConnection:
    """An account's connection to a Stripe account, as made (one entry of its history)."""

    account_id: uuid.UUID
    stripe_account_id: str
    version: int
    """1 for the first connection, then +1 on every change."""
    connected_by: str
    connected_at: datetime
    previous_stripe_account_id: str | None = None


@dataclass(frozen=True)
class SavedCard:
    payment_method_id: str
    account_id: uuid.UUID
    customer_id: uuid.UUID
    stripe_account_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str | None
    is_default: bool
    created_at: datetime | None = None


def choose_card(cards: list[SavedCard], requested: str | None) -> SavedCard | None:
    """The card to charge: the one asked for, else the default, else the newest saved."""
    if requested is not None:
        return next((c for c in cards if c.payment_method_id == requested), None)
    default = next((c for c in cards if c.is_default), None)
    return default or (cards[-1] if cards else None)


NOT_CONNECTED = Failure(
    FailureReason.STRIPE_NOT_CONNECTED,
    "This account has not connected a Stripe account; connect Stripe before charging.",
)


def no_card_failure(requested: str | None) -> Failure:
    if requested:
        return Failure(
            FailureReason.NO_CARD_ON_FILE,
            f"The card {requested} is not saved on this customer's profile.",
        )
    return Failure(FailureReason.NO_CARD_ON_FILE, "This customer has no saved card to charge.")


def authentication_failure(on_session: bool) -> Failure:
    """The card's bank asked for 3-D Secure."""
    if on_session:
        message = (
            "The card's bank asks the cardholder to authenticate this payment; "
            "send the customer a payment link instead."
        )
    else:
        message = (
            "The card's bank asks the customer to authenticate this payment; "
            "the customer must pay while present (a payment link)."
        )
    return Failure(FailureReason.AUTHENTICATION_REQUIRED, message, None, retryable=True)


@dataclass(frozen=True)
class ChargeFilter:
    """Which of an account's charges a staff list shows: every field left empty shows all.
    `created_from` is inclusive and `created_to` exclusive, so adjacent ranges never share a
    charge."""

    customer_id: uuid.UUID | None = None
    statuses: frozenset[ChargeStatus] = frozenset()
    """Any of these (none: any status)."""
    method: ChargeMethod | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    failure_reasons: frozenset[FailureReason] = frozenset()
    """Only failed charges that failed for one of these reasons (none: no such filter). A
    charge that went on after a failure (to a payment link, another card) is not failed, and
    is not listed by reason."""

    def __post_init__(self) -> None:
        if self.created_from and self.created_to and self.created_from >= self.created_to:
            raise ValueError("created_from must be before created_to")
