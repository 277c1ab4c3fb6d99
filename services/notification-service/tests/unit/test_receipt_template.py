"""The customer's receipt: what was paid, for which bookings, with which card, when (in the
business's time zone), the reference, the business behind it, and every value escaped; and the
administrators' email's link to the charge."""

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from bookpay_shared.business import BusinessProfile
from notification_service.domain.notifications import charge_url, receipt_key
from notification_service.emails import (
    AdminLinkPaidEmail,
    ReceiptBooking,
    ReceiptEmail,
    admin_link_paid_email,
    card_label,
    receipt_email,
)

HALIFAX = BusinessProfile(
    time_zone="America/Halifax",
    contact_phone="+1 902 555 0142",
    contact_email="hello@harbourkayak.example",
    logo_url="https://harbourkayak.example/logo.png",
    brand_colour="#0b5d7a",
    policy_text="Full refund up to 48 hours before.",
)
START = datetime(2027, 5, 1, 9, 0, tzinfo=UTC)
CHARGE = uuid.UUID("6f1c2b1e-0000-4000-8000-00000000c0de")


def receipt(**changes: object) -> ReceiptEmail:
    data: dict[str, object] = {
        "merchant_name": "Harbour Kayak Tours",
        "customer_name": "Ada Lovelace",
        "bookings": (
            ReceiptBooking("Sunset paddle", START),
            ReceiptBooking("Sea cave tour", START + timedelta(days=1)),
        ),
        "amount": 12550,
        "currency": "usd",
        "card_brand": "visa",
        "card_last4": "4242",
        "paid_at": datetime(2027, 4, 2, 14, 5, tzinfo=UTC),
        "charge_id": CHARGE,
        "stripe_payment_intent_id": "pi_3Nabc",
    }
    data.update(changes)
    return ReceiptEmail(**data)  # type: ignore[arg-type]


def links(body: str, text: str = "[^<]*") -> list[str]:
    """The targets of the HTML's links (whose text matches `text`), unescaped."""
    return [html.unescape(h) for h in re.findall(rf'<a href="([^"]*)"[^>]*>{text}</a>', body)]


def test_the_receipt_names_the_business_and_the_amount_in_its_subject() -> None:
    email = receipt_email(receipt())
    assert email.subject == "Harbour Kayak Tours: receipt for your payment of $125.50"


def test_the_receipt_says_what_was_paid_with_what_when_and_its_reference() -> None:
    email = receipt_email(receipt())
    assert "Hi Ada Lovelace," in email.text
    assert "Thank you for your payment of $125.50 to Harbour Kayak Tours." in email.text
    assert "Amount paid: $125.50" in email.text
    assert "Paid with: Visa ending in 4242" in email.text
    assert "Payment date: Fri 2 Apr 2027, 14:05 UTC" in email.text
    assert f"Reference: {CHARGE}" in email.text
    assert "Stripe payment: pi_3Nabc" in email.text
    for shown in ("$125.50", "Visa ending in 4242", str(CHARGE), "pi_3Nabc"):
        assert shown in email.html


def test_the_receipt_lists_each_booking_with_its_date() -> None:
    email = receipt_email(receipt())
    paid_for = email.text.split("Paid for:\n")[1].split("\n\n")[0]
    assert paid_for.splitlines() == [
        "- Sunset paddle (Sat 1 May 2027, 09:00 UTC)",
        "- Sea cave tour (Sun 2 May 2027, 09:00 UTC)",
    ]
    assert "Sunset paddle" in email.html and "Sun 2 May 2027, 09:00 UTC" in email.html


def test_a_booking_not_known_is_shown_by_its_title_alone() -> None:
    email = receipt_email(receipt(bookings=(ReceiptBooking("Booking 42", None),)))
    assert "- Booking 42\n" in email.text


