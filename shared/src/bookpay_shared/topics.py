"""Kafka topics of the event contract, with the partition counts and configs they are created with.

Topics are created explicitly (never by broker auto-creation) from this one list, by the local
stack and by any deployment tooling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHARGE_REQUESTED = "charge-requested"
CHARGE_ACCEPTED = "charge-accepted"
PAYMENT_SUCCEEDED = "payment-succeeded"
PAYMENT_FAILED = "payment-failed"
PAYMENT_OVER_COLLECTED = "payment-over-collected"
PAYMENT_LINK_CREATED = "payment-link-created"
PAYMENT_LINK_PAID = "payment-link-paid"
PAYMENT_LINK_CLOSED = "payment-link-closed"
NOTIFICATION_FAILED = "notification-failed"
BOOKING_CHARGED = "booking-charged"
# Entity state published by booking-service for other services' projections (compacted, keyed by id).
ACCOUNTS_STATE = "accounts-state"
CUSTOMERS_STATE = "customers-state"
BOOKINGS_STATE = "bookings-state"
# Stripe connections of accounts, published by charge-service (compacted, keyed by account id).
STRIPE_CONNECTIONS_STATE = "stripe-connections-state"
# API keys (id, account, scopes, hash, revoked), published by booking-service (compacted, keyed by key id).
API_KEYS_STATE = "api-keys-state"

# Operations' record of dead letters sent back to their topics by `bookpay-ops dlq replay`
# (compacted, keyed by the dead letter's id `<dlq topic>:<partition>:<offset>`). No service
# reads or writes it; it is what stops a dead letter from being replayed twice by accident.
DLQ_REPLAYS = "dlq-replays"

DLQ_SUFFIX = ".dlq"


def dlq(topic: str) -> str:
    """The dead-letter topic of `topic`."""
    return topic + DLQ_SUFFIX


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


_EVENT_TOPICS = (
    CHARGE_REQUESTED,
    CHARGE_ACCEPTED,
    PAYMENT_SUCCEEDED,
    PAYMENT_FAILED,
    PAYMENT_OVER_COLLECTED,
    PAYMENT_LINK_CREATED,
    PAYMENT_LINK_PAID,
    PAYMENT_LINK_CLOSED,
    BOOKING_CHARGED,
    NOTIFICATION_FAILED,
)
_STATE_TOPICS = (
    ACCOUNTS_STATE,
    CUSTOMERS_STATE,
    BOOKINGS_STATE,
    STRIPE_CONNECTIONS_STATE,
    API_KEYS_STATE,
)

EVENT_PARTITIONS = 6
DLQ_PARTITIONS = 3
DLQ_REPLAYS_PARTITIONS = 1
"""A handful of records a day at most; one partition keeps `dlq replays` in the order written."""

ALL_TOPICS: tuple[TopicSpec, ...] = (
    *(TopicSpec(t, EVENT_PARTITIONS) for t in _EVENT_TOPICS),
    *(TopicSpec(t, EVENT_PARTITIONS, {"cleanup.policy": "compact"}) for t in _STATE_TOPICS),
    *(TopicSpec(dlq(t), DLQ_PARTITIONS) for t in (*_EVENT_TOPICS, *_STATE_TOPICS)),
    TopicSpec(DLQ_REPLAYS, DLQ_REPLAYS_PARTITIONS, {"cleanup.policy": "compact"}),
)
