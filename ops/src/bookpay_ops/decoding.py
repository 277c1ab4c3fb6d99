"""A Kafka record as an operator reads it: the contract's event it carries, or why it carries
none, and one line (or one JSON object) per record.

Decoding never raises: a record that is not JSON, names an event type the contract does not
know, or fails the contract's validation comes back as an undecodable `Decoded` with the
reason, so that one bad message never hides the others. A dead letter (`<topic>.dlq`) is decoded
as the event it was on its original topic, with the reason it was rejected.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from bookpay_shared import events
from bookpay_shared.events import ALL_EVENTS, RECEIVED, Event
from bookpay_shared.money import format_amount
from bookpay_shared.topics import ALL_TOPICS, DLQ_SUFFIX
from pydantic import ValidationError

MODELS_BY_TYPE: dict[str, type[Event]] = {
    str(model.model_fields["event_type"].default): model for model in ALL_EVENTS
}
MODELS_BY_TOPIC: dict[str, type[Event]] = {model.TOPIC: model for model in ALL_EVENTS}
FLOW_TOPICS: tuple[str, ...] = tuple(
    spec.name
    for spec in ALL_TOPICS
    if not spec.name.endswith(DLQ_SUFFIX) and spec.config.get("cleanup.policy") != "compact"
)
"""Topics of the charge flows (not the compacted entity state): what `all` means."""
KNOWN_TOPICS: frozenset[str] = frozenset(spec.name for spec in ALL_TOPICS)


class RecordLike(Protocol):
    """What decoding reads of a record (aiokafka's ConsumerRecord has it all)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass(frozen=True)
class Decoded:
    """One record: where it sits, its headers, and its event or the reason it has none."""

    topic: str
    partition: int
    offset: int
    timestamp: datetime
    """When Kafka took the record."""
    key: str | None
    headers: dict[str, str]
    event: Event | None = None
    error: str | None = None
    """Why the record carries no event (bad JSON, unknown type, invalid)."""

    @property
    def dead_letter_reason(self) -> str | None:
        return self.headers.get("dlq.reason") if self.topic.endswith(DLQ_SUFFIX) else None

    @property
    def event_type(self) -> str | None:
        return self.event.event_type if self.event else self.headers.get("event_type")

    @property
    def occurred_at(self) -> datetime:
        """When the event happened (the record's own time for an undecodable one)."""
        return self.event.occurred_at if self.event else self.timestamp

    @property
    def charge_id(self) -> uuid.UUID | None:
        """The charge the record is about: its charge_id, else its correlation id."""
        found = _field(self.event, "charge_id")
        if isinstance(found, uuid.UUID):
            return found
        if self.event is not None:
            return self.event.correlation_id
        return _uuid(self.headers.get("correlation_id"))

    @property
    def account_id(self) -> uuid.UUID | None:
        found = _field(self.event, "account_id")
        return found if isinstance(found, uuid.UUID) else None

    @property
    def customer_id(self) -> uuid.UUID | None:
        found = _field(self.event, "customer_id")
        return found if isinstance(found, uuid.UUID) else None

    def concerns(self, charge_id: uuid.UUID) -> bool:
        """Whether the record belongs to the charge's flow (its charge_id or correlation id)."""
        if self.event is None:
            return _uuid(self.headers.get("correlation_id")) == charge_id
        return charge_id in (_field(self.event, "charge_id"), self.event.correlation_id)


def decode(record: RecordLike) -> Decoded:
    """The record's event, or why it has none; never raises."""
    headers = {name: value.decode(errors="replace") for name, value in record.headers}
    where = Decoded(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
        key=None if record.key is None else record.key.decode(errors="replace"),
        headers=headers,
    )
    event, error = _event(record.value, headers.get("dlq.original_topic") or record.topic)
    return replace(where, event=event, error=error)


def _event(raw: bytes | None, topic: str) -> tuple[Event | None, str | None]:
    if not raw:
        return None, "bad JSON: empty message"
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"bad JSON: {exc}"
    if not isinstance(payload, dict):
        return None, f"bad JSON: a {type(payload).__name__}, not an object"
    event_type = payload.get("event_type")
    model = MODELS_BY_TYPE.get(str(event_type)) if event_type is not None else None
    if event_type is not None and model is None:
        return None, f"unknown event type {event_type!r}"
    model = model or MODELS_BY_TOPIC.get(topic.removesuffix(DLQ_SUFFIX))
    if model is None:
        return None, f"no event_type, and {topic!r} is no topic of the contract"
    try:
        return model.model_validate(payload, context=RECEIVED), None
    except ValidationError as exc:
        return None, "invalid: " + _problems(exc)


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in exc.errors()
    )


