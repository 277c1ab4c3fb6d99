"""The account projection keeps the business's zone and details from AccountStateChanged; an
event from before they existed reads as UTC with no details, and a newer version replaces
them (a detail cleared included)."""

from __future__ import annotations

import uuid

import pytest
from bookpay_shared import projections
from bookpay_shared.business import BusinessProfile
from bookpay_shared.db import Pool
from bookpay_shared.events import AccountStateChanged

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ACCOUNT = uuid.uuid4()


def state(version: int, **business: object) -> AccountStateChanged:
    return AccountStateChanged.model_validate(
        {
            "correlation_id": str(ACCOUNT),
            "account_id": str(ACCOUNT),
            "version": version,
            "name": "Harbour Kayak Tours",
            "admins": [],
            "notify_admins_on_link_payment": True,
            **business,
        }
    )


async def business_after(pool: Pool, *events: AccountStateChanged) -> BusinessProfile:
    async with pool.acquire() as conn:
        for event in events:
            await projections.apply_account(conn, event)
        account = await projections.get_account(conn, ACCOUNT)
    assert account is not None
    return account.business


async def test_an_account_state_from_before_the_details_reads_as_utc(pool: Pool) -> None:
    assert await business_after(pool, state(1)) == BusinessProfile()


async def test_the_details_are_kept_and_a_newer_version_replaces_them(pool: Pool) -> None:
    first = state(
        1,
        time_zone="America/Halifax",
        locale="en-CA",
        sender_name="Harbour Kayak",
        reply_to="bookings@harbour-kayak.example.com",
        contact_phone="+1 902 555 0142",
        contact_email="desk@harbour-kayak.example.com",
        logo_url="https://harbour-kayak.example.com/logo.png",
        brand_colour="#0b5d7a",
        policy_text="Full refund up to 48 hours before.\nNo refund after.",
    )
    kept = await business_after(pool, first)
    assert kept.time_zone == "America/Halifax"
    assert kept.policy_text == "Full refund up to 48 hours before.\nNo refund after."
    assert kept.reply_to == "bookings@harbour-kayak.example.com"

    later = state(2, time_zone="Europe/Dublin", contact_phone="+353 1 555 0142")
    changed = await business_after(pool, later, first)  # the older one, redelivered, is ignored
    assert changed == BusinessProfile(time_zone="Europe/Dublin", contact_phone="+353 1 555 0142")
