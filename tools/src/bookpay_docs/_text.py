"""The words and examples of the published contract that the event models do not carry.

A field's description comes from the model when it has one (`Field(description=...)` or an
attribute docstring); the tables here fill in the rest. Examples are real, valid events with
fixed ids, so the generated documents do not change from one run to the next.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import textwrap
import uuid
from functools import cache
from typing import Any

from bookpay_shared.events import (
    AccountStateChanged,
    ApiKeyStateChanged,
    BookingCharged,
    BookingStateChanged,
    ChargeAccepted,
    ChargeRequested,
    CustomerStateChanged,
    Event,
    NotificationFailed,
    PaymentFailed,
    PaymentLinkClosed,
    PaymentLinkCreated,
    PaymentLinkPaid,
    PaymentOverCollected,
    PaymentSucceeded,
    StripeConnectionChanged,
)

ENVELOPE_FIELDS: tuple[str, ...] = tuple(Event.model_fields)
"""The fields every event carries (event_id, event_type, schema_version, ...)."""

_COMMON_NOTES: dict[str, str] = {
    "event_id": "Unique per event. Consumers record it to make redeliveries do nothing.",
    "event_type": "The event's name; tells a consumer which model the message is.",
    "schema_version": "The version of this event's schema.",
    "occurred_at": "When the fact happened (RFC 3339, UTC).",
    "charge_id": "The charge this belongs to; the idempotency key of the whole flow.",
    "account_id": "The booking business's account.",
    "customer_id": "The customer being charged.",
    "booking_ids": "The bookings the charge pays for.",
    "amount": "The amount, in the currency's minor unit.",
    "currency": "Lower-case ISO 4217 code.",
    "method": "How the charge is paid.",
}

_EVENT_NOTES: dict[type[Event], dict[str, str]] = {
    ChargeRequested: {
        "payment_method_id": "A Stripe PaymentMethod (`pm_…`). Required for `new_card`; for "
        "`card_on_file`, leaving it out charges the customer's default card.",
        "save_card": "`new_card` only: save the card on the customer's profile.",
        "message": "An optional note from staff, shown in the payment-link email.",
        "requested_by": "Who asked for the charge (a staff user or a service).",
    },
    ChargeAccepted: {
        "method": "Always `payment_link`: the charge waits for the customer to pay on a link.",
        "message": "The staff note from the charge request, shown in the payment-link email.",
        "requested_by": "Who asked for the charge (a staff user or a service).",
        "link_expires_in_hours": "The link's lifetime asked for with the charge, or null for "
        "the account's (else 7 days).",
    },
    PaymentSucceeded: {
        "stripe_payment_intent_id": "The Stripe PaymentIntent (`pi_…`) that took the money.",
        "card_brand": "The brand of the card charged (`visa`, `mastercard`, …), when known.",
        "card_last4": "The last four digits of the card charged, when known.",
        "saved_payment_method_id": "The PaymentMethod this charge saved on the customer's "
        "profile, or null.",
        "paid_at": "When Stripe confirmed the payment.",
    },
    PaymentFailed: {
        "reason": "Why the charge failed, for programs.",
        "message": "Why the charge failed, for a person (safe to show staff).",
        "decline_code": "Stripe's decline code when the card was declined, else null.",
        "retryable": "True when the same charge may succeed if asked again later.",
        "stripe_payment_intent_id": "The Stripe PaymentIntent, when one was created.",
    },
    PaymentOverCollected: {
        "amount": "The whole charge's amount, in the currency's minor unit.",
        "unapplied_amount": "What could not be applied to the bookings: paid beyond their "
        "balance due, to be refunded (minor units).",
        "stripe_payment_intent_id": "The Stripe PaymentIntent (`pi_…`) that took the money.",
    },
    PaymentLinkPaid: {
        "link_id": "The payment link that was paid.",
        "stripe_payment_intent_id": "The PaymentIntent the page confirmed; charge-service "
        "checks it with Stripe before it believes this event.",
        "save_card": "The customer asked to save the card on their profile.",
    },
    PaymentLinkClosed: {
        "link_id": "The payment link that can no longer be paid.",
        "reason": "`expired` or `cancelled`.",
    },
    NotificationFailed: {
        "notification_id": "The notification (one email) that failed.",
        "account_id": "The account the email was sent for.",
        "kind": "What the email was, e.g. `payment_link` or `admin_link_payment`.",
        "recipient": "The address that could not be reached.",
        "reason": "The SMTP server's answer, or why the email was not sent.",
    },
    PaymentLinkCreated: {
        "link_id": "The payment link.",
        "url": "The hosted payment page. It carries the link's secret token: treat it as a "
        "credential and never log it.",
        "expires_at": "After this time the link no longer takes payments.",
        "message": "The staff note from the charge request, shown in the email.",
    },
    BookingCharged: {
        "booking_id": "The booking a payment was applied to.",
        "charge_id": "The charge whose payment was applied.",
        "amount_applied": "The part of the charge applied to this booking (minor units).",
        "booking_status": "The booking's status after this payment.",
        "amount_paid_total": "Everything paid on the booking so far (minor units).",
        "balance_due": "What the customer still owes on the booking (minor units).",
        "charged_at": "When the payment was applied to the booking.",
        "method": "How the charge was paid, when known.",
    },
    AccountStateChanged: {
        "account_id": "The account.",
        "version": "Grows with every change of the account; keep the highest seen.",
        "name": "The business's name.",
        "admins": "The account's administrators (name and email).",
        "notify_admins_on_link_payment": "Email the administrators when a customer pays "
        "through a payment link.",
        "send_receipts": "Email the customer a receipt after every successful charge (card on "
        "file, new card or payment link). True when absent (events from before it existed).",
        "time_zone": "The business's IANA time zone: every time shown to its customers and "
        "staff is in it (instants stay UTC). `UTC` when not set.",
        "locale": "The business's language tag, e.g. `en-US`.",
        "sender_name": "The display name its emails come from (`<it> via bookpay`); the "
        "account's name when null.",
        "reply_to": "Where replies to its emails go (Reply-To), or null.",
        "contact_phone": "The phone number shown to its customers, or null.",
        "contact_email": "The email address shown to its customers, or null.",
        "logo_url": "Its logo (https only), or null.",
        "brand_colour": "Its colour, `#rrggbb`, used as an accent where white text on it stays "
        "readable (WCAG AA), or null.",
        "policy_text": "Its refund and cancellation policy (may break lines), or null.",
    },
    CustomerStateChanged: {
        "customer_id": "The customer.",
        "account_id": "The account the customer belongs to.",
        "version": "Grows with every change of the customer; keep the highest seen.",
        "name": "The customer's name.",
        "email": "Where payment links and receipts are sent.",
    },
    ApiKeyStateChanged: {
        "key_id": "The key's public id (also in the key itself: `bp_test_<key id>_…`).",
        "account_id": "The one account the key acts for.",
        "scopes": "What the key may do (`read`, `charges:write`, …; see the README).",
        "key_hash": "SHA-256 of the whole key, hex: what a service compares a presented key with.",
        "revoked": "True once the key is revoked: refuse it from then on.",
        "version": "Grows with every change of the key; keep the highest seen.",
    },
    StripeConnectionChanged: {
        "account_id": "The account.",
        "stripe_account_id": "The connected Stripe account (`acct_…`), or null once the "
        "account is disconnected.",
        "version": "Grows with every change of the connection; keep the highest seen.",
    },
    BookingStateChanged: {
        "booking_id": "The booking.",
        "customer_id": "The customer who made the booking.",
        "version": "Grows with every change of the booking; keep the highest seen.",
        "title": "What was booked, as shown to the customer.",
        "starts_at": "When the booked activity starts.",
        "amount": "The booking's price (minor units).",
        "amount_paid": "Everything paid on the booking so far (minor units).",
        "balance_due": "What the customer still owes on the booking (minor units).",
        "status": "Whether the booking is unpaid, partly paid or charged in full.",
    },
}


@cache
def attribute_docstrings(cls: type) -> dict[str, str]:
    """The docstrings written under a class's attributes, its bases' included."""
    notes: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("bookpay_shared"):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, after in itertools.pairwise(body):
            name, text = _assigned_name(stmt), _string(after)
            if name and text:
                notes[name] = inspect.cleandoc(text)
    return notes


def _string(stmt: ast.stmt) -> str | None:
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        value = stmt.value.value
        return value if isinstance(value, str) else None
    return None


def _assigned_name(stmt: ast.stmt) -> str | None:
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return stmt.target.id
    if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id
    return None


def field_description(event: type[Event], name: str) -> str | None:
    """The model's own description of a field, else its docstring, else the tables here."""
    info = event.model_fields[name]
    return (
        info.description
        or attribute_docstrings(event).get(name)
        or _EVENT_NOTES.get(event, {}).get(name)
        or _COMMON_NOTES.get(name)
    )


