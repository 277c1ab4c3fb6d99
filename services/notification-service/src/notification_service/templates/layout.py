"""The pieces every email shares: escaping, formats for people, the HTML frame.

The HTML uses tables and inline styles only (no <style> block, no external CSS or images), the
subset that common mail clients (Gmail, Outlook, Apple Mail) render alike. Every value that
comes from data passes through `e` before it reaches HTML.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from bookpay_shared.money import format_amount

__all__ = [
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

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def e(value: object) -> str:
    """Escape a value for HTML text and attribute values."""
    return html.escape(str(value), quote=True)


def one_line(value: str) -> str:
    """Collapse whitespace (newlines included): for subjects and table cells."""
    return " ".join(value.split())


def money(amount: int, currency: str) -> str:
    return format_amount(amount, currency)


def when(moment: datetime) -> str:
    """A date and time for people, in UTC and saying so: 'Sat 1 May 2027, 09:00 UTC'."""
    t = moment.astimezone(UTC)
    return f"{_DAYS[t.weekday()]} {t.day} {_MONTHS[t.month - 1]} {t.year}, {t:%H:%M} UTC"


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
    """A two-column table (label, value), both already HTML; an optional bold total row."""
    cell = f"padding:8px 0;border-bottom:1px solid {RULE};font-family:{FONT};font-size:14px;"
    body = "".join(
        f'<tr><td style="{cell}color:{INK};">{label}</td>'
        f'<td align="right" style="{cell}color:{INK};white-space:nowrap;">{value}</td></tr>'
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


def button(label: str, url: str) -> str:
    """A button made of a table cell and a link, which Outlook renders too."""
    link = (
        f'<a href="{e(url)}" target="_blank" style="display:inline-block;padding:14px 32px;'
        f"font-family:{FONT};font-size:17px;font-weight:bold;line-height:20px;color:#ffffff;"
        f'text-decoration:none;border-radius:6px;">{e(label)}</a>'
    )
    return (
        '<table role="presentation" cellpadding="0" cellspacing="0" border="0" '
        'style="margin:8px 0 24px 0;"><tr>'
        f'<td align="center" bgcolor="{ACCENT}" style="border-radius:6px;background-color:{ACCENT};">'
        f"{link}</td></tr></table>"
    )


def page(*, title: str, heading: str, preheader: str, content: str, footer: str) -> str:
    """The whole HTML document: a centred 600px card on a grey background."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title></head>"
        '<body style="margin:0;padding:0;background-color:#f4f5f7;">'
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all;">'
        f"{e(preheader)}</div>"
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="background-color:#f4f5f7;"><tr><td align="center" style="padding:24px 12px;">'
        '<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" '
        'style="width:100%;max-width:600px;background-color:#ffffff;border-radius:8px;">'
        f'<tr><td style="padding:24px 32px;border-bottom:1px solid {RULE};font-family:{FONT};'
        f'font-size:20px;font-weight:bold;color:{INK};">{e(heading)}</td></tr>'
        f'<tr><td style="padding:24px 32px 8px 32px;">{content}</td></tr>'
        f'<tr><td style="padding:16px 32px;border-top:1px solid {RULE};font-family:{FONT};'
        f'font-size:12px;line-height:18px;color:#7b8794;">{footer}</td></tr>'
        "</table></td></tr></table></body></html>\n"
    )
