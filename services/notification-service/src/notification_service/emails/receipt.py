"""The customer's receipt after a successful charge (card on file, new card or payment link):
what was paid, for which bookings, with which card, when, and the reference to quote."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from bookpay_shared.business import BusinessProfile

from notification_service.domain.notifications import RenderedEmail
from notification_service.emails.formats import Business, money, one_line
from notification_service.emails.rendering import render_email

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
    return render_email(
        "receipt",
        subject=subject,
        data=data,
        business=data.business,
        total=total,
        card=card_label(data.card_brand, data.card_last4),
    )
