"""Delivery decisions (backoff, giving up) and when the administrators' email is complete."""

import uuid
from datetime import UTC, datetime

import pytest
from notification_service.domain.notifications import (
    Accepted,
    BookingCharge,
    LinkPayment,
    MarkFailed,
    MarkSent,
    PermanentFailure,
    Recipient,
    RetryLater,
    RetryPolicy,
    TemporaryFailure,
    admin_email_key,
    bookings_settled,
    link_email_key,
    redacted_url,
    unique_recipients,
)

POLICY = RetryPolicy(base_seconds=2, max_seconds=60, max_attempts=5)


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    assert [POLICY.delay(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


def test_backoff_stays_finite_for_huge_attempt_numbers() -> None:
    assert POLICY.delay(10_000) == 60


def test_an_accepted_email_is_sent() -> None:
    assert POLICY.next_step(Accepted("250 OK"), 1) == MarkSent("250 OK")


def test_a_temporary_failure_is_retried_later() -> None:
    assert POLICY.next_step(TemporaryFailure("451 busy"), 3) == RetryLater(8, "451 busy")


def test_a_permanent_failure_fails_at_once() -> None:
    assert POLICY.next_step(PermanentFailure("550 no such user"), 1) == MarkFailed(
        "550 no such user"
    )


def test_temporary_failures_give_up_after_the_last_attempt() -> None:
    step = POLICY.next_step(TemporaryFailure("connection refused"), 5)
    assert step == MarkFailed("gave up after 5 attempts: connection refused")


def test_each_link_event_and_each_charge_has_its_own_key() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert link_email_key(a) != link_email_key(b)
    assert admin_email_key(a) == f"admin-link-paid:{a}"


def test_recipients_are_unique_by_address_whatever_the_case() -> None:
    found = unique_recipients(
        [Recipient("A@x.com", "A"), Recipient("b@x.com"), Recipient("a@X.com", "again")]
    )
    assert found == [Recipient("A@x.com", "A"), Recipient("b@x.com")]


B1, B2 = uuid.uuid4(), uuid.uuid4()
CHARGE = uuid.uuid4()


def payment(amount: int = 10000) -> LinkPayment:
    return LinkPayment(
        charge_id=CHARGE,
        account_id=uuid.uuid4(),
        merchant_name="m",
        customer_name="c",
        customer_email="c@x.com",
        booking_ids=(B1, B2),
        amount=amount,
        currency="usd",
        stripe_payment_intent_id="pi_1",
        paid_at=datetime(2027, 1, 1, tzinfo=UTC),
        admins=(),
    )


def charge(booking_id: uuid.UUID, applied: int, charge_id: uuid.UUID = CHARGE) -> BookingCharge:
    return BookingCharge(charge_id, booking_id, "charged_in_full", applied, 0)


@pytest.mark.parametrize(
    ("charges", "settled"),
    [
        ([], False),
        ([charge(B1, 4000)], False),
        ([charge(B1, 4000), charge(B2, 6000)], True),
        ([charge(B1, 10000)], True),  # the amount ran out before the second booking
        ([charge(B1, 4000), charge(B2, 6000, charge_id=uuid.uuid4())], False),
    ],
)
def test_the_admin_email_waits_for_every_booking_charged(
    charges: list[BookingCharge], settled: bool
) -> None:
    assert bookings_settled(payment(), charges) is settled


def test_a_redacted_url_keeps_where_it_points_but_not_its_secret() -> None:
    assert redacted_url("https://pay.example.com/pay/abc_DEF-123") == (
        "https://pay.example.com/pay/<redacted>"
    )
    assert (
        redacted_url("http://127.0.0.1:8003/pay/abc?x=1#y")
        == "http://127.0.0.1:8003/pay/<redacted>"
    )
