"""The emails' templates: what a customer and an administrator read, and that every value from
data is escaped in the HTML."""

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest
from bookpay_shared.business import BusinessProfile
from bookpay_shared.templating import escape
from notification_service.domain.notifications import RenderedEmail, redacted_url, with_link_url
from notification_service.emails import (
    BUTTON_LABEL,
    AdminLinkPaidEmail,
    BookingLine,
    PaidBooking,
    PaymentLinkEmail,
    ReceiptBooking,
    ReceiptEmail,
    admin_link_paid_email,
    payment_link_email,
    receipt_email,
)
from notification_service.emails.formats import when
from notification_service.emails.rendering import compile_templates

URL = "https://pay.example.com/pay/tok_abc?x=1&y=2"
START = datetime(2027, 5, 1, 9, 0, tzinfo=UTC)


def link_email(**changes: object) -> PaymentLinkEmail:
    data: dict[str, object] = {
        "merchant_name": "Harbour Kayak Tours",
        "customer_name": "Ada Lovelace",
        "bookings": (
            BookingLine("Sunset paddle", START, 5000, "usd"),
            BookingLine("Sea cave tour", START + timedelta(days=1), 7500, "usd"),
        ),
        "amount": 12500,
        "currency": "usd",
        "url": URL,
        "expires_at": datetime(2027, 4, 8, 17, 30, tzinfo=UTC),
        "message": None,
    }
    data.update(changes)
    return PaymentLinkEmail(**data)  # type: ignore[arg-type]


def admin_email(**changes: object) -> AdminLinkPaidEmail:
    data: dict[str, object] = {
        "merchant_name": "Harbour Kayak Tours",
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "amount": 12500,
        "currency": "usd",
        "stripe_payment_intent_id": "pi_123",
        "paid_at": datetime(2027, 4, 2, 14, 5, tzinfo=UTC),
        "bookings": (
            PaidBooking("Sunset paddle", START, "charged_in_full", 5000, 0, "usd"),
            PaidBooking("Sea cave tour", START, "partially_paid", 2500, 5000, "usd"),
        ),
    }
    data.update(changes)
    return AdminLinkPaidEmail(**data)  # type: ignore[arg-type]


