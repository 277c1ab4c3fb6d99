"""The administrators' email after booking(s) were paid through a payment link."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bookpay_shared.business import BusinessProfile
from bookpay_shared.events import BookingStatus

from notification_service.domain.notifications import RenderedEmail
from notification_service.templates.layout import (
    INK,
    MUTED,
    Business,
    business_text,
    e,
    money,
    one_line,
    page,
    paragraph,
    rows_table,
    safe_url,
)


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
    return RenderedEmail(subject=subject, html=_html(data, subject), text=_text(data))


def _in_full(data: AdminLinkPaidEmail) -> list[PaidBooking]:
    return [b for b in data.bookings if b.status == BookingStatus.CHARGED_IN_FULL]


def _partly(data: AdminLinkPaidEmail) -> list[PaidBooking]:
    return [b for b in data.bookings if b.status != BookingStatus.CHARGED_IN_FULL]


def _booking_label(b: PaidBooking, data: AdminLinkPaidEmail) -> str:
    title = one_line(b.title)
    return title if b.starts_at is None else f"{title} ({data.business.when(b.starts_at)})"


def _html(data: AdminLinkPaidEmail, subject: str) -> str:
    total = money(data.amount, data.currency)
    customer = f"{e(one_line(data.customer_name))} ({e(data.customer_email)})"
    parts = [
        paragraph(f"{customer} paid <strong>{e(total)}</strong> through a payment link."),
        rows_table(
            [
                ("Customer", customer),
                ("Amount", e(total)),
                ("Paid at", e(data.business.when(data.paid_at))),
                ("Stripe payment", f"<code>{e(data.stripe_payment_intent_id)}</code>"),
                *_charge_row(data),
            ]
        ),
        *_bookings_html(data),
    ]
    return page(
        title=subject,
        business=data.business,
        preheader=f"{one_line(data.customer_name)} paid {total} through a payment link.",
        content="".join(parts),
        footer=_footer(data),
    )


def _charge_row(data: AdminLinkPaidEmail) -> list[tuple[str, str]]:
    if data.charge_url is None:
        return []
    link = f'<a href="{e(data.charge_url)}" style="color:{INK};">See the charge</a>'
    return [("Charge", link)]


def _bookings_html(data: AdminLinkPaidEmail) -> list[str]:
    parts = []
    if in_full := _in_full(data):
        parts.append(paragraph("<strong>Bookings now Charged in Full</strong>"))
        parts.append(rows_table([(e(_booking_label(b, data)), "Charged in Full") for b in in_full]))
    if partly := _partly(data):
        parts.append(paragraph("<strong>Bookings partially paid</strong>"))
        rows = [
            (e(_booking_label(b, data)), e(f"{money(b.balance_due, b.currency)} still due"))
            for b in partly
        ]
        parts.append(rows_table(rows))
    if not data.bookings:
        parts.append(paragraph(_NO_BOOKINGS, size=14, color=MUTED))
    return parts


_NO_BOOKINGS = (
    "No booking was marked as paid by this payment yet; please check the customer's bookings."
)


def _footer(data: AdminLinkPaidEmail) -> str:
    return (
        f"You receive this email as an administrator of {e(one_line(data.merchant_name))}. "
        "This notification can be turned off in the account's settings."
    )


def _text(data: AdminLinkPaidEmail) -> str:
    total = money(data.amount, data.currency)
    customer = f"{one_line(data.customer_name)} ({data.customer_email})"
    lines = [
        f"{customer} paid {total} through a payment link.",
        "",
        f"Customer: {customer}",
        f"Amount: {total}",
        f"Paid at: {data.business.when(data.paid_at)}",
        f"Stripe payment: {data.stripe_payment_intent_id}",
    ]
    if data.charge_url is not None:
        lines.append(f"See the charge: {data.charge_url}")
    if in_full := _in_full(data):
        lines += [
            "",
            "Bookings now Charged in Full:",
            *(f"- {_booking_label(b, data)}" for b in in_full),
        ]
    if partly := _partly(data):
        lines += ["", "Bookings partially paid:"]
        lines += [
            f"- {_booking_label(b, data)}: {money(b.balance_due, b.currency)} still due"
            for b in partly
        ]
    if not data.bookings:
        lines += ["", _NO_BOOKINGS]
    lines += business_text(data.business)
    lines += [
        "",
        "--",
        f"You receive this email as an administrator of {one_line(data.merchant_name)}.",
        "This notification can be turned off in the account's settings.",
    ]
    return "\n".join(lines) + "\n"
