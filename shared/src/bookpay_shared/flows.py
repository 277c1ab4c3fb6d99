"""Who publishes each event and who consumes it: the services' roles in the contract.

The one table (`FLOWS`) the Kafka ACLs are derived from (`kafka_acls`) and docs/events.md and
docs/asyncapi.yaml describe; a test checks it against what each service's app subscribes to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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

__all__ = ["BOOKING", "CHARGE", "FLOWS", "LINK", "NOTIFICATION", "Flow", "flow_of"]

BOOKING = "booking-service"
CHARGE = "charge-service"
LINK = "link-service"
NOTIFICATION = "notification-service"


@dataclass(frozen=True)
class Flow:
    """Who publishes an event and who consumes it, each with what it does (a verb phrase;
    empty for plain publishing or consuming)."""

    sends: Mapping[str, str]
    receives: Mapping[str, str] = field(default_factory=dict)

    @property
    def producers(self) -> tuple[str, ...]:
        return tuple(self.sends)

    @property
    def consumers(self) -> tuple[str, ...]:
        return tuple(self.receives)


_STATE_FLOW = Flow(
    {BOOKING: "publishes every change of the entity, through its outbox"},
    dict.fromkeys((CHARGE, LINK, NOTIFICATION), "keeps its local projection up to date"),
)

FLOWS: Mapping[type[Event], Flow] = {
    ChargeRequested: Flow(
        {
            CHARGE: "publishes it for each charge its HTTP API accepts, through its outbox "
            "(other internal services may publish it too)"
        },
        {
            CHARGE: "records the charge, checks it against its records, then charges the card "
            "(card_on_file, new_card) or accepts it (payment_link)",
        },
    ),
    ChargeAccepted: Flow(
        {
            CHARGE: "publishes it when a payment-link charge passes its checks (customer, "
            "bookings, balance due, Stripe connection), through its outbox"
        },
        {LINK: "creates the charge's payment link"},
    ),
    PaymentSucceeded: Flow(
        {CHARGE: ""},
        {
            BOOKING: "applies the payment to the bookings",
            LINK: "marks the charge's payment link paid, if it has one",
            NOTIFICATION: "emails the customer a receipt (unless the account turned receipts "
            "off), and notes a payment-link payment for the administrators' email",
        },
    ),
    PaymentFailed: Flow(
        {CHARGE: ""},
        {LINK: "creates a payment link when the charge continues as one (next_action)"},
    ),
    PaymentOverCollected: Flow(
        {BOOKING: "publishes it when part of a payment cannot be applied to the bookings"},
        {CHARGE: "records the amount over the balance due on the charge, to be refunded"},
    ),
    PaymentLinkCreated: Flow({LINK: ""}, {NOTIFICATION: "emails the link to the customer"}),
    PaymentLinkPaid: Flow(
        {LINK: "publishes it when a customer completes payment on the link's page"},
        {CHARGE: "checks the PaymentIntent with Stripe, then records the outcome"},
    ),
    PaymentLinkClosed: Flow(
        {LINK: "publishes it when a link expires or staff cancel it"},
        {CHARGE: "ends the link's charge (a payment Stripe reports as succeeded still wins)"},
    ),
    NotificationFailed: Flow({NOTIFICATION: "publishes it when an email cannot be delivered"}),
    BookingCharged: Flow(
        {BOOKING: "publishes it for each booking a payment is applied to"},
        {NOTIFICATION: "emails the account's administrators after a payment-link payment"},
    ),
    AccountStateChanged: _STATE_FLOW,
    CustomerStateChanged: _STATE_FLOW,
    BookingStateChanged: _STATE_FLOW,
    ApiKeyStateChanged: Flow(
        {BOOKING: "publishes every key it issues or revokes, through its outbox"},
        dict.fromkeys(
            (CHARGE, LINK, NOTIFICATION), "keeps a local copy, to verify API keys on its own"
        ),
    ),
    StripeConnectionChanged: Flow(
        {CHARGE: "publishes every change of an account's Stripe connection, through its outbox"},
        {LINK: "keeps a local copy, to act for the connected account on the payment page"},
    ),
}
"""Producers and consumers of every event: the services' intended roles in contract v1."""


def flow_of(event: type[Event]) -> Flow:
    if event not in FLOWS:
        raise LookupError(
            f"{event.__name__} has no producers or consumers: add it to FLOWS in {__name__}"
        )
    return FLOWS[event]
