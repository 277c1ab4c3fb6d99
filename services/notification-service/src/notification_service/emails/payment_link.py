"""The customer's payment-link email. The preview and the real send both come from
`payment_link_email`, so what staff preview is what the customer receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bookpay_shared.business import BusinessProfile

from notification_service.domain.notifications import RenderedEmail
from notification_service.emails.formats import Business, money, one_line, safe_url
from notification_service.emails.rendering import render_email

BUTTON_LABEL = "Complete Payment"


@dataclass(frozen=True)
class BookingLine:
    title: str
    starts_at: datetime
    amount: int
    currency: str


@dataclass(frozen=True)
class PaymentLinkEmail:
    merchant_name: str
    customer_name: str
    bookings: tuple[BookingLine, ...]
    amount: int
    currency: str
    url: str
    expires_at: datetime
    message: str | None = None
    profile: BusinessProfile = field(default_factory=BusinessProfile)
    """The business's time zone, contact details, logo, colour and policy."""

    @property
    def business(self) -> Business:
        return Business(self.merchant_name, self.profile)


def payment_link_email(data: PaymentLinkEmail) -> RenderedEmail:
    """Subject, HTML and plain text of the email; ValueError for a URL that is not http(s)."""
    safe_url(data.url)
    total = money(data.amount, data.currency)
    subject = one_line(f"{data.merchant_name}: complete your payment of {total}")
    return render_email(
        "payment_link",
        subject=subject,
        data=data,
        business=data.business,
        total=total,
        button_label=BUTTON_LABEL,
    )
