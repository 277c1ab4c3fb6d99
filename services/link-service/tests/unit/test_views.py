import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bookpay_shared.business import BusinessProfile
from bookpay_shared.events import Administrator, BookingStatus
from bookpay_shared.projections import KnownAccount, KnownBooking, KnownCustomer
from link_service.domain.links import Link, LinkOrigin, LinkState
from link_service.entrypoints import views
from link_service.usecases.payments import Page

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
XSS = "<script>alert(1)</script>"
STRIPE_JS = views.StripeJs("https://js.stripe.com/v3/", "pk_test_123")


def page(
    *,
    title: str = "Sunset paddle",
    currency: str = "usd",
    amount: int = 12500,
    origin: LinkOrigin = LinkOrigin.PAYMENT_LINK,
    state: LinkState = LinkState.ACTIVE,
    with_bookings: bool = True,
    business: BusinessProfile | None = None,
) -> Page:
    account, customer, booking = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    link = Link(
        link_id=uuid.uuid4(),
        charge_id=uuid.uuid4(),
        account_id=account,
        customer_id=customer,
        booking_ids=(booking,),
        amount=amount,
        currency=currency,
        message='Bring "sunscreen" & <water>',
        origin=origin,
        state=state,
        expires_at=NOW + timedelta(days=7),
        created_at=NOW,
    )
    bookings = [
        KnownBooking(
            booking_id=booking,
            account_id=account,
            customer_id=customer,
            title=title,
            starts_at=datetime(2027, 5, 1, 9, tzinfo=UTC),
            amount=amount,
            currency=currency,
            amount_paid=0,
            balance_due=amount,
            status=BookingStatus.UNPAID,
        )
    ]
    return Page(
        link=link,
        state=state,
        account=KnownAccount(
            account,
            "Harbour <b>Kayaks</b>",
            (Administrator(name="A", email="a@example.com"),),
            True,
            business or BusinessProfile(),
        ),
        customer=KnownCustomer(customer, account, "Ada <i>Lovelace</i>", "ada@example.com"),
        bookings=bookings if with_bookings else [],
        stripe_account="acct_views",
        intent_status=None,
    )


def test_the_payment_page_escapes_every_text() -> None:
    html = views.payment_page(
        page(title=XSS),
        stripe_js=STRIPE_JS,
        csrf="ab" * 32,
        payment_url="/pay/t/payment",
        success_url="/pay/t/success",
    )
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Harbour &lt;b&gt;Kayaks&lt;/b&gt;" in html
    assert 'data-customer-name="Ada &lt;i&gt;Lovelace&lt;/i&gt;"' in html
    assert "Bring &#34;sunscreen&#34; &amp; &lt;water&gt;" in html
    assert html.count("<script") == 2  # Stripe.js and our own script, both external
    assert '<script src="https://js.stripe.com/v3/"></script>' in html


def test_the_payment_page_shows_the_summary_and_the_consent() -> None:
    html = views.payment_page(
        page(),
        stripe_js=STRIPE_JS,
        csrf="ab" * 32,
        payment_url="/pay/t/payment",
        success_url="/pay/t/success",
    )
    assert "Sat 1 May 2027, 09:00 UTC" in html
    assert "Price $125.00 · Balance due $125.00" in html
    assert "Pay $125.00" in html
    assert "This link expires on Mon 8 Mar 2027, 12:00 UTC." in html
    assert '<label for="save-card">Save this card for future payments</label>' in html
    assert "may keep this card on file with Stripe" in html
    assert 'data-publishable-key="pk_test_123"' in html


def test_zero_decimal_currencies_and_missing_projections() -> None:
    html = views.payment_page(
        page(currency="jpy", amount=2000, with_bookings=False),
        stripe_js=STRIPE_JS,
        csrf="ab" * 32,
        payment_url="/p",
        success_url="/s",
    )
    assert "Pay ¥2,000" in html
    assert "1 booking(s): details are not available right now." in html


def test_a_fallback_page_asks_to_confirm_and_offers_no_saving() -> None:
    html = views.payment_page(
        page(origin=LinkOrigin.AUTHENTICATION_FALLBACK),
        stripe_js=STRIPE_JS,
        csrf="ab" * 32,
        payment_url="/p",
        success_url="/s",
    )
    assert "Your bank asked you to confirm this payment of $125.00" in html
    assert "save-card" not in html


