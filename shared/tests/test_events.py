import json
import uuid

import pytest
from bookpay_shared.events import (
    ALL_EVENTS,
    RECEIVED,
    AccountStateChanged,
    BookingStateChanged,
    ChargeMethod,
    ChargeRequested,
)
from bookpay_shared.money import format_amount
from pydantic import ValidationError


def request(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "event_type": "ChargeRequested",
        "correlation_id": str(uuid.UUID(int=1)),
        "charge_id": str(uuid.UUID(int=1)),
        "account_id": str(uuid.UUID(int=2)),
        "customer_id": str(uuid.UUID(int=3)),
        "booking_ids": [str(uuid.UUID(int=4))],
        "amount": 1500,
        "currency": "usd",
        "method": "card_on_file",
        "requested_by": "staff",
    }
    body.update(changes)
    return body


def test_round_trip_keeps_every_field() -> None:
    event = ChargeRequested.model_validate_json(json.dumps(request()))
    again = ChargeRequested.model_validate_json(event.to_json())
    assert again == event
    assert event.method is ChargeMethod.CARD_ON_FILE
    assert event.schema_version == 1


def test_unknown_fields_are_ignored() -> None:
    event = ChargeRequested.model_validate_json(json.dumps(request(added_later="x")))
    assert not hasattr(event, "added_later")


@pytest.mark.parametrize(
    "changes",
    [
        {"amount": -5},
        {"amount": 10.5},
        {"amount": "100"},
        {"currency": "USD"},
        {"currency": "xyz"},
        {"booking_ids": []},
        {"schema_version": 2},
        {"event_type": "PaymentSucceeded"},
        {"method": "cash"},
        {"payment_method_id": "card_123"},
    ],
)
def test_invalid_requests_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ChargeRequested.model_validate_json(json.dumps(request(**changes)))


def test_events_are_frozen() -> None:
    event = ChargeRequested.model_validate(request())
    with pytest.raises(ValidationError):
        event.amount = 1  # type: ignore[misc]


def test_every_event_names_a_topic() -> None:
    assert len({e.TOPIC for e in ALL_EVENTS}) == len(ALL_EVENTS)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (12345, "usd", "$123.45"),
        (5000, "jpy", "¥5,000"),
        (1234, "kwd", "1.234 KWD"),
        (99, "sek", "0.99 SEK"),
    ],
)
def test_format_amount(amount: int, currency: str, text: str) -> None:
    assert format_amount(amount, currency) == text


@pytest.mark.parametrize(
    "field", ["event_id", "event_type", "occurred_at", "correlation_id", "schema_version"]
)
def test_a_received_event_must_carry_every_common_field(field: str) -> None:
    event = json.loads(ChargeRequested.model_validate(request()).to_json())
    del event[field]
    with pytest.raises(ValidationError, match=field):
        ChargeRequested.model_validate_json(json.dumps(event), context=RECEIVED)


def test_a_received_event_keeps_its_id() -> None:
    raw = ChargeRequested.model_validate(request()).to_json()
    assert (
        ChargeRequested.model_validate_json(raw, context=RECEIVED).event_id
        == ChargeRequested.model_validate_json(raw, context=RECEIVED).event_id
    )


def booking_state() -> dict[str, object]:
    return {
        "event_type": "BookingStateChanged",
        "correlation_id": str(uuid.UUID(int=4)),
        "booking_id": str(uuid.UUID(int=4)),
        "account_id": str(uuid.UUID(int=2)),
        "customer_id": str(uuid.UUID(int=3)),
        "version": 2,
        "title": "Sunset kayak tour, 2 adults",
        "starts_at": "2025-06-14T18:30:00Z",
        "amount": 20000,
        "currency": "usd",
        "amount_paid": 5000,
        "balance_due": 15000,
        "status": "partially_paid",
        "settled_charge_ids": [str(uuid.UUID(int=1))],
    }


def test_a_booking_state_from_before_settled_charges_lists_none() -> None:
    example = json.loads(BookingStateChanged.model_validate(booking_state()).to_json())
    del example["settled_charge_ids"]
    old = BookingStateChanged.model_validate_json(json.dumps(example), context=RECEIVED)
    assert old.settled_charge_ids == []


def account_state(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "event_type": "AccountStateChanged",
        "correlation_id": str(uuid.UUID(int=2)),
        "account_id": str(uuid.UUID(int=2)),
        "version": 1,
        "name": "Harbour Kayak Tours",
        "admins": [],
        "notify_admins_on_link_payment": True,
    }
    body.update(changes)
    return body


def test_an_account_state_from_before_the_business_details_is_in_utc_with_none() -> None:
    event = AccountStateChanged.model_validate_json(json.dumps(account_state()))
    assert (event.time_zone, event.locale) == ("UTC", "en-US")
    assert event.reply_to is None and event.logo_url is None and event.policy_text is None


def test_an_account_state_from_before_receipts_sends_them() -> None:
    assert AccountStateChanged.model_validate_json(json.dumps(account_state())).send_receipts
    off = AccountStateChanged.model_validate_json(json.dumps(account_state(send_receipts=False)))
    assert off.send_receipts is False


@pytest.mark.parametrize(
    "changes",
    [
        {"time_zone": "Mars/Olympus"},
        {"brand_colour": "teal"},
        {"logo_url": "http://harbour.example/logo.png"},
        {"reply_to": "not an address"},
    ],
)
def test_an_account_state_with_a_bad_detail_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AccountStateChanged.model_validate_json(json.dumps(account_state(**changes)))
