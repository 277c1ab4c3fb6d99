"""The payment page and its status pages, as HTML (every text escaped, see markup.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bookpay_shared.business import BusinessProfile, accent_colour
from bookpay_shared.local_time import DEFAULT_TIME_ZONE, format_local
from bookpay_shared.money import format_amount
from bookpay_shared.projections import KnownAccount, KnownBooking

from link_service.domain.links import LinkOrigin
from link_service.entrypoints.markup import Markup, escape, join, render
from link_service.usecases.payments import Page


@dataclass(frozen=True)
class StripeJs:
    url: str
    publishable_key: str


DEFAULT_ACCENT = "#1d4ed8"
"""The pages' own accent (pay.css), kept when the business's colour cannot carry white text."""


def when(moment: datetime, time_zone: str = DEFAULT_TIME_ZONE) -> str:
    """In the business's zone, saying which: 'Sat 1 May 2027, 07:00 EDT'."""
    return format_local(moment, time_zone)


def _profile(page: Page | None) -> BusinessProfile:
    return page.account.business if page and page.account else BusinessProfile()


def accent_stylesheet(colour: str) -> str:
    """The stylesheet that makes `colour` (#rrggbb) the pages' accent: served from our origin,
    so the pages' CSP keeps `style-src 'self'` (no inline style)."""
    return f":root {{ --accent: {colour}; }}\n"


def accent_path(profile: BusinessProfile) -> str | None:
    """Where the business's accent stylesheet is, when its colour carries white text."""
    colour = accent_colour(profile.brand_colour, DEFAULT_ACCENT)
    return None if colour == DEFAULT_ACCENT else f"/assets/accent/{colour[1:]}.css"


def _merchant(page: Page) -> str:
    return page.account.name if page.account else "The merchant"


def _booking(booking: KnownBooking, *, receipt: bool, time_zone: str) -> Markup:
    price = format_amount(booking.amount, booking.currency)
    balance = format_amount(booking.balance_due, booking.currency)
    return render(
        "booking.html",
        title=booking.title,
        starts_at=when(booking.starts_at, time_zone),
        starts_at_iso=booking.starts_at.isoformat(),
        amounts=f"Price {price}" if receipt else f"Price {price} · Balance due {balance}",
    )


def summary(page: Page, *, with_expiry: bool = False, receipt: bool = False) -> Markup:
    """The charge: merchant, customer, bookings, total. A receipt (the pages after paying, which
    anyone holding the URL can open again) leaves out the customer's name and the bookings'
    balances: what was paid, to whom and for what is all the payer needs."""
    zone = _profile(page).time_zone
    rows = [_booking(b, receipt=receipt, time_zone=zone) for b in page.bookings]
    missing = len(page.link.booking_ids) - len(page.bookings)
    if missing > 0:
        rows.append(
            render(
                "status_line.html",
                text=f"{missing} booking(s): details are not available right now.",
            )
        )
    expiry = (
        render("status_line.html", text=f"This link expires on {when(page.link.expires_at, zone)}.")
        if with_expiry
        else Markup("")
    )
    customer = (
        Markup("")
        if receipt
        else render(
            "summary_customer.html", customer=page.customer.name if page.customer else "You"
        )
    )
    return render(
        "summary.html",
        merchant=_merchant(page),
        customer=customer,
        bookings=join(rows),
        total=format_amount(page.link.amount, page.link.currency),
        expiry=expiry,
    )


def business_card(account: KnownAccount, *, always: bool = False) -> Markup:
    """Who the business is, how to reach it and its policy: every page of a link shows it when
    the business has any of these (`always`: its name even without them)."""
    p = account.business
    items = []
    if p.contact_phone:
        dial = "".join(c for c in p.contact_phone if c.isdigit() or c == "+")
        items.append(render("contact_phone.html", dial=dial, phone=p.contact_phone))
    if p.contact_email:
        items.append(render("contact_email.html", email=p.contact_email))
    contact = render("contact.html", items=join(items)) if items else Markup("")
    policy = (
        render("policy.html", text=_lines(p.policy_text))
        if p.policy_text and p.policy_text.strip()
        else Markup("")
    )
    if not (items or policy or always):
        return Markup("")
    return render("business.html", merchant=account.name, contact=contact, policy=policy)


def _lines(text: str) -> Markup:
    """Escaped text whose line breaks show as line breaks."""
    return Markup("<br>".join(escape(line) for line in text.strip().splitlines()))


def _layout(title: str, body: Markup, page: Page | None = None, *, card: bool = False) -> str:
    """The document around `body`, with the business's logo, accent and contact card when the
    page knows the business."""
    account = page.account if page else None
    profile = _profile(page)
    accent = accent_path(profile)
    logo = (
        render("logo.html", url=profile.logo_url, merchant=account.name)
        if account and profile.logo_url
        else Markup("")
    )
    return str(
        render(
            "layout.html",
            lang=profile.language,
            title=title,
            accent=render("accent.html", href=accent) if accent else Markup(""),
            logo=logo,
            body=body,
            business=business_card(account, always=card) if account else Markup(""),
        )
    )


