"""The customer's payment-link email. The preview and the real send both come from
`payment_link_email`, so what staff preview is what the customer receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bookpay_shared.business import BusinessProfile

from notification_service.domain.notifications import RenderedEmail
from notification_service.templates.layout import (
    MUTED,
    Business,
    business_text,
    button,
    e,
    money,
    multiline,
    one_line,
    page,
    paragraph,
    quote_block,
    rows_table,
    safe_url,
)

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
    subject = one_line(
        f"{data.merchant_name}: complete your payment of {money(data.amount, data.currency)}"
    )
    return RenderedEmail(subject=subject, html=_html(data, subject), text=_text(data))


def _has_message(data: PaymentLinkEmail) -> bool:
    return bool(data.message and data.message.strip())


def _html(data: PaymentLinkEmail, subject: str) -> str:
    total = money(data.amount, data.currency)
    merchant = e(one_line(data.merchant_name))
    parts = [
        paragraph(f"Hi {e(one_line(data.customer_name))},"),
        paragraph(
            f"{merchant} asks you to pay <strong>{e(total)}</strong> for the booking(s) "
            "below. Click the button to open the secure payment page."
        ),
        button(BUTTON_LABEL, data.url, colour=data.business.accent),
        rows_table(
            [(_booking_cell(b, data), e(money(b.amount, b.currency))) for b in data.bookings],
            total=("Total to pay", e(total)),
        ),
        paragraph(
            f"This link expires on {e(data.business.when(data.expires_at))}.", size=14, color=MUTED
        ),
    ]
    if _has_message(data):
        parts.append(paragraph(f"A message from {merchant}:", size=14, color=MUTED))
        parts.append(quote_block(multiline(data.message or "")))
    parts.append(
        paragraph(
            "If the button does not work, copy this address into your browser:<br>"
            f'<a href="{e(data.url)}" style="color:#1a56db;word-break:break-all;">'
            f"{e(data.url)}</a>",
            size=13,
            color=MUTED,
        )
    )
    return page(
        title=subject,
        business=data.business,
        preheader=f"Complete your payment of {total} to {one_line(data.merchant_name)}.",
        content="".join(parts),
        footer=f"You receive this email because {merchant} requested a payment from you. "
        "The payment page is hosted by bookpay; your card details go straight to Stripe.",
    )


def _booking_cell(b: BookingLine, data: PaymentLinkEmail) -> str:
    return (
        f"<strong>{e(one_line(b.title))}</strong><br>"
        f'<span style="color:{MUTED};font-size:13px;">{e(data.business.when(b.starts_at))}</span>'
    )


def _text(data: PaymentLinkEmail) -> str:
    total = money(data.amount, data.currency)
    merchant = one_line(data.merchant_name)
    lines = [
        f"Hi {one_line(data.customer_name)},",
        "",
        f"{merchant} asks you to pay {total} for the booking(s) below.",
        "",
        f"{BUTTON_LABEL}: {data.url}",
        "",
        "Summary",
        *(
            f"- {one_line(b.title)} ({data.business.when(b.starts_at)}): "
            f"{money(b.amount, b.currency)}"
            for b in data.bookings
        ),
        f"Total to pay: {total}",
        "",
        f"This link expires on {data.business.when(data.expires_at)}.",
    ]
    if _has_message(data):
        message = (data.message or "").strip().splitlines()
        lines += ["", f"A message from {merchant}:", *(f"  {line}" for line in message)]
    lines += business_text(data.business)
    lines += [
        "",
        "--",
        f"You receive this email because {merchant} requested a payment from you.",
        "The payment page is hosted by bookpay; your card details go straight to Stripe.",
    ]
    return "\n".join(lines) + "\n"
