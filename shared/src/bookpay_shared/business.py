"""The business behind an account, as its customers see it: time zone and locale, the name its
emails come from, where replies go, how to reach it, its logo, colour and policy.

booking-service accepts these on the account (HTTP), carries them in AccountStateChanged and
every service that shows the business to people reads them from its projection
(`projections.KnownAccount.business`). The types here check each value where it enters, so
that what reaches a page or an email header is already safe to show:

- `TimeZoneName`: an IANA zone known to the zone database;
- `Locale`: a BCP 47 language tag of the common shape (`en`, `en-US`, `fr-CA`, `zh-Hant-TW`);
- `HttpsUrl`: an absolute https URL (a logo loaded over http would be mixed content on the
  payment page, and could be swapped on the way);
- `BrandColour`: `#rrggbb`, lower-cased;
- `PhoneNumber`: digits and the usual separators, nothing a page or email could misread.

`accent_colour` decides whether the brand colour can carry white text (WCAG AA, 4.5:1); when it
cannot, pages and emails keep bookpay's own accent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from bookpay_shared.local_time import DEFAULT_TIME_ZONE, is_time_zone
from bookpay_shared.text import Line, Paragraphs

__all__ = [
    "DEFAULT_LOCALE",
    "DEFAULT_TIME_ZONE",
    "BrandColour",
    "BusinessProfile",
    "HttpsUrl",
    "Locale",
    "PhoneNumber",
    "PolicyText",
    "SenderName",
    "TimeZoneName",
    "accent_colour",
    "contrast_ratio",
]

DEFAULT_LOCALE = "en-US"
POLICY_MAX_LENGTH = 2000

_LOCALE = re.compile(r"[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?")
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_PHONE = re.compile(r"\+?[0-9][0-9 ().\-]{3,30}[0-9)]")
_URL_UNSAFE = re.compile(r"[\s\"'<>\\`]")


def time_zone_name(value: str) -> str:
    if not is_time_zone(value):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. 'America/New_York')")
    return value


def locale_tag(value: str) -> str:
    if not _LOCALE.fullmatch(value):
        raise ValueError(f"{value!r} is not a language tag such as 'en-US' or 'fr-CA'")
    return value


def https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("must be an absolute https:// URL")
    if _URL_UNSAFE.search(value) or parts.username or parts.password:
        raise ValueError("must be a plain https:// URL (no spaces, quotes or credentials)")
    return value


def brand_colour(value: str) -> str:
    if not _COLOUR.fullmatch(value):
        raise ValueError(f"{value!r} is not a colour of the form #rrggbb")
    return value.lower()


def phone_number(value: str) -> str:
    if not _PHONE.fullmatch(value):
        raise ValueError("must be a phone number: digits, spaces, '+', '-', '.', '(' and ')'")
    return value


TimeZoneName = Annotated[str, AfterValidator(time_zone_name)]
Locale = Annotated[str, AfterValidator(locale_tag)]
HttpsUrl = Annotated[str, Field(max_length=2000), AfterValidator(https_url)]
BrandColour = Annotated[str, AfterValidator(brand_colour)]
PhoneNumber = Annotated[Line, Field(max_length=40), AfterValidator(phone_number)]
SenderName = Annotated[Line, Field(min_length=1, max_length=100)]
PolicyText = Annotated[Paragraphs, Field(min_length=1, max_length=POLICY_MAX_LENGTH)]


@dataclass(frozen=True)
class BusinessProfile:
    """What an account shows of itself; every field but the zone and locale is optional."""

    time_zone: str = DEFAULT_TIME_ZONE
    locale: str = DEFAULT_LOCALE
    sender_name: str | None = None
    """The display name its emails come from (the account's name when unset)."""
    reply_to: str | None = None
    """Where a customer's reply to an email goes."""
    contact_phone: str | None = None
    contact_email: str | None = None
    logo_url: str | None = None
    brand_colour: str | None = None
    policy_text: str | None = None
    """The refusal, refund and cancellation policy, as the business wrote it (may break lines)."""

    @property
    def language(self) -> str:
        """The locale's language (`en` of `en-US`): for the `lang` of pages and emails."""
        return self.locale.partition("-")[0]


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _linear(red) + 0.7152 * _linear(green) + 0.0722 * _linear(blue)


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two `#rrggbb` colours, from 1 to 21."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


AA_NORMAL_TEXT = 4.5


def accent_colour(colour: str | None, fallback: str) -> str:
    """`colour` when white text on it meets WCAG AA for normal text (4.5:1), else `fallback`."""
    if colour is None or contrast_ratio(colour, "#ffffff") < AA_NORMAL_TEXT:
        return fallback
    return colour
