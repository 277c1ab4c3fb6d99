"""The event contract, version 1: every event bookpay publishes, as frozen pydantic models.

This module is the single source of the contract (docs/events.md and docs/asyncapi.yaml are
generated from it). Each event names its topic and its partition key. Consumers ignore fields
they do not know; a breaking change is a new event name or a new schema_version.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    NonNegativeInt,
    ValidationInfo,
    model_validator,
)

from bookpay_shared import topics
from bookpay_shared.business import (
    DEFAULT_LOCALE,
    DEFAULT_TIME_ZONE,
    BrandColour,
    HttpsUrl,
    Locale,
    TimeZoneName,
)
from bookpay_shared.money import Currency, PositiveAmount

SCHEMA_VERSION: Literal[1] = 1
RECEIVED_REQUIRED = ("event_id", "event_type", "schema_version", "occurred_at", "correlation_id")
"""Common fields a received event must carry (see Event._complete_when_received)."""
RECEIVED = {"received": True}
"""Validation context for events read from Kafka: `Model.model_validate_json(raw, context=RECEIVED)`."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class ChargeMethod(StrEnum):
    """How a charge is paid."""

    CARD_ON_FILE = "card_on_file"
    """A card saved on the customer's profile, charged off-session."""
    NEW_CARD = "new_card"
    """A card tokenized by Stripe.js for this charge, charged on-session, optionally saved."""
    PAYMENT_LINK = "payment_link"
    """A link emailed to the customer, who pays on the hosted payment page."""


class FailureReason(StrEnum):
    """Why a charge failed (PaymentFailed.reason)."""

    CARD_DECLINED = "card_declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CVC = "incorrect_cvc"
    AUTHENTICATION_REQUIRED = "authentication_required"
    NO_CARD_ON_FILE = "no_card_on_file"
    STRIPE_NOT_CONNECTED = "stripe_not_connected"
    INVALID_REQUEST = "invalid_request"
    PROCESSING_ERROR = "processing_error"
    LINK_EXPIRED = "link_expired"
    """The payment link expired before the customer paid."""
    LINK_CANCELLED = "link_cancelled"
    """Staff cancelled the payment link before the customer paid."""


class BookingStatus(StrEnum):
    UNPAID = "unpaid"
    PARTIALLY_PAID = "partially_paid"
    CHARGED_IN_FULL = "charged_in_full"


BookingIds = Annotated[list[uuid.UUID], Field(min_length=1, max_length=100)]


