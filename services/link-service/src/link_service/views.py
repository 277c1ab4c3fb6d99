"""The payment page and its status pages, as HTML (every text escaped, see markup.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bookpay_shared.money import format_amount
from bookpay_shared.projections import KnownBooking

from link_service.domain import LinkOrigin
from link_service.markup import Markup, join, render
from link_service.payments import Page


@dataclass(frozen=True)
class StripeJs:
    url: str
    publishable_key: str


def when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%A %-d %B %Y, %H:%M} UTC"


def _merchant(page: Page) -> str:
    return page.account.name if page.account else "The merchant"


def _booking(booking: KnownBooking, *, receipt: bool) -> Markup:
    price = format_amount(booking.amount, booking.currency)
    balance = format_amount(booking.balance_due, booking.currency)
    return render(
        "booking.html",
        title=booking.title,
        starts_at=when(booking.starts_at),
        starts_at_iso=booking.starts_at.isoformat(),
        amounts=f"Price {price}" if receipt else f"Price {price} · Balance due {balance}",
    )


def summary(page: Page, *, with_expiry: bool = False, receipt: bool = False) -> Markup:
    """The charge: merchant, customer, bookings, total. A receipt (the pages after paying, which
    anyone holding the URL can open again) leaves out the customer's name and the bookings'
    balances: what was paid, to whom and for what is all the payer needs."""
    rows = [_booking(b, receipt=receipt) for b in page.bookings]
    missing = len(page.link.booking_ids) - len(page.bookings)
    if missing > 0:
        rows.append(
            render(
                "status_line.html",
                text=f"{missing} booking(s): details are not available right now.",
            )
        )
    expiry = (
        render("status_line.html", text=f"This link expires on {when(page.link.expires_at)}.")
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


def _layout(title: str, body: Markup) -> str:
    return str(render("layout.html", title=title, body=body))


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
    return _layout(f"Pay {merchant}", body)


def _status(
    page: Page | None, kind: str, heading: str, text: str, *, details: bool, receipt: bool = False
) -> str:
    body = render(
        "status.html",
        merchant=render("merchant.html", merchant=_merchant(page)) if page else Markup(""),
        kind=kind,
        heading=heading,
        text=text,
        summary=summary(page, receipt=receipt) if page and details else Markup(""),
    )
    return _layout(heading, body)


def success_page(page: Page) -> str:
    merchant = _merchant(page)
    text = f"Thank you. {merchant} has received your payment; you can close this page."
    return _status(page, "success", "Payment received", text, details=True, receipt=True)


def already_paid_page(page: Page) -> str:
    text = "This payment link has already been paid. Nothing more is due through this link."
    return _status(page, "success", "Already paid", text, details=True, receipt=True)


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


def closed_page() -> str:
    """An expired or cancelled link: nothing about the merchant, the customer or the charge
    (whoever holds an old URL learns only that it no longer works)."""
    return _status(None, "closed", CLOSED_HEADING, CLOSED_TEXT, details=False)


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
