"""The staff card-entry page lists the bookings with their start in the account's time zone,
and escapes every text it shows (the business's name, the customer's, the bookings')."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from bookpay_shared.business import BusinessProfile
from bookpay_shared.events import Administrator, BookingStatus
from bookpay_shared.projections import KnownAccount, KnownBooking, KnownCustomer
from charge_service.entrypoints.pages import card_entry_page, notice_page

XSS = "<script>alert(1)</script>"
ACCOUNT_ID, CUSTOMER_ID = uuid.uuid4(), uuid.uuid4()


def account(name: str = "Harbour Kayaks", time_zone: str = "America/Halifax") -> KnownAccount:
    admins = (Administrator(name="A", email="a@example.com"),)
    return KnownAccount(ACCOUNT_ID, name, admins, True, BusinessProfile(time_zone=time_zone))


CUSTOMER = KnownCustomer(CUSTOMER_ID, ACCOUNT_ID, "Ada <i>Lovelace</i>", "ada@example.com")


def booking(title: str, starts_at: datetime) -> KnownBooking:
    return KnownBooking(
        booking_id=uuid.uuid4(),
        account_id=ACCOUNT_ID,
        customer_id=CUSTOMER_ID,
        title=title,
        starts_at=starts_at,
        amount=6000,
        currency="usd",
        amount_paid=1000,
        balance_due=5000,
        status=BookingStatus.PARTIALLY_PAID,
    )


def page(
    bookings: list[KnownBooking], shown: KnownAccount | None = None, stripe_account: str = "acct_1"
) -> str:
    return card_entry_page(
        shown or account(),
        CUSTOMER,
        bookings,
        amount=5000,
        currency="usd",
        stripe_account=stripe_account,
        stripe_js_url="https://js.stripe.com/v3/",
        publishable_key="pk_test_123",
    )


def test_a_booking_starts_at_its_local_time_with_the_zone_abbreviation() -> None:
    html = page([booking("Sunrise paddle", datetime(2027, 7, 10, 10, 0, tzinfo=UTC))])
    assert '<time datetime="2027-07-10T10:00:00+00:00">Sat 10 Jul 2027, 07:00 ADT</time>' in html
    assert "<td class=num>$50.00</td>" in html
    assert '<td class=num id="total">$50.00</td>' in html


def test_titles_are_escaped() -> None:
    html = page(
        [booking("<b>Tour</b>", datetime(2027, 1, 9, 12, tzinfo=UTC))], account(time_zone="UTC")
    )
    assert "<b>" not in html and "&lt;b&gt;Tour&lt;/b&gt;" in html
    assert "Sat 9 Jan 2027, 12:00 UTC" in html


def test_the_business_name_is_escaped_on_the_page_and_in_the_consent() -> None:
    tour = booking("Tour", datetime(2027, 1, 9, 12, tzinfo=UTC))
    html = page([tour], account(name=XSS))
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert "<script>alert" not in html
    assert f"<title>Charge a new card — {escaped}</title>" in html
    assert f'data-consent="I authorise {escaped} to save this card' in html
    assert f'<p class=muted id="consent-text">I authorise {escaped} to save' in html
    assert "Ada &lt;i&gt;Lovelace&lt;/i&gt;" in html


def test_without_a_stripe_connection_the_page_says_so_and_cannot_charge() -> None:
    html = page([booking("Tour", datetime(2027, 1, 9, 12, tzinfo=UTC))], stripe_account="")
    assert "This account has not connected Stripe yet." in html
    assert '<button type="submit" id="charge-button" disabled>Charge $50.00</button>' in html


def test_the_notice_escapes_the_business_name_and_offers_the_balance_due() -> None:
    tour = booking("Tour", datetime(2027, 1, 9, 12, tzinfo=UTC))
    html = notice_page(account(name=XSS), CUSTOMER, [tour], [tour.booking_id], 9000, 5000, "usd")
    assert "<script>alert" not in html
    assert "<h1>More than is due</h1>" in html
    assert "$90.00 is more than the balance due of $50.00." in html
    assert f'<a href="?booking_ids={tour.booking_id}">Charge the balance due of $50.00</a>' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; · Ada &lt;i&gt;Lovelace&lt;/i&gt;" in html