def payment_page(
    page: Page, *, stripe_js: StripeJs, csrf: str, payment_url: str, success_url: str
) -> str:
    merchant = _merchant(page)
    total = format_amount(page.link.amount, page.link.currency)
    name = page.customer.name if page.customer else ""
    fallback = page.link.origin is LinkOrigin.AUTHENTICATION_FALLBACK
    lead = (
        f"Your bank asked you to confirm this payment of {total} to {merchant}."
        if fallback
        else f"{merchant} asks you to pay {total}."
    )
    note = render("note.html", text=page.link.message) if page.link.message else Markup("")
    save_card = Markup("") if fallback else render("save_card.html", merchant=merchant)
    body = render(
        "pay.html",
        merchant=merchant,
        lead=(f"Hello {name}. " if name else "") + lead,
        note=note,
        summary=summary(page, with_expiry=True),
        publishable_key=stripe_js.publishable_key,
        stripe_account=page.stripe_account or "",
        csrf=csrf,
        payment_url=payment_url,
        success_url=success_url,
        customer_name=name,
        save_card=save_card,
        total=total,
        stripe_js_url=stripe_js.url,
    )
    return _layout(f"Pay {merchant}", body, page)


def _status(
    page: Page | None,
    kind: str,
    heading: str,
    text: str,
    *,
    details: bool,
    receipt: bool = False,
    card: bool = False,
    after: Markup = Markup(""),
) -> str:
    body = render(
        "status.html",
        merchant=render("merchant.html", merchant=_merchant(page)) if page else Markup(""),
        kind=kind,
        heading=heading,
        text=text,
        summary=summary(page, receipt=receipt) if page and details else Markup(""),
    )
    return _layout(heading, Markup(body + after), page, card=card)


CARD_BRANDS = {
    "amex": "American Express",
    "diners": "Diners Club",
    "discover": "Discover",
    "eftpos_au": "eftpos Australia",
    "jcb": "JCB",
    "mastercard": "Mastercard",
    "unionpay": "UnionPay",
    "visa": "Visa",
}
"""Stripe's card brand codes as people write them."""


def card_text(brand: str, last4: str) -> str:
    """'Visa ending in 4242'."""
    name = CARD_BRANDS.get(brand.lower(), brand.replace("_", " ").title() or "Card")
    return f"{name} ending in {last4}"


def receipt(page: Page) -> Markup:
    """What was paid, when (in the business's zone), with which card and under which
    references (our charge id, which staff find the charge by, and Stripe's PaymentIntent):
    enough to show a bank or the business, and to print."""
    link = page.link
    paid_at = (
        render(
            "receipt_time.html",
            iso=link.paid_at.isoformat(),
            text=when(link.paid_at, _profile(page).time_zone),
        )
        if link.paid_at
        else Markup("")
    )
    card = (
        render(
            "receipt_line.html",
            label="Card",
            id="receipt-card",
            css="card",
            value=card_text(link.card_brand or "", link.card_last4),
        )
        if link.card_last4
        else Markup("")
    )
    intent = (
        render(
            "receipt_line.html",
            label="Stripe payment",
            id="receipt-payment-intent",
            css="reference",
            value=link.payment_intent_id,
        )
        if link.payment_intent_id
        else Markup("")
    )
    return render(
        "receipt.html",
        amount=format_amount(link.amount, link.currency),
        paid_at=paid_at,
        card=card,
        charge_id=str(link.charge_id),
        payment_intent=intent,
    )


def success_page(page: Page) -> str:
    merchant = _merchant(page)
    text = f"Thank you. {merchant} has received your payment; you can close this page."
    return _status(
        page,
        "success",
        "Payment received",
        text,
        details=True,
        receipt=True,
        after=receipt(page),
    )


def already_paid_page(page: Page) -> str:
    text = "This payment link has already been paid. Nothing more is due through this link."
    return _status(
        page, "success", "Already paid", text, details=True, receipt=True, after=receipt(page)
    )


def pending_page(page: Page) -> str:
    text = (
        "Your payment is being processed. This can take a moment; you will not be charged "
        "twice. Reload this page to see the result."
    )
    return _status(page, "pending", "Payment processing", text, details=True, receipt=True)


CLOSED_HEADING = "Link no longer valid"
CLOSED_TEXT = (
    "This payment link is no longer valid. Please ask the business that sent it for a new link."
)


def closed_page(page: Page | None = None) -> str:
    """An expired or cancelled link: who the business is and how to reach it (for a new link),
    nothing about the customer or the charge."""
    known = page if page and page.account else None
    return _status(known, "closed", CLOSED_HEADING, CLOSED_TEXT, details=False, card=True)


REPLACED_HEADING = "A newer link was sent"
REPLACED_TEXT = (
    "This payment link was replaced by a newer one. Please use the link in the most recent "
    "email from the business; nothing was charged through this one."
)


def replaced_page(page: Page) -> str:
    """An old link that a resend replaced: who the business is and how to reach it, nothing
    about the customer or the charge."""
    known = page if page.account else None
    return _status(known, "closed", REPLACED_HEADING, REPLACED_TEXT, details=False, card=True)


def paid_elsewhere_text(merchant: str) -> str:
    return (
        f"These bookings have been paid in the meantime; ask {merchant} if anything is still due."
    )


def paid_elsewhere_page(page: Page) -> str:
    """An active link whose bookings were paid some other way since it was made."""
    text = paid_elsewhere_text(page.account.name if page.account else "the business")
    return _status(page, "closed", "Nothing to pay", text, details=False)


def unavailable_page(page: Page) -> str:
    merchant = _merchant(page)
    text = (
        f"{merchant} can't take card payments right now. Nothing has been charged. "
        f"Please try again later or contact {merchant}."
    )
    return _status(page, "closed", "Card payments unavailable", text, details=True)