class Links(HTMLParser):
    """The links of an HTML document: (href, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text = ""
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "a":
            self._href, self._text = dict(attrs).get("href") or "", ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._text))
            self._href = None


def parse(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    return parser


def test_the_link_email_names_the_merchant_and_the_total_in_its_subject() -> None:
    email = payment_link_email(link_email())
    assert email.subject == "Harbour Kayak Tours: complete your payment of $125.00"


def test_the_button_opens_the_link_and_the_plain_url_is_there_too() -> None:
    email = payment_link_email(link_email())
    links = parse(email.html).links
    assert (URL, BUTTON_LABEL) in links
    assert [href for href, _ in links] == [URL, URL]
    assert f"{BUTTON_LABEL}: {URL}" in email.text


def test_the_summary_lists_each_booking_the_total_and_the_expiry() -> None:
    email = payment_link_email(link_email())
    for part in (email.html, email.text):
        assert "Sunset paddle" in part and "Sea cave tour" in part
        assert "$50.00" in part and "$75.00" in part and "$125.00" in part
        assert "Thu 8 Apr 2027, 17:30 UTC" in part
        assert "Sat 1 May 2027, 09:00 UTC" in part


def test_the_staff_message_is_shown_only_when_there_is_one() -> None:
    without = payment_link_email(link_email(message="   "))
    with_message = payment_link_email(link_email(message="See you at the dock.\nBring water."))
    assert "A message from" not in without.html + without.text
    assert "See you at the dock.<br>Bring water." in with_message.html
    assert "  See you at the dock.\n  Bring water.\n" in with_message.text


def test_every_value_is_escaped_in_the_html() -> None:
    hostile = '<script>alert("x")</script> & <b>'
    email = payment_link_email(
        link_email(
            merchant_name=hostile,
            customer_name=hostile,
            bookings=(BookingLine(hostile, START, 100, "usd"),),
            message=hostile,
        )
    )
    assert "<script>" not in email.html and "<b>" not in email.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in email.html
    assert "script" not in parse(email.html).tags
    assert hostile in email.text  # plain text is not HTML: shown as typed


def test_the_url_is_escaped_in_attributes() -> None:
    email = payment_link_email(link_email())
    assert 'href="https://pay.example.com/pay/tok_abc?x=1&amp;y=2"' in email.html


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "ftp://x.example/a", "/pay/relative", "https://x.example/a b"]
)
def test_a_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        payment_link_email(link_email(url=url))


def test_a_merchant_name_cannot_break_the_subject_line() -> None:
    email = payment_link_email(link_email(merchant_name="Evil\r\nBcc: victim@example.com"))
    assert "\n" not in email.subject and "\r" not in email.subject


def test_the_html_uses_inline_styles_only() -> None:
    for email in (payment_link_email(link_email()), admin_link_paid_email(admin_email())):
        tags = parse(email.html).tags
        assert "style" not in tags and "link" not in tags and "script" not in tags
        assert 'style="' in email.html
        assert not re.search(r"<img\b", email.html)


def test_amounts_follow_the_currency() -> None:
    email = payment_link_email(
        link_email(bookings=(BookingLine("Tour", START, 1200, "jpy"),), amount=1200, currency="jpy")
    )
    assert "¥1,200" in email.subject


def test_times_are_shown_in_utc_and_say_so() -> None:
    eastern = timezone(timedelta(hours=-4))
    assert when(datetime(2027, 5, 1, 5, 0, tzinfo=eastern)) == "Sat 1 May 2027, 09:00 UTC"


def test_the_admin_email_says_who_paid_what_and_which_bookings_are_paid() -> None:
    email = admin_link_paid_email(admin_email())
    assert email.subject == (
        "Harbour Kayak Tours: Ada Lovelace paid $125.00 through a payment link"
    )
    for part in (email.html, email.text):
        assert "ada@example.com" in part
        assert "pi_123" in part
        assert "Fri 2 Apr 2027, 14:05 UTC" in part
        assert "Bookings now Charged in Full" in part
        assert "$50.00 still due" in part
    in_full = email.text.split("Bookings now Charged in Full:")[1].split("\n\n")[0]
    assert "Sunset paddle" in in_full and "Sea cave tour" not in in_full


def test_the_admin_email_escapes_the_customer_and_booking_titles() -> None:
    email = admin_link_paid_email(
        admin_email(
            customer_name="<i>Ada</i>",
            bookings=(PaidBooking("<img src=x>", START, "charged_in_full", 1, 0, "usd"),),
        )
    )
    assert "<i>" not in email.html and "<img" not in email.html
    assert "&lt;img src=x&gt;" in email.html


def test_the_admin_email_without_known_bookings_says_so() -> None:
    email = admin_link_paid_email(admin_email(bookings=()))
    assert "No booking was marked as paid" in email.text
    assert "Charged in Full" not in email.text.split("--")[0]


@pytest.mark.parametrize(
    "url",
    [
        "https://pay.example.com/pay/" + "A1b2_-" * 7 + "x",
        URL,  # a query and characters the HTML escapes
        "http://127.0.0.1:18003/pay/tok",
    ],
)
def test_the_link_email_stored_redacted_is_the_email_once_the_link_is_put_back(url: str) -> None:
    stored = payment_link_email(link_email(url=redacted_url(url), message="Pay /pay/<redacted>"))
    sent = payment_link_email(link_email(url=url, message="Pay /pay/<redacted>"))

    assert with_link_url(stored, url) == sent
    assert url not in stored.text and escape(url) not in stored.html
    secret = url.rsplit("/", 1)[1]
    assert secret not in stored.text and escape(secret) not in stored.html
    assert redacted_url(url).endswith("/pay/<redacted>")
    assert f"{BUTTON_LABEL}: {redacted_url(url)}" in stored.text


# --- the business behind the email --------------------------------------------------------

HALIFAX = BusinessProfile(
    time_zone="America/Halifax",
    contact_phone="+1 902 555 0142",
    contact_email="hello@harbourkayak.example",
    logo_url="https://harbourkayak.example/logo.png",
    brand_colour="#0b5d7a",
    policy_text="Full refund up to 48 hours before.\nNo refund after.",
)


def test_every_time_in_the_link_email_is_in_the_business_zone() -> None:
    email = payment_link_email(link_email(profile=HALIFAX))
    for part in (email.html, email.text):
        assert "Sat 1 May 2027, 06:00 ADT" in part  # 09:00 UTC
        assert "Thu 8 Apr 2027, 14:30 ADT" in part  # the expiry, 17:30 UTC
        assert "UTC" not in part


def test_every_time_in_the_admin_email_is_in_the_business_zone() -> None:
    email = admin_link_paid_email(admin_email(profile=HALIFAX))
    for part in (email.html, email.text):
        assert "Fri 2 Apr 2027, 11:05 ADT" in part
        assert "Sat 1 May 2027, 06:00 ADT" in part


@pytest.mark.parametrize("render", ["link", "admin"])
def test_every_email_shows_how_to_reach_the_business_and_its_policy(render: str) -> None:
    email = (
        payment_link_email(link_email(profile=HALIFAX))
        if render == "link"
        else admin_link_paid_email(admin_email(profile=HALIFAX))
    )
    hrefs = [href for href, _ in parse(email.html).links]
    assert "tel:+19025550142" in hrefs
    assert "mailto:hello@harbourkayak.example" in hrefs
    assert "Full refund up to 48 hours before.<br>No refund after." in email.html
    assert "Phone: +1 902 555 0142\nEmail: hello@harbourkayak.example" in email.text
    assert "Policy:\n  Full refund up to 48 hours before.\n  No refund after." in email.text
    assert '<img src="https://harbourkayak.example/logo.png" alt="Harbour Kayak Tours"' in (
        email.html
    )


def test_without_details_the_email_shows_no_empty_contact_or_policy() -> None:
    email = payment_link_email(link_email())
    assert "Phone:" not in email.text and "Policy" not in email.text
    assert "tel:" not in email.html and "<img" not in email.html


def test_a_dark_brand_colour_is_the_button_and_a_light_one_is_not() -> None:
    dark = payment_link_email(link_email(profile=HALIFAX))
    light = payment_link_email(link_email(profile=BusinessProfile(brand_colour="#ffe14d")))
    assert 'bgcolor="#0b5d7a"' in dark.html
    assert 'bgcolor="#ffe14d"' not in light.html and "#ffe14d" not in light.html
    assert 'bgcolor="#1a56db"' in light.html


def test_the_policy_is_escaped() -> None:
    email = payment_link_email(
        link_email(profile=BusinessProfile(policy_text="<script>x</script>\nRefunds & more"))
    )
    assert "<script>" not in email.html
    assert "&lt;script&gt;x&lt;/script&gt;<br>Refunds &amp; more" in email.html


BUSINESS_HTML = "<b onclick=\"steal()\">Tours & 'Co'</b>"


def business_email(render: str, name: str, profile: BusinessProfile) -> RenderedEmail:
    """One of the three emails, for a business of that name and profile."""
    if render == "link":
        return payment_link_email(link_email(merchant_name=name, message=name, profile=profile))
    if render == "admin":
        return admin_link_paid_email(admin_email(merchant_name=name, profile=profile))
    receipt = ReceiptEmail(
        merchant_name=name,
        customer_name="Ada Lovelace",
        bookings=(ReceiptBooking("Sunset paddle", START),),
        amount=12500,
        currency="usd",
        card_brand="visa",
        card_last4="4242",
        paid_at=START,
        charge_id=uuid.UUID(int=1),
        stripe_payment_intent_id="pi_123",
        profile=profile,
    )
    return receipt_email(receipt)


@pytest.mark.parametrize("render", ["link", "admin", "receipt"])
def test_business_text_with_html_is_escaped_in_the_html_and_verbatim_in_the_text(
    render: str,
) -> None:
    profile = BusinessProfile(
        contact_phone="+1 902 555 0142", policy_text=f"{BUSINESS_HTML}\n<i>No refund</i>"
    )
    email = business_email(render, BUSINESS_HTML, profile)

    escaped = "&lt;b onclick=&#34;steal()&#34;&gt;Tours &amp; &#39;Co&#39;&lt;/b&gt;"
    assert "<b " not in email.html and "<i>" not in email.html and 'onclick="' not in email.html
    assert f"<strong>{escaped}</strong><br>Phone:" in email.html  # the business's name
    assert f"<strong>Policy</strong><br>{escaped}<br>&lt;i&gt;No refund&lt;/i&gt;" in email.html
    assert {"b", "i"}.isdisjoint(parse(email.html).tags)
    assert f"\n{BUSINESS_HTML}\nPhone: +1 902 555 0142\n" in email.text
    assert f"Policy:\n  {BUSINESS_HTML}\n  <i>No refund</i>\n" in email.text
    assert "&lt;" not in email.text and "&amp;" not in email.text


def test_every_email_has_its_html_and_text_template_and_all_compile() -> None:
    names = compile_templates()
    for email in ("payment_link", "admin_link_paid", "receipt"):
        assert f"{email}.html" in names and f"{email}.txt" in names
