"""Payment links: the state machine, expiry, and the events and Stripe metadata a link makes.
Pure logic, no I/O.

A link is `active` until it is paid, expires or is cancelled; those three are final, except
that Stripe has the last word on money: a link that expired or was cancelled while its
customer was confirming a payment becomes `paid` if that payment went through.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bookpay_shared.events import (
    ChargeAccepted,
    PaymentFailed,
    PaymentLinkClosed,
    PaymentLinkCreated,
    PaymentLinkPaid,
)

DEFAULT_EXPIRY_HOURS = 24 * 7
MAX_EXPIRY_HOURS = 24 * 90


class LinkState(StrEnum):
    ACTIVE = "active"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class LinkOrigin(StrEnum):
    """Why the link exists."""

    PAYMENT_LINK = "payment_link"
    """Staff (or a service) asked to charge the customer with a payment link."""
    AUTHENTICATION_FALLBACK = "authentication_fallback"
    """A card-on-file charge needed the customer to authenticate: the customer completes the
    charge's existing PaymentIntent on the page."""


_ALLOWED = {
    LinkState.ACTIVE: {LinkState.PAID, LinkState.EXPIRED, LinkState.CANCELLED},
    LinkState.EXPIRED: {LinkState.PAID},
    LinkState.CANCELLED: {LinkState.PAID},
    LinkState.PAID: set(),
}

CLOSED_STATES = frozenset({LinkState.EXPIRED, LinkState.CANCELLED})
"""A closed link takes no payment (PaymentLinkClosed announced it)."""

# PaymentIntent states: the money moved (or is moving), or the intent can no longer pay.
PAID_INTENT_STATES = frozenset({"succeeded"})
PENDING_INTENT_STATES = frozenset({"processing", "requires_capture"})
CONFIRMABLE_INTENT_STATES = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action"}
)


class InvalidTransition(Exception):
    pass


def check_transition(current: LinkState, new: LinkState) -> None:
    if new not in _ALLOWED[current]:
        raise InvalidTransition(f"a payment link cannot go from {current} to {new}")


@dataclass(frozen=True)
class Link:
    link_id: uuid.UUID
    charge_id: uuid.UUID
    account_id: uuid.UUID
    customer_id: uuid.UUID
    booking_ids: tuple[uuid.UUID, ...]
    amount: int
    currency: str
    message: str | None
    origin: LinkOrigin
    state: LinkState
    expires_at: datetime
    created_at: datetime
    payment_intent_id: str | None = None
    save_card: bool = False
    intent_settled: bool = False
    """The PaymentIntent is final in Stripe (succeeded or canceled): nothing left to check."""
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    sent_count: int = 1
    payment_started_at: datetime | None = None
    """When the customer first pressed Pay on the page."""
    stripe_account_id: str | None = None
    """The connected Stripe account its PaymentIntent is made (or was made) on, pinned when the
    link was made: the account's connection then, or for a fallback the charge's own Stripe
    account. A link made before any connection was known here is pinned at its first payment.
    A later reconnection of the account to another Stripe account does not move it."""
    card_brand: str | None = None
    card_last4: str | None = None
    """The card it was paid with (a paid link, once Stripe or charge-service named it)."""

    def state_at(self, now: datetime) -> LinkState:
        """The state as the customer sees it: an active link past its expiry is expired."""
        if self.state is LinkState.ACTIVE and now >= self.expires_at:
            return LinkState.EXPIRED
        return self.state

    @property
    def intent_is_ours(self) -> bool:
        """link-service created the PaymentIntent (not charge-service, as for a fallback)."""
        return self.origin is LinkOrigin.PAYMENT_LINK

    @property
    def intent_needs_checking(self) -> bool:
        return self.payment_intent_id is not None and not self.intent_settled

    def created_event(self, url: str) -> PaymentLinkCreated:
        return PaymentLinkCreated(
            correlation_id=self.charge_id,
            link_id=self.link_id,
            charge_id=self.charge_id,
            account_id=self.account_id,
            customer_id=self.customer_id,
            booking_ids=list(self.booking_ids),
            amount=self.amount,
            currency=self.currency,
            url=url,
            expires_at=self.expires_at,
            message=self.message,
        )

    def paid_event(self, payment_intent_id: str, save_card: bool) -> PaymentLinkPaid:
        return PaymentLinkPaid(
            correlation_id=self.charge_id,
            link_id=self.link_id,
            charge_id=self.charge_id,
            account_id=self.account_id,
            customer_id=self.customer_id,
            stripe_payment_intent_id=payment_intent_id,
            save_card=save_card,
            stripe_account_id=self.stripe_account_id,
        )

    def closed_event(self) -> PaymentLinkClosed:
        """The link expired or was cancelled (its state says which)."""
        if self.state not in CLOSED_STATES:
            raise ValueError(f"a {self.state} link is not closed")
        return PaymentLinkClosed(
            correlation_id=self.charge_id,
            link_id=self.link_id,
            charge_id=self.charge_id,
            account_id=self.account_id,
            customer_id=self.customer_id,
            reason="expired" if self.state is LinkState.EXPIRED else "cancelled",
        )

    def intent_metadata(self, save_card: bool) -> dict[str, str]:
        """What link-service's PaymentIntent carries, for charge-service and for people."""
        return {
            "charge_id": str(self.charge_id),
            "link_id": str(self.link_id),
            "account_id": str(self.account_id),
            "customer_id": str(self.customer_id),
            "booking_ids": ",".join(str(b) for b in self.booking_ids),
            "method": "payment_link",
            "save_card": "true" if save_card else "false",
        }

    @property
    def intent_idempotency_key(self) -> str:
        return f"link:{self.link_id}:payment_intent"


