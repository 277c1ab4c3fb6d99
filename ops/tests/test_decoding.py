"""A record decodes into the contract's event it carries, or into the reason it carries none —
never an exception — and reads as one line (or one JSON object)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from bookpay_ops.decoding import FLOW_TOPICS, decode, json_line, line
from bookpay_shared.events import (
    BookingCharged,
    ChargeRequested,
    PaymentFailed,
    PaymentSucceeded,
)

from .records import (
    ACCOUNT,
    BOOKINGS,
    CHARGE,
    CUSTOMER,
    T0,
    booking_charged,
    failed,
    of,
    record,
    requested,
    succeeded,
)


@pytest.mark.parametrize(
    ("event", "model"),
    [
        (requested(), ChargeRequested),
        (succeeded(), PaymentSucceeded),
        (failed(), PaymentFailed),
        (booking_charged(), BookingCharged),
    ],
)
def test_an_event_decodes_into_its_contract_model(event: object, model: type) -> None:
    decoded = decode(of(event))  # type: ignore[arg-type]

    assert decoded.error is None
    assert isinstance(decoded.event, model)
    assert decoded.event == event
    assert (decoded.charge_id, decoded.account_id, decoded.customer_id) == (
        CHARGE,
        ACCOUNT,
        CUSTOMER,
    )


def raw(event: ChargeRequested, **changes: object) -> bytes:
    payload = json.loads(event.to_json())
    payload.update(changes)
    return json.dumps({k: v for k, v in payload.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "bad JSON: Expecting property name"),
        (b"", "bad JSON: empty message"),
        (b"[1, 2]", "bad JSON: a list, not an object"),
        (b"\xff\xfe", "bad JSON:"),
        (raw(requested(), event_type="ChargeRefunded"), "unknown event type 'ChargeRefunded'"),
        (raw(requested(), amount=None), "invalid: amount: Field required"),
        (raw(requested(), amount=-5), "invalid: amount: Input should be greater than 0"),
        (
            raw(requested(), event_id=None),
            "invalid: event: Value error, missing common field(s): event_id",
        ),
        (
            raw(requested(), event_type=None),
            "invalid: event: Value error, missing common field(s): event_type",
        ),
    ],
)
def test_a_record_without_a_valid_event_says_why(value: bytes, reason: str) -> None:
    decoded = decode(record("charge-requested", value, headers={"correlation_id": str(CHARGE)}))

    assert decoded.event is None
    assert decoded.error is not None
    assert decoded.error.startswith(reason), decoded.error
    assert decoded.charge_id == CHARGE, "the relay's correlation_id header still names the charge"
    assert "UNDECODABLE" in line(decoded)
    assert decoded.error in line(decoded)


def test_without_an_event_type_the_topic_names_the_model() -> None:
    value = raw(requested(), event_type=None)

    decoded = decode(record("no-such-topic", value))

    assert decoded.error == "no event_type, and 'no-such-topic' is no topic of the contract"


def test_a_dead_letter_decodes_as_the_event_of_its_original_topic_and_says_why_it_died() -> None:
    event = succeeded()
    headers = {
        "event_type": "PaymentSucceeded",
        "dlq.reason": "handler error: booking not found",
        "dlq.consumer": "booking-service.payment-succeeded",
        "dlq.original_topic": "payment-succeeded",
    }

    decoded = decode(record("payment-succeeded.dlq", event.to_json(), offset=4, headers=headers))

    assert decoded.event == event
    assert decoded.dead_letter_reason == "handler error: booking not found"
    assert line(decoded).startswith(
        "2027-05-01 09:30:01.000 payment-succeeded.dlq[0]@4 DEAD LETTER "
        "(handler error: booking not found; by booking-service.payment-succeeded) PaymentSucceeded"
    )


def test_the_line_says_when_where_what_whose_and_the_fields_that_matter() -> None:
    assert line(decode(of(succeeded(), offset=12))) == (
        f"2027-05-01 09:30:01.000 payment-succeeded[0]@12 PaymentSucceeded charge={CHARGE} "
        f"account={ACCOUNT} $175.00 card_on_file visa ****4242 pi_123"
    )
    assert line(decode(of(requested()))).endswith(
        f"ChargeRequested charge={CHARGE} account={ACCOUNT} $175.00 card_on_file 2 bookings "
        "by=staff:ada"
    )
    assert line(decode(of(failed()))).endswith(
        "$175.00 card_on_file reason=card_declined decline_code=generic_decline"
    )
    assert line(decode(of(booking_charged()))).endswith(
        f"booking={BOOKINGS[0]} applied=$100.00 status=charged_in_full balance_due=$0.00"
    )


def test_money_is_shown_in_its_currency() -> None:
    decoded = decode(of(requested(amount=150_000, currency="jpy")))

    assert " ¥150,000 " in line(decoded)


def test_the_time_is_when_the_event_happened_not_when_kafka_took_it() -> None:
    late = of(requested(), at=T0 + timedelta(minutes=5))

    assert line(decode(late)).startswith("2027-05-01 09:30:00.000 ")


def test_the_json_form_carries_the_record_and_its_event_or_its_error() -> None:
    event = succeeded()
    good = json.loads(json_line(decode(of(event, offset=3))))
    bad = json.loads(json_line(decode(record("payment-succeeded", b"oops", offset=4))))

    assert good == {
        "topic": "payment-succeeded",
        "partition": 0,
        "offset": 3,
        "timestamp": "2027-05-01T09:30:01+00:00",
        "key": str(CUSTOMER),
        "headers": {
            "event_type": "PaymentSucceeded",
            "event_id": str(event.event_id),
            "correlation_id": str(CHARGE),
        },
        "event": json.loads(event.model_dump_json()),
    }
    assert bad["error"].startswith("bad JSON")
    assert "event" not in bad


def test_every_flow_topic_and_no_entity_state_or_dead_letters_is_a_flow_topic() -> None:
    assert "charge-requested" in FLOW_TOPICS
    assert "booking-charged" in FLOW_TOPICS
    assert not [t for t in FLOW_TOPICS if t.endswith((".dlq", "-state"))]


def test_a_record_about_another_charge_is_not_about_this_one() -> None:
    other = uuid.UUID(int=99)

    assert decode(of(succeeded())).concerns(CHARGE)
    assert not decode(of(succeeded())).concerns(other)