def _field(event: Event | None, name: str) -> Any:
    return getattr(event, name, None)


def _uuid(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


# --- one line per record ------------------------------------------------------------------


def line(decoded: Decoded) -> str:
    """`time topic[partition]@offset EventType charge=… account=… details`, one line."""
    time = f"{decoded.occurred_at:%Y-%m-%d %H:%M:%S.%f}"[:-3]
    return f"{time} {place(decoded)} {describe(decoded)}"


def place(decoded: Decoded) -> str:
    return f"{decoded.topic}[{decoded.partition}]@{decoded.offset}"


def describe(decoded: Decoded) -> str:
    """The record's event type, ids and details (or why it has no event), a dead letter's
    reason first."""
    reason = decoded.dead_letter_reason
    consumer = decoded.headers.get("dlq.consumer", "?")
    dead = [f"DEAD LETTER ({reason}; by {consumer})"] if reason else []
    if decoded.event is None:
        said = decoded.event_type or "?"
        return " ".join([*dead, f"UNDECODABLE ({said}): {decoded.error}"])
    return " ".join([*dead, decoded.event.event_type, *summary(decoded.event)])


def summary(event: Event) -> list[str]:
    """The ids and the few fields that matter for the event's type."""
    charge_id = _field(event, "charge_id")
    ids = [f"charge={charge_id}" if charge_id else f"correlation={event.correlation_id}"]
    account_id = _field(event, "account_id")
    if account_id:
        ids.append(f"account={account_id}")
    return ids + [part for part in _details(event) if part]


def _details(event: Event) -> list[str | None]:
    match event:
        case events.ChargeRequested() | events.ChargeAccepted():
            return [
                _money(event),
                str(event.method),
                _bookings(event.booking_ids),
                f"by={event.requested_by}",
            ]
        case events.PaymentSucceeded():
            card = " ".join(
                filter(None, (event.card_brand, event.card_last4 and f"****{event.card_last4}"))
            )
            return [_money(event), str(event.method), card, event.stripe_payment_intent_id]
        case events.PaymentFailed():
            return [
                _money(event),
                str(event.method),
                f"reason={event.reason}",
                event.decline_code and f"decline_code={event.decline_code}",
                "retryable" if event.retryable else "",
                event.next_action and f"continues as {event.next_action}",
            ]
        case events.PaymentOverCollected():
            unapplied = format_amount(event.unapplied_amount, event.currency)
            return [_money(event), f"unapplied={unapplied}"]
        case events.PaymentLinkCreated():
            expires = f"expires={event.expires_at:%Y-%m-%d %H:%M}"
            return [_money(event), f"link={event.link_id}", _bookings(event.booking_ids), expires]
        case events.PaymentLinkPaid():
            return [f"link={event.link_id}", event.stripe_payment_intent_id]
        case events.PaymentLinkClosed():
            return [f"link={event.link_id}", f"reason={event.reason}"]
        case events.BookingCharged():
            return [
                f"booking={event.booking_id}",
                f"applied={format_amount(event.amount_applied, event.currency)}",
                f"status={event.booking_status}",
                f"balance_due={format_amount(event.balance_due, event.currency)}",
            ]
        case events.NotificationFailed():
            return [f"kind={event.kind}", f"reason={event.reason}"]
    version = _field(event, "version")
    return [f"version={version}"] if version is not None else []


def _money(event: Any) -> str:
    return format_amount(event.amount, event.currency)


def _bookings(booking_ids: Sequence[uuid.UUID]) -> str:
    return f"{len(booking_ids)} booking{'s' if len(booking_ids) != 1 else ''}"


def as_json(decoded: Decoded) -> dict[str, Any]:
    """The record as one JSON object: where it sits, its key and headers, and its event (the
    model's dump) or the error."""
    found: dict[str, Any] = {
        "topic": decoded.topic,
        "partition": decoded.partition,
        "offset": decoded.offset,
        "timestamp": decoded.timestamp.isoformat(),
        "key": decoded.key,
        "headers": decoded.headers,
    }
    if decoded.event is not None:
        found["event"] = decoded.event.model_dump(mode="json")
    else:
        found["error"] = decoded.error
    return found


def json_line(decoded: Decoded) -> str:
    return json.dumps(as_json(decoded), separators=(",", ":"))