def test_status_pages() -> None:
    assert "Already paid" in views.already_paid_page(page(state=LinkState.PAID))
    assert "Payment received" in views.success_page(page(state=LinkState.PAID))
    assert "being processed" in views.pending_page(page())
    assert "can&#39;t take card payments right now" in views.unavailable_page(page())


def test_an_expired_or_cancelled_link_names_the_business_and_nothing_of_the_charge() -> None:
    shown = page(state=LinkState.EXPIRED, business=HALIFAX)
    html = views.closed_page(shown)
    assert "Link no longer valid" in html
    assert (
        "This payment link is no longer valid. "
        "Please ask the business that sent it for a new link." in html
    )
    assert "Harbour &lt;b&gt;Kayaks&lt;/b&gt;" in html
    assert '<a href="tel:+19025550142">+1 902 555 0142</a>' in html
    for secret in ("Ada", "Lovelace", "Sunset paddle", "125", "$", "sunscreen"):
        assert secret not in html, secret
    assert str(shown.link.link_id) not in html


def test_a_closed_link_whose_business_is_unknown_reveals_nothing() -> None:
    html = views.closed_page(None)
    assert "Link no longer valid" in html
    assert "Harbour" not in html and "business-name" not in html


def test_pages_after_paying_show_a_receipt_and_nothing_more() -> None:
    for html in (
        views.already_paid_page(page(state=LinkState.PAID)),
        views.success_page(page(state=LinkState.PAID)),
        views.pending_page(page()),
    ):
        assert "Harbour &lt;b&gt;Kayaks&lt;/b&gt;" in html  # to whom
        assert "Sunset paddle" in html and "Price $125.00" in html  # for what
        assert '<strong id="total-amount">$125.00</strong>' in html  # how much
        assert "Lovelace" not in html  # not who paid
        assert "Balance due" not in html  # nor what the bookings owe now
        assert "expires" not in html
        assert "sunscreen" not in html


def test_a_link_whose_bookings_were_paid_elsewhere_says_so() -> None:
    html = views.paid_elsewhere_page(page())
    assert "Nothing to pay" in html
    assert (
        "These bookings have been paid in the meantime; ask Harbour &lt;b&gt;Kayaks&lt;/b&gt; "
        "if anything is still due." in html
    )
    assert "payment-form" not in html and "total-amount" not in html


HALIFAX = BusinessProfile(
    time_zone="America/New_York",
    contact_phone="+1 902 555 0142",
    contact_email="hello@harbourkayak.example",
    logo_url="https://harbourkayak.example/logo.png",
    brand_colour="#0b5d7a",
    policy_text="Full refund up to 48 hours before.\n<No> refund after.",
)


def pay(shown: Page) -> str:
    return views.payment_page(
        shown,
        stripe_js=STRIPE_JS,
        csrf="ab" * 32,
        payment_url="/pay/t/payment",
        success_url="/pay/t/success",
    )


def test_the_payment_page_shows_times_in_the_business_zone() -> None:
    html = pay(page(business=HALIFAX))
    assert "Sat 1 May 2027, 05:00 EDT" in html  # 09:00 UTC
    assert "This link expires on Mon 8 Mar 2027, 07:00 EST." in html  # before the DST change
    assert 'datetime="2027-05-01T09:00:00+00:00"' in html  # the instant itself stays UTC
    assert "UTC" not in html


def test_every_page_of_a_link_shows_the_business_contact_logo_and_policy() -> None:
    for html in (
        pay(page(business=HALIFAX)),
        views.success_page(page(state=LinkState.PAID, business=HALIFAX)),
        views.unavailable_page(page(business=HALIFAX)),
    ):
        assert '<a href="tel:+19025550142">+1 902 555 0142</a>' in html
        assert '<a href="mailto:hello@harbourkayak.example">hello@harbourkayak.example</a>' in html
        assert "Full refund up to 48 hours before.<br>&lt;No&gt; refund after." in html
        assert '<img class="logo" src="https://harbourkayak.example/logo.png"' in html
        assert '<link rel="stylesheet" href="/assets/accent/0b5d7a.css">' in html


