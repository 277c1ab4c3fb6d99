"""An account's business details are checked where they enter, and its colour is used as an
accent only when white text on it stays readable."""

from __future__ import annotations

import pytest
from bookpay_shared.business import (
    BrandColour,
    HttpsUrl,
    Locale,
    PhoneNumber,
    PolicyText,
    TimeZoneName,
    accent_colour,
    contrast_ratio,
)
from pydantic import BaseModel, ValidationError

FALLBACK = "#1d4ed8"


class Details(BaseModel):
    time_zone: TimeZoneName = "UTC"
    locale: Locale = "en-US"
    logo_url: HttpsUrl | None = None
    brand_colour: BrandColour | None = None
    contact_phone: PhoneNumber | None = None
    policy_text: PolicyText | None = None


def refusal(**fields: object) -> str:
    with pytest.raises(ValidationError) as caught:
        Details.model_validate(fields)
    (error,) = caught.value.errors()
    return f"{error['loc'][0]}: {error['msg']}"


def test_good_details_are_kept_and_the_colour_lower_cased() -> None:
    details = Details.model_validate(
        {
            "time_zone": "America/Halifax",
            "locale": "fr-CA",
            "logo_url": "https://cdn.example/logo.png",
            "brand_colour": "#0B5D7A",
            "contact_phone": "+1 (902) 555-0142",
            "policy_text": "Full refund up to 48 hours before.\nNo refund after.",
        }
    )
    assert details.brand_colour == "#0b5d7a"
    assert details.time_zone == "America/Halifax"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "EDT", "", "/etc/localtime"])
def test_a_zone_that_is_not_iana_is_refused(zone: str) -> None:
    assert refusal(time_zone=zone).startswith("time_zone: Value error")


@pytest.mark.parametrize("colour", ["red", "#fff", "#12345g", "0b5d7a", "#0b5d7a "])
def test_a_colour_that_is_not_rrggbb_is_refused(colour: str) -> None:
    assert "#rrggbb" in refusal(brand_colour=colour)


@pytest.mark.parametrize(
    "url",
    [
        "http://cdn.example/logo.png",
        "javascript:alert(1)",
        "https://",
        'https://cdn.example/a"onerror="x.png',
        "https://user:pw@cdn.example/logo.png",
        "//cdn.example/logo.png",
    ],
)
def test_a_logo_that_is_not_a_plain_https_url_is_refused(url: str) -> None:
    assert refusal(logo_url=url).startswith("logo_url: Value error")


@pytest.mark.parametrize("locale", ["english", "EN-us", "en_US", ""])
def test_a_locale_that_is_not_a_language_tag_is_refused(locale: str) -> None:
    assert "language tag" in refusal(locale=locale)


@pytest.mark.parametrize("phone", ["call me", "+1 902 555 0142\x00", "555-<b>"])
def test_a_phone_with_anything_but_digits_and_separators_is_refused(phone: str) -> None:
    assert refusal(contact_phone=phone).startswith("contact_phone: Value error")


def test_a_policy_may_break_lines_but_holds_no_other_control_character() -> None:
    assert "U+0007" in refusal(policy_text="Refunds\x07")
    assert "at most 2000" in refusal(policy_text="x" * 2001)


def test_contrast_of_black_on_white_is_the_maximum() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)


def test_a_dark_brand_colour_carries_white_text() -> None:
    assert accent_colour("#0b5d7a", FALLBACK) == "#0b5d7a"


def test_a_light_brand_colour_falls_back_to_the_default_accent() -> None:
    assert accent_colour("#ffd700", FALLBACK) == FALLBACK
    assert accent_colour(None, FALLBACK) == FALLBACK