def test_every_time_in_the_receipt_is_in_the_business_zone() -> None:
    email = receipt_email(receipt(profile=HALIFAX))
    for part in (email.html, email.text):
        assert "Fri 2 Apr 2027, 11:05 ADT" in part  # paid at 14:05 UTC
        assert "Sat 1 May 2027, 06:00 ADT" in part  # the first booking, 09:00 UTC
        assert "UTC" not in part


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [(12550, "usd", "$125.50"), (5000, "jpy", "¥5,000"), (1999, "eur", "€19.99")],
)
def test_the_amount_follows_the_currency(amount: int, currency: str, shown: str) -> None:
    email = receipt_email(receipt(amount=amount, currency=currency))
    assert f"Amount paid: {shown}" in email.text


@pytest.mark.parametrize(
    ("brand", "last4", "label"),
    [
        ("visa", "4242", "Visa ending in 4242"),
        ("amex", "0005", "American Express ending in 0005"),
        ("MasterCard", "4444", "Mastercard ending in 4444"),
        (None, "4242", "Card ending in 4242"),
        ("unknown", "1881", "Card ending in 1881"),
        ("visa", None, "Visa"),
        (None, None, "Card"),
        ("visa", "42<b>", "Visa"),
    ],
)
def test_the_card_is_named_by_its_brand_and_last_digits(
    brand: str | None, last4: str | None, label: str
) -> None:
    assert card_label(brand, last4) == label


def test_a_payment_without_card_details_says_card() -> None:
    email = receipt_email(receipt(card_brand=None, card_last4=None))
    assert "Paid with: Card\n" in email.text


def test_every_value_from_the_business_and_customer_is_escaped_in_the_html() -> None:
    nasty = '<script>alert("x")</script> & co'
    email = receipt_email(
        receipt(
            merchant_name=nasty,
            customer_name=nasty,
            bookings=(ReceiptBooking(nasty, START),),
            stripe_payment_intent_id=nasty,
            profile=BusinessProfile(policy_text=nasty, contact_phone=nasty),
        )
    )
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in email.html
    assert nasty in email.text  # plain text is shown as is


def test_the_receipt_shows_the_business_logo_contact_and_policy() -> None:
    email = receipt_email(receipt(profile=HALIFAX))
    hrefs = links(email.html)
    assert "tel:+19025550142" in hrefs and "mailto:hello@harbourkayak.example" in hrefs
    assert '<img src="https://harbourkayak.example/logo.png"' in email.html
    assert "Policy:\n  Full refund up to 48 hours before." in email.text
    assert "border-top:4px solid #0b5d7a" in email.html


def test_a_merchant_name_cannot_break_the_subject_line() -> None:
    email = receipt_email(receipt(merchant_name="Harbour\r\nBcc: x@evil.example"))
    assert "\n" not in email.subject and "\r" not in email.subject


def test_one_receipt_per_charge() -> None:
    assert receipt_key(CHARGE) == f"receipt:{CHARGE}"


def test_the_charge_url_is_charge_services_staff_url() -> None:
    account = uuid.UUID(int=7)
    assert charge_url("https://charges.example/", account, CHARGE) == (
        f"https://charges.example/v1/accounts/{account}/charges/{CHARGE}"
    )


def admin_email(**changes: object) -> AdminLinkPaidEmail:
    data: dict[str, object] = {
        "merchant_name": "Harbour Kayak Tours",
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "amount": 12500,
        "currency": "usd",
        "stripe_payment_intent_id": "pi_123",
        "paid_at": START,
        "bookings": (),
    }
    data.update(changes)
    return AdminLinkPaidEmail(**data)  # type: ignore[arg-type]


def test_the_admin_email_links_to_the_charge() -> None:
    url = f"https://charges.example/v1/accounts/a/charges/{CHARGE}?x=1&y=2"
    email = admin_link_paid_email(admin_email(charge_url=url))
    assert links(email.html, "See the charge") == [url]
    assert "x=1&amp;y=2" in email.html
    assert f"See the charge: {url}" in email.text


def test_the_admin_email_without_a_charge_url_has_no_link() -> None:
    email = admin_link_paid_email(admin_email())
    assert "See the charge" not in email.text and "See the charge" not in email.html


def test_an_admin_email_charge_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="not an http"):
        admin_link_paid_email(admin_email(charge_url="javascript:alert(1)"))
