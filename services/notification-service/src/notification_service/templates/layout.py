"""The pieces every email shares: escaping, formats for people, the HTML frame.

The HTML uses tables and inline styles only (no <style> block, no external CSS; the one
image is the business's logo, https only, when it has one), the subset that common mail
clients (Gmail, Outlook, Apple Mail) render alike. Every value that comes from data passes
through `e` before it reaches HTML.

Every email shows the business behind it (`Business`): its logo and name at the top, its
colour as the button's and the top rule's accent when white text on it meets WCAG AA, and at
the bottom how to reach it and its policy. Times are in its time zone (`when`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from bookpay_shared.business import BusinessProfile, accent_colour
from bookpay_shared.local_time import DEFAULT_TIME_ZONE, format_local
from bookpay_shared.money import format_amount

__all__ = [
    "Business",
    "business_text",
    "button",
    "e",
    "money",
    "multiline",
    "on_payment_page",
    "one_line",
    "page",
    "paragraph",
    "quote_block",
    "rows_table",
    "safe_url",
    "when",
]

FONT = "Arial,Helvetica,sans-serif"
INK = "#1f2933"
MUTED = "#52606d"
RULE = "#e4e7eb"
ACCENT = "#1a56db"


@dataclass(frozen=True)
class Business:
    """The business an email is sent for: its name and what it shows of itself."""

    name: str
    profile: BusinessProfile = field(default_factory=BusinessProfile)

    @property
    def accent(self) -> str:
        return accent_colour(self.profile.brand_colour, ACCENT)

    def when(self, moment: datetime) -> str:
        return when(moment, self.profile.time_zone)


def e(value: object) -> str:
    """Escape a value for HTML text and attribute values."""
    return html.escape(str(value), quote=True)


def one_line(value: str) -> str:
    """Collapse whitespace (newlines included): for subjects and table cells."""
    return " ".join(value.split())


def money(amount: int, currency: str) -> str:
    return format_amount(amount, currency)


def when(moment: datetime, time_zone: str = DEFAULT_TIME_ZONE) -> str:
    """A date and time for people, in the business's zone and saying which:
    'Sat 1 May 2027, 07:00 EDT'."""
    return format_local(moment, time_zone)


def safe_url(url: str) -> str:
    """The URL, if it is an absolute http(s) URL without whitespace; ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url


def on_payment_page(url: str, payment_page_base_url: str) -> str:
    """The URL, if it is a page under bookpay's own payment pages (`<base>/pay/...`, same
    scheme, host and port); ValueError otherwise: an email never points anywhere else."""
    base = urlsplit(payment_page_base_url.rstrip("/"))
    parts = urlsplit(safe_url(url))
    same_origin = (parts.scheme, parts.netloc.lower()) == (base.scheme, base.netloc.lower())
    if not same_origin or not parts.path.startswith(f"{base.path}/pay/"):
        origin = f"{base.scheme}://{base.netloc}{base.path}/pay/"
        raise ValueError(f"the link is not on bookpay's payment page ({origin})")
    return url


def paragraph(inner_html: str, *, size: int = 15, color: str = INK) -> str:
    return (
        f'<p style="margin:0 0 16px 0;font-family:{FONT};font-size:{size}px;'
        f'line-height:{size + 7}px;color:{color};">{inner_html}</p>'
    )


def multiline(text: str) -> str:
    """Escaped text whose line breaks show as line breaks."""
    return "<br>".join(e(line) for line in text.strip().splitlines())


def quote_block(inner_html: str) -> str:
    return (
        f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        f'style="margin:0 0 16px 0;"><tr><td style="padding:12px 16px;background-color:#f5f7fa;'
        f"border-left:4px solid #cbd2d9;font-family:{FONT};font-size:15px;line-height:22px;"
        f'color:{INK};">{inner_html}</td></tr></table>'
    )


def rows_table(rows: Iterable[tuple[str, str]], *, total: tuple[str, str] | None = None) -> str:
    """A two-column table (label, value), both already HTML; an optional bold total row.
    Long values (an email address, a Stripe id) wrap anywhere, so that a phone never scrolls
    sideways; the label keeps to its words."""
    cell = f"padding:8px 0;border-bottom:1px solid {RULE};font-family:{FONT};font-size:14px;"
    wrap = "overflow-wrap:anywhere;word-break:break-word;"
    body = "".join(
        f'<tr><td style="{cell}color:{INK};padding-right:12px;">{label}</td>'
        f'<td align="right" style="{cell}color:{INK};{wrap}">{value}</td></tr>'
        for label, value in rows
    )
    if total is not None:
        strong = f"padding:12px 0 0 0;font-family:{FONT};font-size:16px;font-weight:bold;"
        body += (
            f'<tr><td style="{strong}color:{INK};">{total[0]}</td>'
            f'<td align="right" style="{strong}color:{INK};white-space:nowrap;">{total[1]}</td></tr>'
        )
    return (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        f'style="margin:0 0 16px 0;border-collapse:collapse;">{body}</table>'
    )