def _id(n: int) -> str:
    return str(uuid.UUID(f"6b1f3c2e-9a4d-4c8b-8e21-{n:012x}"))


ACCOUNT, CUSTOMER, BOOKING, BOOKING_2, CHARGE, LINK, NOTIFICATION = (_id(n) for n in range(1, 8))

_FLOW = {
    "correlation_id": CHARGE,
    "charge_id": CHARGE,
    "account_id": ACCOUNT,
    "customer_id": CUSTOMER,
}
_MONEY = {"booking_ids": [BOOKING, BOOKING_2], "amount": 25000, "currency": "usd"}

_EXAMPLES: dict[type[Event], dict[str, Any]] = {
    ChargeRequested: {
        **_FLOW,
        **_MONEY,
        "method": "payment_link",
        "message": "Balance for your kayak tour and the gear rental.",
        "requested_by": "staff:jane.doe@example.com",
        "link_expires_in_hours": 168,
    },
    ChargeAccepted: {
        **_FLOW,
        **_MONEY,
        "method": "payment_link",
        "message": "Balance for your kayak tour and the gear rental.",
        "requested_by": "staff:jane.doe@example.com",
        "link_expires_in_hours": 168,
    },
    PaymentSucceeded: {
        **_FLOW,
        **_MONEY,
        "method": "payment_link",
        "stripe_payment_intent_id": "pi_3PqR5tLkdIwHu7ix0A1b2C3d",
        "card_brand": "visa",
        "card_last4": "4242",
        "saved_payment_method_id": None,
        "paid_at": "2025-06-01T14:03:27Z",
    },
    PaymentFailed: {
        **_FLOW,
        **_MONEY,
        "method": "card_on_file",
        "reason": "card_declined",
        "message": "The card was declined.",
        "decline_code": "generic_decline",
        "retryable": False,
        "stripe_payment_intent_id": "pi_3PqR5tLkdIwHu7ix0A1b2C3d",
    },
    PaymentLinkCreated: {
        **_FLOW,
        **_MONEY,
        "link_id": LINK,
        "url": "https://pay.example.com/pay/<token>",
        "expires_at": "2025-06-08T14:00:00Z",
        "message": "Balance for your kayak tour and the gear rental.",
    },
    PaymentLinkPaid: {
        **_FLOW,
        "link_id": LINK,
        "stripe_payment_intent_id": "pi_3PqR5tLkdIwHu7ix0A1b2C3d",
        "save_card": True,
    },
    PaymentLinkClosed: {
        **_FLOW,
        "link_id": LINK,
        "reason": "expired",
    },
    NotificationFailed: {
        "correlation_id": CHARGE,
        "notification_id": NOTIFICATION,
        "account_id": ACCOUNT,
        "kind": "payment_link",
        "recipient": "alex.rivera@example.com",
        "reason": "550 5.1.1 mailbox unavailable",
    },
    BookingCharged: {
        **_FLOW,
        "booking_id": BOOKING,
        "amount_applied": 15000,
        "currency": "usd",
        "booking_status": "charged_in_full",
        "amount_paid_total": 20000,
        "balance_due": 0,
        "charged_at": "2025-06-01T14:03:28Z",
        "method": "payment_link",
    },
    AccountStateChanged: {
        "correlation_id": ACCOUNT,
        "account_id": ACCOUNT,
        "version": 3,
        "name": "Harbour Kayak Tours",
        "admins": [{"name": "Jane Doe", "email": "jane.doe@example.com"}],
        "notify_admins_on_link_payment": True,
        "time_zone": "America/Halifax",
        "locale": "en-CA",
        "sender_name": "Harbour Kayak Tours",
        "reply_to": "hello@harbourkayak.example",
        "contact_phone": "+1 902 555 0142",
        "contact_email": "hello@harbourkayak.example",
        "logo_url": "https://harbourkayak.example/logo.png",
        "brand_colour": "#0b5d7a",
        "policy_text": "Full refund up to 48 hours before your tour.",
        "send_receipts": True,
    },
    CustomerStateChanged: {
        "correlation_id": CUSTOMER,
        "customer_id": CUSTOMER,
        "account_id": ACCOUNT,
        "version": 1,
        "name": "Alex Rivera",
        "email": "alex.rivera@example.com",
    },
    BookingStateChanged: {
        "correlation_id": BOOKING,
        "booking_id": BOOKING,
        "account_id": ACCOUNT,
        "customer_id": CUSTOMER,
        "version": 2,
        "title": "Sunset kayak tour, 2 adults",
        "starts_at": "2025-06-14T18:30:00Z",
        "amount": 20000,
        "currency": "usd",
        "amount_paid": 5000,
        "balance_due": 15000,
        "status": "partially_paid",
        "settled_charge_ids": [CHARGE],
    },
    ApiKeyStateChanged: {
        "correlation_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "key_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "account_id": ACCOUNT,
        "scopes": ["read", "charges:write"],
        "key_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "revoked": False,
        "version": 1,
    },
    StripeConnectionChanged: {
        "correlation_id": ACCOUNT,
        "account_id": ACCOUNT,
        "stripe_account_id": "acct_1PqR5tLkdIwHu7ix",
        "version": 1,
    },
    PaymentOverCollected: {
        **_FLOW,
        **_MONEY,
        "unapplied_amount": 1200,
        "stripe_payment_intent_id": "pi_3PqR5tLkdIwHu7ix0A1b2C3d",
    },
}


