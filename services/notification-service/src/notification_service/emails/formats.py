"""What the emails show of data, in Python: the business behind an email, amounts and times for
people, one-line values, and the checks a URL passes before any email points to it.

The templates (`notification_service/templates/`) lay the emails out; these functions are their
filters and values (`rendering`), and the adapters and settings use the checks too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from bookpay_shared.business import BusinessProfile, accent_colour
from bookpay_shared.local_time import DEFAULT_TIME_ZONE, format_local
from bookpay_shared.money import format_amount

__all__ = [
    "ACCENT",
    "PALETTE",
    "Business",
    "lines",
    "money",
    "on_payment_page",
    "one_line",
    "safe_url",
    "tel",
    "when",
]

ACCENT = "#1a56db"
"""bookpay's blue: the accent of a business without a brand colour white text can sit on."""

PALETTE = {
    "font": "Arial,Helvetica,sans-serif",
    "ink": "#1f2933",
    "muted": "#52606d",
    "rule": "#e4e7eb",
}
"""The emails' fonts and colours, as the templates name them."""


@dataclass(frozen=True)
class Business:
    """The business an email is sent for: its name and what it shows of itself."""

    name: str
    profile: BusinessProfile = field(default_factory=BusinessProfile)

    @property
    def accent(self) -> str:
        """Its brand colour when white text on it meets WCAG AA, else bookpay's blue."""
        return accent_colour(self.profile.brand_colour, ACCENT)

    def when(self, moment: datetime) -> str:
        return when(moment, self.profile.time_zone)


def one_line(value: str) -> str:
    """Collapse whitespace (newlines included): for subjects and table cells."""
    return " ".join(value.split())


def lines(text: str | None) -> list[str]:
    """A multi-line text (a staff message, a policy) as its lines, without the blank ones
    around it; no lines for none or only whitespace."""
    return (text or "").strip().splitlines()


def money(amount: int, currency: str) -> str:
    return format_amount(amount, currency)


def when(moment: datetime, time_zone: str = DEFAULT_TIME_ZONE) -> str:
    """A date and time for people, in the business's zone and saying which:
    'Sat 1 May 2027, 07:00 EDT'."""
    return format_local(moment, time_zone)


def tel(phone: str) -> str:
    """A phone number as a `tel:` link dials it: its digits and plus sign only."""
    return "".join(c for c in phone if c.isdigit() or c == "+")


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