def paid_elsewhere(link: Link, balances_due: Sequence[int] | None) -> bool:
    """Whether a payment link's bookings now owe less than the link asks (they were paid some
    other way since it was made), from the bookings' current balances due; None (some booking
    not known) is not a reason to refuse. An authentication fallback completes its charge's own
    PaymentIntent and is never refused for this."""
    if link.origin is not LinkOrigin.PAYMENT_LINK or balances_due is None:
        return False
    return sum(balances_due) < link.amount


def expiry(
    now: datetime, requested_hours: int | None, account_hours: int | None, default_hours: int
) -> datetime:
    """When a new link expires: the request's lifetime, else the account's, else the default."""
    hours = requested_hours or account_hours or default_hours
    return now + timedelta(hours=min(hours, MAX_EXPIRY_HOURS))


def new_link(
    event: ChargeAccepted | PaymentFailed,
    *,
    now: datetime,
    expires_at: datetime,
    connected_to: str | None = None,
    link_id: uuid.UUID | None = None,
) -> Link:
    """The link for a payment-link charge, or for a card-on-file charge that needs the customer
    to authenticate (its PaymentIntent exists already). It is pinned to the Stripe account the
    account is `connected_to` now, or for a fallback to the one its charge's PaymentIntent is
    on."""
    fallback = isinstance(event, PaymentFailed)
    intent_id = event.stripe_payment_intent_id if isinstance(event, PaymentFailed) else None
    pinned = (event.stripe_account_id if isinstance(event, PaymentFailed) else None) or connected_to
    return Link(
        link_id=link_id or uuid.uuid4(),
        charge_id=event.charge_id,
        account_id=event.account_id,
        customer_id=event.customer_id,
        booking_ids=tuple(event.booking_ids),
        amount=event.amount,
        currency=event.currency,
        message=None if isinstance(event, PaymentFailed) else event.message,
        origin=LinkOrigin.AUTHENTICATION_FALLBACK if fallback else LinkOrigin.PAYMENT_LINK,
        state=LinkState.ACTIVE,
        expires_at=expires_at,
        created_at=now,
        payment_intent_id=intent_id,
        stripe_account_id=pinned,
    )


def starts_link(event: ChargeAccepted | PaymentFailed) -> bool:
    """Whether link-service makes a link for this event."""
    if isinstance(event, ChargeAccepted):
        return True  # charge-service accepted a payment-link charge
    return event.next_action == "payment_link" and event.stripe_payment_intent_id is not None
