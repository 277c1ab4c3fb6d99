"""The administrators' email after booking(s) were paid through a payment link."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bookpay_shared.business import BusinessProfile
from bookpay_shared.events import BookingStatus

from notification_service.domain.notifications import RenderedEmail
from notification_service.emails.formats import Business, money, one_line, safe_url
from notification_service.emails.rendering import render_email


@dataclass(frozen=True)
class PaidBooking:
    title: str
    starts_at: datetime | None
    status: str
    """`charged_in_full` or `partially_paid`, after this payment."""
    amount_applied: int
    balance_due: int
    currency: str


@dataclass(frozen=True)
class AdminLinkPaidEmail:
    merchant_name: str
    customer_name: str
    customer_email: str
    amount: int
    currency: str
    stripe_payment_intent_id: str
    paid_at: datetime
    bookings: tuple[PaidBooking, ...]
    profile: BusinessProfile = field(default_factory=BusinessProfile)
    """The business's time zone, contact details, logo, colour and policy."""
    charge_url: str | None = None
    """Where staff see the charge and its history (charge-service's staff API)."""

    @property
    def business(self) -> Business:
        return Business(self.merchant_name, self.profile)


def admin_link_paid_email(data: AdminLinkPaidEmail) -> RenderedEmail:
    """Subject, HTML and plain text; ValueError for a charge URL that is not http(s)."""
    if data.charge_url is not None:
        safe_url(data.charge_url)
    total = money(data.amount, data.currency)
    subject = one_line(
        f"{data.merchant_name}: {data.customer_name} paid {total} through a payment link"
    )
    in_full = [b for b in data.bookings if b.status == BookingStatus.CHARGED_IN_FULL]
    partly = [b for b in data.bookings if b.status != BookingStatus.CHARGED_IN_FULL]
    return render_email(
        "admin_link_paid",
        subject=subject,
        data=data,
        business=data.business,
        total=total,
        in_full=[(b, _label(b, data)) for b in in_full],
        partly=[(b, _label(b, data)) for b in partly],
    )


def _label(b: PaidBooking, data: AdminLinkPaidEmail) -> str:
    """A booking as the email names it: its title and, when known, when it is."""
    title = one_line(b.title)
    return title if b.starts_at is None else f"{title} ({data.business.when(b.starts_at)})"