def button(label: str, url: str, *, colour: str = ACCENT) -> str:
    """A button made of a table cell and a link, which Outlook renders too."""
    link = (
        f'<a href="{e(url)}" target="_blank" style="display:inline-block;padding:14px 32px;'
        f"font-family:{FONT};font-size:17px;font-weight:bold;line-height:20px;color:#ffffff;"
        f'text-decoration:none;border-radius:6px;">{e(label)}</a>'
    )
    return (
        '<table role="presentation" cellpadding="0" cellspacing="0" border="0" '
        'style="margin:8px 0 24px 0;"><tr>'
        f'<td align="center" bgcolor="{colour}" style="border-radius:6px;background-color:{colour};">'
        f"{link}</td></tr></table>"
    )


def _masthead(business: Business) -> str:
    """The business's logo (if any) and name."""
    logo = business.profile.logo_url
    image = (
        f'<img src="{e(logo)}" alt="{e(one_line(business.name))}" height="48" '
        'style="display:block;height:48px;width:auto;max-width:240px;border:0;margin:0 0 12px 0;">'
        if logo
        else ""
    )
    return f"{image}{e(one_line(business.name))}"


def contact_lines(business: Business) -> list[str]:
    """How to reach the business, as plain lines ('Phone: …', 'Email: …')."""
    p = business.profile
    lines = []
    if p.contact_phone:
        lines.append(f"Phone: {p.contact_phone}")
    if p.contact_email:
        lines.append(f"Email: {p.contact_email}")
    return lines


def _business_html(business: Business) -> str:
    p = business.profile
    style = f"margin:0 0 8px 0;font-family:{FONT};font-size:13px;line-height:19px;color:{MUTED};"
    parts = []
    contact = []
    if p.contact_phone:
        phone = "".join(c for c in p.contact_phone if c.isdigit() or c == "+")
        contact.append(
            f'Phone: <a href="tel:{e(phone)}" style="color:{INK};">{e(p.contact_phone)}</a>'
        )
    if p.contact_email:
        contact.append(
            f'Email: <a href="mailto:{e(p.contact_email)}" style="color:{INK};">'
            f"{e(p.contact_email)}</a>"
        )
    if contact:
        name = f"<strong>{e(one_line(business.name))}</strong>"
        parts.append(f'<p style="{style}">{name}<br>{"<br>".join(contact)}</p>')
    if p.policy_text and p.policy_text.strip():
        parts.append(
            f'<p style="{style}"><strong>Policy</strong><br>{multiline(p.policy_text)}</p>'
        )
    return "".join(parts)


def business_text(business: Business) -> list[str]:
    """The business's contact details and policy for the plain-text part (maybe no lines)."""
    p = business.profile
    lines = []
    if contact := contact_lines(business):
        lines += ["", one_line(business.name), *contact]
    if p.policy_text and p.policy_text.strip():
        lines += ["", "Policy:", *(f"  {line}" for line in p.policy_text.strip().splitlines())]
    return lines


def page(
    *,
    title: str,
    business: Business,
    preheader: str,
    content: str,
    footer: str,
) -> str:
    """The whole HTML document: a centred 600px card on a grey background, the business at its
    top (in its accent colour) and its contact details and policy above the footer."""
    details = _business_html(business)
    details_row = (
        f'<tr><td style="padding:16px 32px 8px 32px;border-top:1px solid {RULE};">{details}</td></tr>'
        if details
        else ""
    )
    return (
        f'<!DOCTYPE html><html lang="{e(business.profile.language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title></head>"
        '<body style="margin:0;padding:0;background-color:#f4f5f7;">'
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all;">'
        f"{e(preheader)}</div>"
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="background-color:#f4f5f7;"><tr><td align="center" style="padding:24px 12px;">'
        '<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" '
        'style="width:100%;max-width:600px;background-color:#ffffff;border-radius:8px;'
        f'border-top:4px solid {business.accent};">'
        f'<tr><td style="padding:24px 32px;border-bottom:1px solid {RULE};font-family:{FONT};'
        f'font-size:20px;font-weight:bold;color:{INK};">{_masthead(business)}</td></tr>'
        f'<tr><td style="padding:24px 32px 8px 32px;">{content}</td></tr>'
        f"{details_row}"
        f'<tr><td style="padding:16px 32px;border-top:1px solid {RULE};font-family:{FONT};'
        f'font-size:12px;line-height:18px;color:#7b8794;">{footer}</td></tr>'
        "</table></td></tr></table></body></html>\n"
    )
