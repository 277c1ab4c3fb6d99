"""notification-service's domain: emails to deliver, what happens after each attempt, when
the administrators' email about a link payment has everything it needs, and what a customer's
receipt is made from. Pure logic, no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

from bookpay_shared.backoff import Backoff
from bookpay_shared.templating import escape


class NotificationKind(StrEnum):
    PAYMENT_LINK = "payment_link"
    """The customer's email with the payment link."""
    ADMIN_LINK_PAID = "admin_link_paid"
    """An administrator's email after booking(s) were paid through a link."""
    RECEIPT = "receipt"
    """The customer's receipt after a successful charge, whatever the method."""


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    """Waiting for its (next) attempt at `next_attempt_at`."""
    SENDING = "sending"
    """Claimed by a sender until its lease ends."""
    SENT = "sent"
    """The SMTP server accepted it."""
    FAILED = "failed"
    """Refused for good (a 5xx reply) or given up on; NotificationFailed was published."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


REDACTED = "<redacted>"


def redacted_url(url: str) -> str:
    """The URL with its secret, the last segment of its path (a payment link's token), replaced
    by `<redacted>`, and without query or fragment: `https://pay.example/pay/<redacted>`."""
    parts = urlsplit(url)
    folder = parts.path.rpartition("/")[0]
    return urlunsplit((parts.scheme, parts.netloc, f"{folder}/{REDACTED}", "", ""))


def with_link_url(email: RenderedEmail, url: str) -> RenderedEmail:
    """An email rendered with `redacted_url(url)` in place of its link, with the link itself:
    in the HTML escaped as the templates escape every value (their `escape`), in the text as
    is."""
    placeholder = redacted_url(url)
    return RenderedEmail(
        subject=email.subject,
        html=email.html.replace(str(escape(placeholder)), str(escape(url))),
        text=email.text.replace(placeholder, url),
    )


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str | None = None


@dataclass(frozen=True)
class Sender:
    """The business an email is sent for, as its headers name it: From "<name> via bookpay"
    (at bookpay's own address, the one SMTP servers trust us for) and Reply-To its address."""

    name: str
    reply_to: str | None = None

    @property
    def from_name(self) -> str:
        """The From display name, on one line: `Harbour Kayak Tours via bookpay`."""
        return f"{' '.join(self.name.split())} via bookpay"


@dataclass(frozen=True)
class NewNotification:
    """One email to one recipient; (dedupe_key, recipient) is written at most once."""

    id: uuid.UUID
    dedupe_key: str
    kind: NotificationKind
    account_id: uuid.UUID
    charge_id: uuid.UUID | None
    recipient: Recipient
    email: RenderedEmail
    customer_id: uuid.UUID | None = None
    """The customer the email is about (the recipient, or the payer the administrators hear
    of); None only for emails written before it was kept."""
    link_url: str | None = field(default=None, repr=False)
    """A secret URL the email carries (the payment link), kept apart from the email, which
    holds `redacted_url(link_url)` in its place, and forgotten once the email is sent or
    failed for good."""
    sender: Sender | None = None


def link_email_key(event_id: uuid.UUID) -> str:
    """Each PaymentLinkCreated (a first send or a resend) is one email."""
    return f"payment-link:{event_id}"


def admin_email_key(charge_id: uuid.UUID) -> str:
    """One administrators' email per charge paid through a link."""
    return f"admin-link-paid:{charge_id}"


def receipt_key(charge_id: uuid.UUID) -> str:
    """One receipt per successful charge (PaymentSucceeded delivered twice, or published twice
    for the same charge, is still one charge)."""
    return f"receipt:{charge_id}"


def charge_url(charge_service_base_url: str, account_id: uuid.UUID, charge_id: uuid.UUID) -> str:
    """Where staff see a charge, its status and history: charge-service's
    `GET /v1/accounts/{account_id}/charges/{charge_id}` (the URL its card-entry page links to
    after a payment), under the base URL staff reach charge-service at."""
    return f"{charge_service_base_url.rstrip('/')}/v1/accounts/{account_id}/charges/{charge_id}"


def unique_recipients(recipients: list[Recipient]) -> list[Recipient]:
    """Recipients in order, each address (compared case-insensitively) once."""
    seen: set[str] = set()
    result = []
    for r in recipients:
        if r.email.lower() not in seen:
            seen.add(r.email.lower())
            result.append(r)
    return result


@dataclass(frozen=True)
class Delivery:
    """A notification claimed for one send attempt."""

    id: uuid.UUID
    kind: NotificationKind
    account_id: uuid.UUID
    charge_id: uuid.UUID | None
    recipient: Recipient
    email: RenderedEmail
    """As stored: a secret link in it is redacted (see `outgoing`)."""
    attempt: int
    """This attempt's number, from 1."""
    link_url: str | None = field(default=None, repr=False)
    trace_context: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Propagation headers of the trace that wrote the email; its send continues it."""
    sender: Sender | None = None
    """None for emails written before the sender was kept: from the configured address."""

    def outgoing(self) -> RenderedEmail:
        """The email to send: with its secret link, if it has one."""
        if self.link_url is None:
            return self.email
        return with_link_url(self.email, self.link_url)


# --- what an attempt led to --------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    reply: str


@dataclass(frozen=True)
class TemporaryFailure:
    """Worth trying again: no connection, a timeout, a 4xx reply, a server-side problem."""

    reason: str


@dataclass(frozen=True)
class PermanentFailure:
    """The server refused this email for good (a 5xx reply to the recipient or the data)."""

    reason: str


SendOutcome = Accepted | TemporaryFailure | PermanentFailure


@dataclass(frozen=True)
class MarkSent:
    reply: str


@dataclass(frozen=True)
class RetryLater:
    delay_seconds: float
    reason: str


@dataclass(frozen=True)
class MarkFailed:
    reason: str


NextStep = MarkSent | RetryLater | MarkFailed


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for temporary failures, up to `max_attempts` attempts in all."""

    base_seconds: float = 2.0
    max_seconds: float = 600.0
    max_attempts: int = 25

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (1, 2, ...)."""
        return Backoff(self.base_seconds, cap=self.max_seconds).delay(attempt)

    def next_step(self, outcome: SendOutcome, attempt: int) -> NextStep:
        if isinstance(outcome, Accepted):
            return MarkSent(outcome.reply)
        if isinstance(outcome, PermanentFailure):
            return MarkFailed(outcome.reason)
        if attempt >= self.max_attempts:
            return MarkFailed(f"gave up after {attempt} attempts: {outcome.reason}")
        return RetryLater(self.delay(attempt), outcome.reason)


# --- the administrators' email after a link payment ----------------------------------------


@dataclass(frozen=True)
class LinkPayment:
    """A charge paid through a payment link, with what was known when it was processed."""

    charge_id: uuid.UUID
    account_id: uuid.UUID
    merchant_name: str
    customer_name: str
    customer_email: str
    booking_ids: tuple[uuid.UUID, ...]
    amount: int
    currency: str
    stripe_payment_intent_id: str
    paid_at: datetime
    admins: tuple[Recipient, ...]
    """The account's administrators to notify (none when the account turned it off)."""
    customer_id: uuid.UUID | None = None
    """Who paid (PaymentSucceeded.customer_id); None only for payments kept before it was."""


@dataclass(frozen=True)
class BookingCharge:
    """One booking a charge was applied to (from BookingCharged)."""

    charge_id: uuid.UUID
    booking_id: uuid.UUID
    booking_status: str
    amount_applied: int
    balance_due: int


def bookings_settled(payment: LinkPayment, charges: list[BookingCharge]) -> bool:
    """Whether every BookingCharged of the payment has arrived: each of its bookings has one,
    or the amounts applied add up to the payment (bookings left over received nothing)."""
    charged = {c.booking_id for c in charges if c.charge_id == payment.charge_id}
    applied = sum(c.amount_applied for c in charges if c.charge_id == payment.charge_id)
    return set(payment.booking_ids) <= charged or applied >= payment.amount


# --- the customer's receipt ----------------------------------------------------------------


@dataclass(frozen=True)
class PaidCharge:
    """A successful charge, as PaymentSucceeded told it: what the customer's receipt is made
    of, kept until the account and customer are known and the receipt is written (or the
    account turned receipts off)."""

    charge_id: uuid.UUID
    account_id: uuid.UUID
    customer_id: uuid.UUID
    booking_ids: tuple[uuid.UUID, ...]
    amount: int
    currency: str
    method: str
    """A ChargeMethod value: card_on_file, new_card or payment_link."""
    stripe_payment_intent_id: str
    card_brand: str | None
    card_last4: str | None
    paid_at: datetime


class ReceiptDecision(StrEnum):
    """What became of a paid charge's receipt; a charge without one is still waiting."""

    EMAILED = "emailed"
    """The receipt was written to the outbox of emails."""
    TURNED_OFF = "turned_off"
    """The account does not send receipts: none was written."""
