"""What an account accepts about its business: an IANA time zone, a language tag, contact
details of the right shape; anything else is refused with the field named."""

from __future__ import annotations

from typing import Any

import pytest
from booking_service.entrypoints.accounts_api import AccountIn, AccountPatch
from bookpay_shared.business import BusinessProfile
from pydantic import ValidationError


def account(**fields: object) -> AccountIn:
    return AccountIn.model_validate({"name": "Harbour Kayak Tours", **fields})


def refused(model: type[AccountIn] | type[AccountPatch], **fields: Any) -> tuple[str, str]:
    body = {"name": "Harbour Kayak Tours", **fields} if model is AccountIn else fields
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    (error,) = caught.value.errors()
    return str(error["loc"][0]), error["msg"]


def test_an_account_without_details_is_in_utc_and_en_us_with_nothing_else_set() -> None:
    assert account().business() == BusinessProfile()


def test_every_detail_given_is_kept() -> None:
    business = account(
        time_zone="America/Halifax",
        locale="en-CA",
        sender_name="Harbour Kayak",
        reply_to="hello@harbourkayak.example",
        contact_phone="+1 902 555 0142",
        contact_email="desk@harbourkayak.example",
        logo_url="https://harbourkayak.example/logo.png",
        brand_colour="#0B5D7A",
        policy_text="Full refund up to 48 hours before.\nNo refund after.",
    ).business()
    assert business.time_zone == "America/Halifax"
    assert business.reply_to == "hello@harbourkayak.example"
    assert business.brand_colour == "#0b5d7a"
    assert business.policy_text == "Full refund up to 48 hours before.\nNo refund after."


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("time_zone", "Atlantis/Lost", "IANA time zone"),
        ("time_zone", "EDT", "IANA time zone"),
        ("locale", "english", "language tag"),
        ("brand_colour", "blue", "#rrggbb"),
        ("brand_colour", "#abc", "#rrggbb"),
        ("logo_url", "http://harbourkayak.example/logo.png", "https://"),
        ("logo_url", "data:image/png;base64,AAAA", "https://"),
        ("reply_to", "not an address", "email"),
        ("contact_phone", "ring the bell", "phone number"),
        ("sender_name", "Harbour\nKayak", "U+000A"),
        ("sender_name", "Harbour\x00Kayak", "U+0000"),
        ("policy_text", "Refunds\x1b[31m", "U+001B"),
        ("policy_text", "x" * 2001, "at most 2000"),
    ],
)
def test_a_bad_detail_is_refused_with_its_field_named(field: str, value: str, says: str) -> None:
    for model in (AccountIn, AccountPatch):
        where, message = refused(model, **{field: value})
        assert where == field
        assert says in message


def test_a_patch_changes_only_what_it_sends_and_null_clears_a_detail() -> None:
    patch = AccountPatch.model_validate({"time_zone": "Europe/Paris", "logo_url": None})
    assert patch.business_changes() == {"time_zone": "Europe/Paris", "logo_url": None}


def test_a_patch_cannot_set_the_time_zone_to_null() -> None:
    where, message = refused(AccountPatch, time_zone=None)
    assert where == "time_zone"
    assert "cannot be null" in message