class Event(BaseModel):
    """Fields every event carries. Subclasses set `event_type`, TOPIC and `key()`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    TOPIC: ClassVar[str]

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    event_type: str
    schema_version: Literal[1] = SCHEMA_VERSION
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    correlation_id: uuid.UUID
    """The charge_id of the flow the event belongs to (an entity's own id for entity state)."""

    @model_validator(mode="before")
    @classmethod
    def _complete_when_received(cls, data: Any, info: ValidationInfo) -> Any:
        """A received event must carry every common field: defaults are for new events only
        (a missing event_id would get a new one on every delivery and defeat deduplication)."""
        if info.context and info.context.get("received") and isinstance(data, dict):
            missing = [name for name in RECEIVED_REQUIRED if name not in data]
            if missing:
                raise ValueError(f"missing common field(s): {', '.join(missing)}")
        return data

    def key(self) -> str:
        """The Kafka message key: per-key order is what consumers can rely on."""
        raise NotImplementedError

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


class ChargeEvent(Event):
    """An event about one charge: keyed by its customer, so that a customer's charges are
    processed in order."""

    charge_id: uuid.UUID
    account_id: uuid.UUID
    customer_id: uuid.UUID

    def key(self) -> str:
        return str(self.customer_id)


class ChargeOfBookings(ChargeEvent):
    """An event carrying what a charge is for: its bookings and its amount."""

    booking_ids: BookingIds
    amount: PositiveAmount
    currency: Currency


class ChargeRequested(ChargeOfBookings):
    """Someone asked to charge a customer. charge_id is the idempotency key of the whole flow."""

    TOPIC: ClassVar[str] = topics.CHARGE_REQUESTED
    event_type: Literal["ChargeRequested"] = "ChargeRequested"
    method: ChargeMethod
    payment_method_id: str | None = Field(default=None, pattern=r"^pm_[A-Za-z0-9_]+$")
    save_card: bool = False
    message: str | None = Field(default=None, max_length=2000)
    requested_by: str = Field(min_length=1, max_length=200)
    save_card_consent: str | None = Field(default=None, max_length=1000)
    """new_card with save_card: the consent text the customer agreed to (who: requested_by;
    when: occurred_at)."""
    fallback_to_link: bool = True
    """card_on_file only: when the card needs the customer's authentication, continue the same
    charge as a payment link instead of failing it."""
    link_expires_in_hours: int | None = Field(default=None, ge=1, le=24 * 90)
    """payment_link only: the link's lifetime (default: the account's, else 7 days)."""

    @model_validator(mode="after")
    def _fits_its_method(self) -> ChargeRequested:
        check_method_fields(
            self.method,
            payment_method_id=self.payment_method_id,
            save_card=self.save_card,
            save_card_consent=self.save_card_consent,
            link_expires_in_hours=self.link_expires_in_hours,
        )
        return self


def check_method_fields(
    method: ChargeMethod,
    *,
    payment_method_id: str | None,
    save_card: bool,
    save_card_consent: str | None,
    link_expires_in_hours: int | None,
) -> None:
    """The fields a charge request needs, or must not have, for its method (ValueError)."""
    if method is ChargeMethod.NEW_CARD and not payment_method_id:
        raise ValueError("payment_method_id is required for method new_card")
    if save_card and method is not ChargeMethod.NEW_CARD:
        raise ValueError("save_card applies only to method new_card")
    if save_card and not save_card_consent:
        raise ValueError(
            "save_card_consent (the consent text the customer agreed to) is required to save the card"
        )
    if link_expires_in_hours is not None and method is not ChargeMethod.PAYMENT_LINK:
        raise ValueError("link_expires_in_hours applies only to method payment_link")


class ChargeAccepted(ChargeOfBookings):
    """charge-service accepted a payment-link charge: it fits our records (customer, bookings,
    balance due) and the account's Stripe connection, and now waits for the customer. Only this
    event (never a raw ChargeRequested) makes link-service create the charge's payment link."""

    TOPIC: ClassVar[str] = topics.CHARGE_ACCEPTED
    event_type: Literal["ChargeAccepted"] = "ChargeAccepted"
    method: Literal[ChargeMethod.PAYMENT_LINK] = ChargeMethod.PAYMENT_LINK
    message: str | None = Field(default=None, max_length=2000)
    requested_by: str = Field(min_length=1, max_length=200)
    link_expires_in_hours: int | None = Field(default=None, ge=1, le=24 * 90)
    """The link's lifetime asked for with the charge (default: the account's, else 7 days)."""


class PaymentSucceeded(ChargeOfBookings):
    TOPIC: ClassVar[str] = topics.PAYMENT_SUCCEEDED
    event_type: Literal["PaymentSucceeded"] = "PaymentSucceeded"
    method: ChargeMethod
    stripe_payment_intent_id: str
    card_brand: str | None
    card_last4: str | None
    saved_payment_method_id: str | None = None
    paid_at: AwareDatetime


class PaymentFailed(ChargeOfBookings):
    TOPIC: ClassVar[str] = topics.PAYMENT_FAILED
    event_type: Literal["PaymentFailed"] = "PaymentFailed"
    method: ChargeMethod
    reason: FailureReason
    message: str
    decline_code: str | None = None
    retryable: bool
    stripe_payment_intent_id: str | None = None
    stripe_account_id: str | None = Field(default=None, pattern=r"^acct_[A-Za-z0-9_]+$")
    """The connected Stripe account the charge's PaymentIntent is on (None when no Stripe
    account was involved); a link that continues the charge completes it there."""
    next_action: Literal["payment_link"] | None = None
    """"payment_link": the charge is not over; it continues as a payment link (same charge_id,
    same PaymentIntent) so that the customer can authenticate on-session."""


class PaymentOverCollected(ChargeOfBookings):
    """A charge was paid, but part of it could not be applied to its bookings (they were paid
    already, or are in another currency): the customer paid `unapplied_amount` more than the
    bookings' balance due, to be refunded. Published by booking-service once per charge, when it
    applies the payment; `amount` is the whole charge's."""

    TOPIC: ClassVar[str] = topics.PAYMENT_OVER_COLLECTED
    event_type: Literal["PaymentOverCollected"] = "PaymentOverCollected"
    unapplied_amount: PositiveAmount
    stripe_payment_intent_id: str


class PaymentLinkCreated(ChargeOfBookings):
    TOPIC: ClassVar[str] = topics.PAYMENT_LINK_CREATED
    event_type: Literal["PaymentLinkCreated"] = "PaymentLinkCreated"
    link_id: uuid.UUID
    url: str
    expires_at: AwareDatetime
    message: str | None = None


class PaymentLinkPaid(ChargeEvent):
    """The customer completed payment on a link's page (as seen by link-service). charge-service
    verifies the PaymentIntent with Stripe before it records anything."""

    TOPIC: ClassVar[str] = topics.PAYMENT_LINK_PAID
    event_type: Literal["PaymentLinkPaid"] = "PaymentLinkPaid"
    link_id: uuid.UUID
    stripe_payment_intent_id: str
    save_card: bool = False
    stripe_account_id: str | None = Field(default=None, pattern=r"^acct_[A-Za-z0-9_]+$")
    """The connected Stripe account the PaymentIntent is on: the link's, pinned when the link
    was made, whatever the account is connected to now (None from older publishers)."""


class PaymentLinkClosed(ChargeEvent):
    """A payment link can no longer be paid: it expired or staff cancelled it (published by
    link-service). charge-service ends the link's charge; a payment Stripe still reports as
    succeeded afterwards wins."""

    TOPIC: ClassVar[str] = topics.PAYMENT_LINK_CLOSED
    event_type: Literal["PaymentLinkClosed"] = "PaymentLinkClosed"
    link_id: uuid.UUID
    reason: Literal["expired", "cancelled"]


class NotificationFailed(Event):
    """An email could not be delivered (a permanent SMTP failure), for ops to follow up."""

    TOPIC: ClassVar[str] = topics.NOTIFICATION_FAILED
    event_type: Literal["NotificationFailed"] = "NotificationFailed"
    notification_id: uuid.UUID
    account_id: uuid.UUID
    kind: str
    recipient: EmailStr
    reason: str

    def key(self) -> str:
        return str(self.account_id)


class BookingCharged(Event):
    """A payment was applied to one booking."""

    TOPIC: ClassVar[str] = topics.BOOKING_CHARGED
    event_type: Literal["BookingCharged"] = "BookingCharged"
    booking_id: uuid.UUID
    account_id: uuid.UUID
    customer_id: uuid.UUID
    charge_id: uuid.UUID
    amount_applied: NonNegativeInt
    currency: Currency
    booking_status: Literal[BookingStatus.PARTIALLY_PAID, BookingStatus.CHARGED_IN_FULL]
    amount_paid_total: NonNegativeInt
    balance_due: NonNegativeInt
    charged_at: AwareDatetime
    method: ChargeMethod | None = None

    def key(self) -> str:
        return str(self.booking_id)


# --- Entity state, published by booking-service for other services' projections -------------
# Compacted topics keyed by the entity id; `version` grows with every change so that a
# projection keeps the newest state whatever order it reads them in.


class Administrator(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr


class AccountStateChanged(Event):
    TOPIC: ClassVar[str] = topics.ACCOUNTS_STATE
    event_type: Literal["AccountStateChanged"] = "AccountStateChanged"
    account_id: uuid.UUID
    version: int = Field(ge=1)
    name: str
    admins: list[Administrator]
    notify_admins_on_link_payment: bool
    # The business's details below came later: defaults keep older events valid.
    time_zone: TimeZoneName = DEFAULT_TIME_ZONE
    locale: Locale = DEFAULT_LOCALE
    sender_name: str | None = None
    reply_to: EmailStr | None = None
    contact_phone: str | None = None
    contact_email: EmailStr | None = None
    logo_url: HttpsUrl | None = None
    brand_colour: BrandColour | None = None
    policy_text: str | None = None
    # Later still: an event from before it was known means receipts are sent, the default.
    send_receipts: bool = True

    def key(self) -> str:
        return str(self.account_id)


class CustomerStateChanged(Event):
    TOPIC: ClassVar[str] = topics.CUSTOMERS_STATE
    event_type: Literal["CustomerStateChanged"] = "CustomerStateChanged"
    customer_id: uuid.UUID
    account_id: uuid.UUID
    version: int = Field(ge=1)
    name: str
    email: EmailStr

    def key(self) -> str:
        return str(self.customer_id)


class BookingStateChanged(Event):
    TOPIC: ClassVar[str] = topics.BOOKINGS_STATE
    event_type: Literal["BookingStateChanged"] = "BookingStateChanged"
    booking_id: uuid.UUID
    account_id: uuid.UUID
    customer_id: uuid.UUID
    version: int = Field(ge=1)
    title: str
    starts_at: AwareDatetime
    amount: PositiveAmount
    currency: Currency
    amount_paid: NonNegativeInt
    balance_due: NonNegativeInt
    status: BookingStatus
    settled_charge_ids: list[uuid.UUID] = Field(default_factory=list)
    """Every charge booking-service has applied to this booking (one that got no share of it
    included), oldest first. A charge paid but not listed here yet is not in `amount_paid`:
    charge-service keeps counting it against the balance until every booking lists it."""

    def key(self) -> str:
        return str(self.booking_id)


class StripeConnectionChanged(Event):
    """An account's Stripe connection changed, published by charge-service (which owns Stripe
    connections) so that other services can act for the connected account without reading
    charge-service's data. `stripe_account_id` is None once the account is disconnected."""

    TOPIC: ClassVar[str] = topics.STRIPE_CONNECTIONS_STATE
    event_type: Literal["StripeConnectionChanged"] = "StripeConnectionChanged"
    account_id: uuid.UUID
    stripe_account_id: str | None = Field(default=None, pattern=r"^acct_[A-Za-z0-9_]+$")
    version: int = Field(ge=1)

    def key(self) -> str:
        return str(self.account_id)


class ApiKeyStateChanged(Event):
    """An API key was issued or revoked, published by booking-service (which issues keys) so
    that every service verifies keys locally. It carries the key's SHA-256 hash, never the key:
    the key's 256 random bits make the hash useless to anyone who reads it."""

    TOPIC: ClassVar[str] = topics.API_KEYS_STATE
    event_type: Literal["ApiKeyStateChanged"] = "ApiKeyStateChanged"
    key_id: uuid.UUID
    account_id: uuid.UUID
    scopes: list[str] = Field(min_length=1)
    key_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    revoked: bool
    version: int = Field(ge=1)

    def key(self) -> str:
        return str(self.key_id)


ALL_EVENTS: tuple[type[Event], ...] = (
    ChargeRequested,
    ChargeAccepted,
    PaymentSucceeded,
    PaymentFailed,
    PaymentOverCollected,
    PaymentLinkCreated,
    PaymentLinkPaid,
    PaymentLinkClosed,
    BookingCharged,
    NotificationFailed,
    AccountStateChanged,
    CustomerStateChanged,
    BookingStateChanged,
    StripeConnectionChanged,
    ApiKeyStateChanged,
)
