"""The staff card-entry page lists the bookings with their start in the account's time zone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from bookpay_shared.events import BookingStatus
from bookpay_shared.projections import KnownBooking
from charge_service.entrypoints.pages import booking_rows


def booking(title: str, starts_at: datetime) -> KnownBooking:
    return KnownBooking(
        booking_id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        title=title,
        starts_at=starts_at,
        amount=6000,
        currency="usd",
        amount_paid=1000,
        balance_due=5000,
        status=BookingStatus.PARTIALLY_PAID,
    )


def test_a_booking_starts_at_its_local_time_with_the_zone_abbreviation() -> None:
    rows = booking_rows(
        [booking("Sunrise paddle", datetime(2027, 7, 10, 10, 0, tzinfo=UTC))], "America/Halifax"
    )
    assert '<time datetime="2027-07-10T10:00:00+00:00">Sat 10 Jul 2027, 07:00 ADT</time>' in rows
    assert "$50.00" in rows


def test_titles_are_escaped() -> None:
    rows = booking_rows([booking("<b>Tour</b>", datetime(2027, 1, 9, 12, tzinfo=UTC))], "UTC")
    assert "<b>" not in rows and "&lt;b&gt;Tour&lt;/b&gt;" in rows
    assert "Sat 9 Jan 2027, 12:00 UTC" in rows
