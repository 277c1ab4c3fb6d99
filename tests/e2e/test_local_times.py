"""Local times and the business behind them, end to end: an account in New York with its
contact details asks for a payment link; the customer's email (from the SMTP sink) and the
payment page (its HTML) show each booking at the business's wall-clock time with the zone in
force then, and how to reach the business; replies to the email go to the business."""

from __future__ import annotations

import uuid
from email.utils import getaddresses
from typing import Any

import pytest
from bookpay_devstack.events import EventLog
from bookpay_devstack.stack import Stack

from .links import Links
from .notifications_support import Notifications, body, header, wait_emails
from .support import Bookpay, Customer

pytestmark = pytest.mark.asyncio(loop_scope="session")

BUSINESS: dict[str, Any] = {
    "name": "Harbour Kayak Tours",
    "time_zone": "America/New_York",
    "sender_name": "Harbour Kayak",
    "reply_to": "bookings@harbour-kayak.example.com",
    "contact_phone": "+1 212 555 0142",
    "contact_email": "desk@harbour-kayak.example.com",
    "brand_colour": "#0b5d7a",
    "policy_text": "Full refund up to 48 hours before your tour.\nNo refund after that.",
}
SUMMER = ("Sunrise paddle", "2027-07-10T11:00:00Z", "Sat 10 Jul 2027, 07:00 EDT")
WINTER = ("Winter seal watch", "2027-12-04T12:00:00Z", "Sat 4 Dec 2027, 07:00 EST")


async def new_york_account(bookpay: Bookpay) -> str:
    """The account, created with its zone and details in one version (what every service
    learns first)."""
    admins = [{"name": "Maya", "email": f"maya-{uuid.uuid4().hex[:6]}@example.com"}]
    response = await bookpay.booking.post("/v1/accounts", json={**BUSINESS, "admins": admins})
    assert response.status_code == 201, response.text
    account = response.json()
    assert {k: account[k] for k in BUSINESS} == BUSINESS
    account_id: str = account["account_id"]
    bookpay.keys.keys[account_id] = await bookpay.new_key(account_id)
    await bookpay.connect(account_id, await bookpay.new_stripe_account())
    return account_id


async def customer_booked(bookpay: Bookpay, account_id: str) -> tuple[Customer, str]:
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    response = await bookpay.booking.post(
        f"/v1/accounts/{account_id}/customers", json={"name": "Ada Lovelace", "email": email}
    )
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["customer_id"]
    booking_ids = []
    for title, starts_at, _ in (SUMMER, WINTER):
        created = await bookpay.booking.post(
            f"/v1/accounts/{account_id}/bookings",
            json={
                "customer_id": customer_id,
                "title": title,
                "starts_at": starts_at,
                "amount": 4000,
                "currency": "usd",
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["starts_at"].startswith(starts_at[:19])  # kept as the UTC instant
        booking_ids.append(created.json()["booking_id"])
    customer = Customer(account_id, customer_id, booking_ids)
    await bookpay.wait_known_to_charge_service(customer)
    return customer, email


async def test_the_link_email_and_the_page_show_new_york_time_and_the_business(
    bookpay: Bookpay,
    links: Links,
    notifications: Notifications,
    event_log: EventLog,
    stack: Stack,
) -> None:
    account_id = await new_york_account(bookpay)
    customer, address = await customer_booked(bookpay, account_id)
    preview = await notifications.preview_when_known(
        account_id,
        {
            "customer_id": customer.customer_id,
            "booking_ids": customer.booking_ids,
            "amount": 8000,
            "currency": "usd",
        },
    )

    link = await links.new_link(event_log, customer, 8000)

    [received] = await wait_emails(stack, address)
    html, text = body(received["html"]), body(received["text"])
    for _, _, local in (SUMMER, WINTER):
        assert local in html and local in text
    for shown in ("desk@harbour-kayak.example.com", "+1 212 555 0142", "Full refund up to 48"):
        assert shown in html and shown in text
    assert "UTC" not in text  # not the instant as stored (11:00 UTC)
    assert header(received, "Reply-To") == "bookings@harbour-kayak.example.com"
    [(name, sender)] = getaddresses([header(received, "From") or ""])
    assert name == "Harbour Kayak via bookpay"
    assert sender == "payments@bookpay.local"
    assert (preview["from_name"], preview["reply_to"]) == (name, header(received, "Reply-To"))
    assert SUMMER[2] in preview["text"]
    assert link.url in text

    async with links.page_client() as client:
        page = await client.get(link.url)
    assert page.status_code == 200
    for _, starts_at, local in (SUMMER, WINTER):
        assert local in page.text
        assert f'datetime="{starts_at[:19]}+00:00"' in page.text
    assert '<a href="tel:+12125550142">+1 212 555 0142</a>' in page.text
    assert "mailto:desk@harbour-kayak.example.com" in page.text
    assert "Full refund up to 48 hours before your tour.<br>No refund after that." in page.text
    assert '<link rel="stylesheet" href="/assets/accent/0b5d7a.css">' in page.text


async def test_bad_details_are_refused_with_the_field_named_and_a_patch_changes_only_its_own(
    bookpay: Bookpay,
) -> None:
    for field, value in (
        ("time_zone", "Atlantis/Lost"),
        ("brand_colour", "teal"),
        ("logo_url", "http://harbour-kayak.example.com/logo.png"),
        ("sender_name", "Harbour\x00Kayak"),
    ):
        refused = await bookpay.booking.post(
            "/v1/accounts", json={"name": "Harbour Kayak Tours", field: value}
        )
        assert refused.status_code == 422, refused.text
        assert field in refused.json()["error"]["message"]

    account_id = await new_york_account(bookpay)
    patched = await bookpay.booking.patch(
        f"/v1/accounts/{account_id}", json={"time_zone": "America/Halifax", "policy_text": None}
    )
    assert patched.status_code == 200, patched.text
    got = (await bookpay.booking.get(f"/v1/accounts/{account_id}")).json()
    assert (got["time_zone"], got["policy_text"]) == ("America/Halifax", None)
    assert got["contact_phone"] == BUSINESS["contact_phone"]