def test_a_business_without_details_gets_no_empty_card_logo_or_accent() -> None:
    html = pay(page())
    assert 'class="business"' not in html and "<img" not in html
    assert "/assets/accent/" not in html


def test_a_brand_colour_too_light_for_white_text_is_not_the_accent() -> None:
    html = pay(page(business=BusinessProfile(brand_colour="#ffe14d")))
    assert "/assets/accent/" not in html


def test_the_accent_stylesheet_sets_only_the_accent_variable() -> None:
    assert views.accent_stylesheet("#0b5d7a") == ":root { --accent: #0b5d7a; }\n"


def paid(business: BusinessProfile | None = None, **paid_with: object) -> Page:
    """A page of a link paid on 1 March 2027 at 18:30 UTC with a Visa, unless told otherwise."""
    shown = page(state=LinkState.PAID, business=business)
    details: dict[str, object] = {
        "paid_at": datetime(2027, 3, 1, 18, 30, tzinfo=UTC),
        "payment_intent_id": "pi_receipt123",
        "card_brand": "visa",
        "card_last4": "4242",
        **paid_with,
    }
    return replace(shown, link=replace(shown.link, **details))  # type: ignore[arg-type]


def test_the_pages_after_paying_are_a_receipt_with_when_how_and_references() -> None:
    shown = paid(HALIFAX)
    for html in (views.success_page(shown), views.already_paid_page(shown)):
        assert '<dd id="amount-paid">$125.00</dd>' in html
        # 18:30 UTC is 13:30 in Halifax's zone as the account has it (EST in March).
        assert '<time datetime="2027-03-01T18:30:00+00:00">Mon 1 Mar 2027, 13:30 EST</time>' in html
        assert '<dd id="receipt-card" class="card">Visa ending in 4242</dd>' in html
        assert f">{shown.link.charge_id}</dd>" in html
        assert ">pi_receipt123</dd>" in html
        assert "Print or save this receipt" in html
        assert '<script src="/assets/receipt.js"></script>' in html
        assert "Lovelace" not in html


def test_a_receipt_leaves_out_what_is_not_known_yet() -> None:
    html = views.success_page(
        paid(card_brand=None, card_last4=None, payment_intent_id=None, paid_at=None)
    )
    assert '<dd id="amount-paid">$125.00</dd>' in html
    assert "receipt-card" not in html
    assert "receipt-payment-intent" not in html
    assert "receipt-paid-at" not in html


def test_card_brands_read_as_people_write_them() -> None:
    assert views.card_text("visa", "4242") == "Visa ending in 4242"
    assert views.card_text("amex", "0005") == "American Express ending in 0005"
    assert views.card_text("cartes_bancaires", "1234") == "Cartes Bancaires ending in 1234"


def test_a_page_still_to_be_paid_or_being_processed_is_no_receipt() -> None:
    for html in (pay(page()), views.pending_page(page())):
        assert "amount-paid" not in html
        assert "Print or save this receipt" not in html


def test_what_the_business_supplies_is_escaped_on_every_page() -> None:
    business = BusinessProfile(
        contact_phone="+1 555 <script>",
        contact_email='x"><script>@example.com',
        logo_url='https://example.com/"><script>.png',
        policy_text="No refunds.\n<script>alert(1)</script>",
    )
    shown = page(business=business)
    named = replace(shown, account=replace(shown.account, name=XSS))  # type: ignore[arg-type]
    for html in (
        pay(named),
        views.success_page(named),
        views.closed_page(named),
        views.unavailable_page(named),
    ):
        assert "<script>" not in html
        assert 'x"><script>' not in html and '.com/"><script>' not in html
        assert '<p class="business-name">&lt;script&gt;alert(1)&lt;/script&gt;</p>' in html
        assert 'href="mailto:x&#34;&gt;&lt;script&gt;@example.com"' in html
        assert "No refunds.<br>&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert '<a href="tel:+1555">+1 555 &lt;script&gt;</a>' in html
    assert 'alt="&lt;script&gt;alert(1)&lt;/script&gt;"' in pay(named)
    assert 'src="https://example.com/&#34;&gt;&lt;script&gt;.png"' in pay(named)
