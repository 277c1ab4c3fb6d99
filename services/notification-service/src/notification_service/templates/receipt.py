"""The customer's receipt after a successful charge (card on file, new card or payment link):
what was paid, for which bookings, with which card, when, and the reference to quote."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from bookpay_shared.business import BusinessProfile

from notification_service.domain.notifications import RenderedEmail
from notification_service.templates.layout import (
    MUTED,
    Business,
    business_text,
    e,
    money,
    one_line,
    page,
    paragraph,
    rows_table,
)

CARD_BRANDS = {
    "amex": "American Express",
    "cartes_bancaires": "Cartes Bancaires",
    "diners": "Diners Club",
    "discover": "Discover",
    "eftpos_au": "eftpos Australia",
    "interac": "Interac",
    "jcb": "JCB",
    "mastercard": "Mastercard",
    "unionpay": "UnionPay",
    "visa": "Visa",
}
"""Stripe's card brand codes, as people write them. Any other brand (or `unknown`) is "Card"."""


def card_label(brand: str | None, last4: str | None) -> str:
    """How the card paid shows on the receipt: 'Visa ending in 4242', 'Card ending in 4242'
    when the brand is not known, 'Card' when neither is."""
    name = CARD_BRANDS.get((brand or "").strip().lower(), "Card")
    digits = (last4 or "").strip()
    if len(digits) == 4 and digits.isascii() and digits.isdigit():
        return f"{name} ending in {digits}"
    return name


@dataclass(frozen=True)
class ReceiptBooking:
    title: str
    starts_at: datetime | None
    """None for a booking this service has not learnt about (shown by its title only)."""


@dataclass(frozen=True)
class ReceiptEmail:
    merchant_name: str
    customer_name: str
    bookings: tuple[ReceiptBooking, ...]
    amount: int
    currency: str
    card_brand: str | None
    card_last4: str | None
    paid_at: datetime
    charge_id: uuid.UUID
    """The reference: what the customer quotes and staff look the charge up by."""
    stripe_payment_intent_id: str
    profile: BusinessProfile = field(default_factory=BusinessProfile)
    """The business's time zone, contact details, logo, colour and policy."""

    @property
    def business(self) -> Business:
        return Business(self.merchant_name, self.profile)


def receipt_email(data: ReceiptEmail) -> RenderedEmail:
    total = money(data.amount, data.currency)
    subject = one_line(f"{data.merchant_name}: receipt for your payment of {total}")
    return RenderedEmail(subject=subject, html=_html(data, subject), text=_text(data))


def _details(data: ReceiptEmail) -> list[tuple[str, str]]:
    """The receipt's facts as (label, plain text value)."""
    return [
        ("Amount paid", money(data.amount, data.currency)),
        ("Paid with", card_label(data.card_brand, data.card_last4)),
        ("Payment date", data.business.when(data.paid_at)),
        ("Reference", str(data.charge_id)),
        ("Stripe payment", data.stripe_payment_intent_id),
    ]


def _html(data: ReceiptEmail, subject: str) -> str:
    total = money(data.amount, data.currency)
    merchant = e(one_line(data.merchant_name))
    code = {"Reference", "Stripe payment"}
    details = [
        (e(label), f"<code>{e(value)}</code>" if label in code else e(value))
        for label, value in _details(data)
    ]
    parts = [
        paragraph(f"Hi {e(one_line(data.customer_name))},"),
        paragraph(
            f"Thank you for your payment of <strong>{e(total)}</strong> to {merchant}. "
            "This email is your receipt."
        ),
        paragraph("<strong>Paid for</strong>"),
        rows_table([_booking_row(b, data) for b in data.bookings]),
        rows_table(details),
        paragraph(
            f"Please quote the reference if you contact {merchant} about this payment.",
            size=14,
            color=MUTED,
        ),
    ]
    return page(
        title=subject,
        business=data.business,
        preheader=f"Your receipt for {total} paid to {one_line(data.merchant_name)}.",
        content="".join(parts),
        footer=f"You receive this receipt because you paid {merchant}. "
        "Payments are processed by Stripe; bookpay never sees your card number.",
    )


def _booking_row(b: ReceiptBooking, data: ReceiptEmail) -> tuple[str, str]:
    when = "" if b.starts_at is None else e(data.business.when(b.starts_at))
    return f"<strong>{e(one_line(b.title))}</strong>", f'<span style="color:{MUTED};">{when}</span>'


def _booking_line(b: ReceiptBooking, data: ReceiptEmail) -> str:
    title = one_line(b.title)
    return f"- {title}" if b.starts_at is None else f"- {title} ({data.business.when(b.starts_at)})"


def _text(data: ReceiptEmail) -> str:
    total = money(data.amount, data.currency)
    merchant = one_line(data.merchant_name)
    lines = [
        f"Hi {one_line(data.customer_name)},",
        "",
        f"Thank you for your payment of {total} to {merchant}. This email is your receipt.",
        "",
        "Paid for:",
        *(_booking_line(b, data) for b in data.bookings),
        "",
        *(f"{label}: {value}" for label, value in _details(data)),
        "",
        f"Please quote the reference if you contact {merchant} about this payment.",
    ]
    lines += business_text(data.business)
    lines += [
        "",
        "--",
        f"You receive this receipt because you paid {merchant}.",
        "Payments are processed by Stripe; bookpay never sees your card number.",
    ]
    return "\n".join(lines) + "\n"
