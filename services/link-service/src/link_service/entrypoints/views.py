"""The payment page and its status pages, as HTML: the Jinja2 templates in templates/ (every
value escaped), filled with what the page knows. Formatting for people stays Python, given to the
templates: money, local times and the number a `tel:` link dials as filters, card brands as
`card_text`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bookpay_shared.business import BusinessProfile, accent_colour
from bookpay_shared.local_time import format_local
from bookpay_shared.money import format_amount
from bookpay_shared.templating import Templates

from link_service.domain.links import LinkOrigin
from link_service.usecases.payments import Page


@dataclass(frozen=True)
class StripeJs:
    url: str
    publishable_key: str


DEFAULT_ACCENT = "#1d4ed8"
"""The pages' own accent (pay.css), kept when the business's colour cannot carry white text."""


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


def dial(phone: str) -> str:
    """The number a `tel:` link dials: '+1 902 555 0142' -> '+19025550142'."""
    return "".join(c for c in phone if c.isdigit() or c == "+")


PAGES = Templates(
    "link_service",
    filters={"money": format_amount, "local_time": format_local, "dial": dial},
    globals={"card_text": card_text},
)


def _merchant(page: Page | None) -> str:
    return page.account.name if page and page.account else "The merchant"


def _render(name: str, page: Page | None, **values: Any) -> str:
    """The template `name` in the layout, with what every page of a link shows of the business
    (its logo, accent and card) when the page knows it."""
    profile = _profile(page)
    return str(
        PAGES.render(
            name,
            page=page,
            account=page.account if page else None,
            profile=profile,
            zone=profile.time_zone,
            accent=accent_path(profile),
            merchant=_merchant(page),
            **values,
        )
    )


def payment_page(
    page: Page, *, stripe_js: StripeJs, csrf: str, payment_url: str, success_url: str
) -> str:
    return _render(
        "pay.html",
        page,
        card=False,
        fallback=page.link.origin is LinkOrigin.AUTHENTICATION_FALLBACK,
        customer_name=page.customer.name if page.customer else "",
        stripe_js=stripe_js,
        csrf=csrf,
        payment_url=payment_url,
        success_url=success_url,
    )


def _status(
    page: Page | None,
    kind: str,
    heading: str,
    text: str,
    *,
    details: bool,
    paid: bool = False,
    with_receipt: bool = False,
    card: bool = False,
) -> str:
    """A page without a card field: `details` shows the charge (`paid`: as a receipt shows it,
    without the customer and the balances), `with_receipt` the receipt, `card` the business's
    name even when it has no contact details."""
    return _render(
        "status.html",
        page,
        kind=kind,
        heading=heading,
        text=text,
        details=details,
        paid=paid,
        with_receipt=with_receipt,
        card=card,
    )


def success_page(page: Page) -> str:
    merchant = _merchant(page)
    text = f"Thank you. {merchant} has received your payment; you can close this page."
    return _status(
        page, "success", "Payment received", text, details=True, paid=True, with_receipt=True
    )


def already_paid_page(page: Page) -> str:
    text = "This payment link has already been paid. Nothing more is due through this link."
    return _status(
        page, "success", "Already paid", text, details=True, paid=True, with_receipt=True
    )


def pending_page(page: Page) -> str:
    text = (
        "Your payment is being processed. This can take a moment; you will not be charged "
        "twice. Reload this page to see the result."
    )
    return _status(page, "pending", "Payment processing", text, details=True, paid=True)


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