def example_event(event: type[Event]) -> Event:
    """A valid instance of `event`, the same every time."""
    if event not in _EXAMPLES:
        raise LookupError(f"{event.__name__} has no example: add one to _EXAMPLES in {__name__}")
    fixed = {
        "event_id": _id(0x100 + list(_EXAMPLES).index(event)),
        "occurred_at": "2025-06-01T14:03:28Z",
    }
    return event.model_validate({**fixed, **_EXAMPLES[event]})


_SUMMARIES: dict[type[Event], str] = {
    PaymentSucceeded: "A charge was paid: Stripe took the money.",
    PaymentFailed: "A charge failed; `reason` says why and `retryable` whether asking again "
    "may help.",
    PaymentLinkCreated: "A payment link was made for a charge, ready to be emailed.",
    AccountStateChanged: "The current state of an account, after a change.",
    CustomerStateChanged: "The current state of a customer, after a change.",
    BookingStateChanged: "The current state of a booking, after a change.",
}


def event_summary(event: type[Event]) -> str:
    """The event's docstring, else the table's summary."""
    doc = event.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if doc else _SUMMARIES[event]


def key_field(event: type[Event]) -> str:
    """The field whose value `event.key()` returns, asked of an event whose every field holds
    its own name."""
    values: dict[str, Any] = {name: f"<{name}>" for name in event.model_fields}
    probe = event.model_construct(**values)
    name = probe.key().removeprefix("<").removesuffix(">")
    if name not in event.model_fields or name in ENVELOPE_FIELDS:
        raise ValueError(f"{event.__name__}.key() is not one of its own fields")
    return name
