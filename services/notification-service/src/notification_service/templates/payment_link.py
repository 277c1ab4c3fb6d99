"""The customer's payment-link email. The preview and the real send both come from
`payment_link_email`, so what staff preview is what the customer receives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from notification_service.domain import RenderedEmail
from notification_service.templates.layout import (
    MUTED,
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
    when,
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
        button(BUTTON_LABEL, data.url),
        rows_table(
            [(_booking_cell(b), e(money(b.amount, b.currency))) for b in data.bookings],
            total=("Total to pay", e(total)),
        ),
        paragraph(f"This link expires on {e(when(data.expires_at))}.", size=14, color=MUTED),
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
        heading=one_line(data.merchant_name),
        preheader=f"Complete your payment of {total} to {one_line(data.merchant_name)}.",
        content="".join(parts),
        footer=f"You receive this email because {merchant} requested a payment from you. "
        "The payment page is hosted by bookpay; your card details go straight to Stripe.",
    )


def _booking_cell(b: BookingLine) -> str:
    return (
        f"<strong>{e(one_line(b.title))}</strong><br>"
        f'<span style="color:{MUTED};font-size:13px;">{e(when(b.starts_at))}</span>'
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
            f"- {one_line(b.title)} ({when(b.starts_at)}): {money(b.amount, b.currency)}"
            for b in data.bookings
        ),
        f"Total to pay: {total}",
        "",
        f"This link expires on {when(data.expires_at)}.",
    ]
    if _has_message(data):
        message = (data.message or "").strip().splitlines()
        lines += ["", f"A message from {merchant}:", *(f"  {line}" for line in message)]
    lines += [
        "",
        "--",
        f"You receive this email because {merchant} requested a payment from you.",
        "The payment page is hosted by bookpay; your card details go straight to Stripe.",
    ]
    return "\n".join(lines) + "\n"
