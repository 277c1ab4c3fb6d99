import uuid
from datetime import UTC, datetime, timedelta

from booking_service.domain.model import Booking, allocate
from bookpay_shared.events import BookingStatus

T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)


def booking(amount: int, *, days: int = 0, paid: int = 0, currency: str = "usd") -> Booking:
    return Booking(
        id=uuid.uuid4(),
        account_id=uuid.UUID(int=1),
        customer_id=uuid.UUID(int=2),
        title=f"tour +{days}d",
        starts_at=T0 + timedelta(days=days),
        amount=amount,
        currency=currency,
        amount_paid=paid,
        version=1,
        created_at=T0,
    )


def test_full_payment_marks_every_booking_charged_in_full() -> None:
    a, b = booking(5000), booking(7000, days=1)
    result = allocate(12000, "usd", [b, a])
    assert [(x.id, share) for x, share in result.applied] == [(a.id, 5000), (b.id, 7000)]
    assert all(x.status is BookingStatus.CHARGED_IN_FULL for x, _ in result.applied)
    assert result.unapplied == 0


def test_partial_payment_goes_to_the_oldest_booking_first() -> None:
    later, sooner = booking(5000, days=3), booking(5000, days=1)
    result = allocate(6000, "usd", [later, sooner])
    (first, s1), (second, s2) = result.applied
    assert (first.id, s1, first.status) == (sooner.id, 5000, BookingStatus.CHARGED_IN_FULL)
    assert (second.id, s2, second.status) == (later.id, 1000, BookingStatus.PARTIALLY_PAID)
    assert second.balance_due == 4000


def test_amount_stops_at_each_balance_and_the_rest_is_unapplied() -> None:
    half_paid = booking(5000, paid=2500)
    result = allocate(4000, "usd", [half_paid])
    assert result.applied[0][1] == 2500
    assert result.applied[0][0].amount_paid == 5000
    assert result.unapplied == 1500


def test_paid_bookings_and_other_currencies_receive_nothing() -> None:
    paid, euros = booking(1000, paid=1000), booking(1000, currency="eur")
    result = allocate(500, "usd", [paid, euros])
    assert result.applied == []
    assert result.unapplied == 500


def test_status_follows_amount_paid() -> None:
    assert booking(100).status is BookingStatus.UNPAID
    assert booking(100, paid=1).status is BookingStatus.PARTIALLY_PAID
    assert booking(100, paid=100).status is BookingStatus.CHARGED_IN_FULL


def test_paying_bumps_the_version() -> None:
    assert booking(100).pay(10).version == 2


def test_every_booking_of_the_payment_gets_a_new_state_even_without_a_share() -> None:
    paid, euros, due = booking(1000, paid=1000), booking(1000, currency="eur"), booking(800)
    result = allocate(1000, "usd", [paid, euros, due])
    assert {b.id: share for b, share in result.shares} == {paid.id: 0, euros.id: 0, due.id: 800}
    assert all(b.version == 2 for b, _ in result.shares)
    assert [(b.id, share) for b, share in result.applied] == [(due.id, 800)]
    assert result.unapplied == 200


def test_a_booking_reached_after_the_money_ran_out_gets_a_zero_share() -> None:
    sooner, later = booking(1000), booking(1000, days=1)
    result = allocate(1000, "usd", [later, sooner])
    assert [(b.id, share) for b, share in result.shares] == [(sooner.id, 1000), (later.id, 0)]
    assert result.shares[1][0].amount_paid == 0
