"""Staff lists paged with a cursor, as link lists are: an account's emails (notification-service)
and its API keys (booking-service). A page holds `limit` items, newest first; following
`next_cursor` visits every item once, and the last page's `next_cursor` is null. Filters hold on
every page; a cursor this API did not give out is 400 `invalid_cursor`."""

import base64
import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from bookpay_devstack.keys import every_key
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services

from .notifications_support import (
    EXPIRES,
    PADDLE_AND_CAVES,
    Notifications,
    customer_with_bookings,
    link_created,
    link_paid,
    link_url,
    publish,
)
from .support import Bookpay, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

Item = dict[str, Any]


async def pages(api: httpx.AsyncClient, url: str, items: str, **params: Any) -> list[list[Item]]:
    """Every page of the list at `url`, following `next_cursor` from the first."""
    found: list[list[Item]] = []
    cursor = None
    while True:
        response = await api.get(url, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        found.append(page[items])
        cursor = page["next_cursor"]
        if cursor is None:
            return found
        assert len(found) < 50, "the cursor does not move on"


def newest_first(items: list[Item], id_field: str) -> bool:
    keys = [(item["created_at"], uuid.UUID(item[id_field])) for item in items]
    return keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)


def flat(paged: list[list[Item]]) -> list[Item]:
    return [item for page in paged for item in page]


async def assert_refuses_made_up_cursors(api: httpx.AsyncClient, url: str, **params: Any) -> None:
    real = f"2026-12-02T14:03:04+00:00|{uuid.uuid4()}"
    for cursor in (
        "nope",
        "%%%",
        base64.urlsafe_b64encode(b"2026-12-02T14:03:04|not-an-id").decode(),
        base64.urlsafe_b64encode(real.encode()).decode()[:-4],  # cut short
    ):
        bad = await api.get(url, params={**params, "cursor": cursor})
        assert bad.status_code == 400, (cursor, bad.text)
        assert bad.json()["error"]["code"] == "invalid_cursor", bad.text
        assert "next_cursor" in bad.json()["error"]["message"]
    too_big = await api.get(url, params={**params, "limit": 201})
    assert too_big.status_code == 422, too_big.text


async def test_an_accounts_emails_are_paged_newest_first_with_filters_on_every_page(
    bookpay: Bookpay,
    notifications: Notifications,
    system: Services,
    stack: Stack,
    kafka: AIOKafkaProducer,
) -> None:
    account = await bookpay.new_account(admins=3)
    customer, _ = await customer_with_bookings(bookpay, account, PADDLE_AND_CAVES)
    await stack.mail.set_fault("permfail")
    try:
        refused = link_created(customer, 12500, url=link_url(system), expires_at=EXPIRES)
        await publish(kafka, refused)
        await notifications.wait_delivery(account, status="failed")
    finally:
        await stack.mail.set_fault("none")
    for _ in range(4):
        link = link_created(customer, 12500, url=link_url(system), expires_at=EXPIRES)
        await publish(kafka, link)
    # One payment, three administrators: three emails written together (one created_at), and
    # the customer's receipt.
    payment = link_paid(customer, 12500)
    await publish(kafka, payment)
    url = f"/v1/accounts/{account}/notifications"

    async def all_done() -> list[Item]:
        found = await notifications.deliveries(account, limit="200")
        done = [d for d in found if d["status"] in ("sent", "failed")]
        return found if len(done) == len(found) == 9 else []

    everything: list[Item] = await eventually(all_done, timeout=60)

    assert newest_first(everything, "notification_id")
    paged = await pages(notifications.api, url, "notifications", limit=3)
    assert [len(page) for page in paged] == [3, 3, 3]
    assert flat(paged) == everything
    by_charge = await pages(
        notifications.api, url, "notifications", charge_id=payment.charge_id, limit=1
    )
    assert [len(page) for page in by_charge] == [1, 1, 1, 1]
    assert sorted(d["kind"] for d in flat(by_charge)) == ["admin_link_paid"] * 3 + ["receipt"]
    admin_emails = [d for d in flat(by_charge) if d["kind"] == "admin_link_paid"]
    assert len({d["created_at"] for d in admin_emails}) == 1
    assert len({d["recipient"] for d in admin_emails}) == 3
    assert newest_first(admin_emails, "notification_id")
    sent = flat(await pages(notifications.api, url, "notifications", status="sent", limit=2))
    assert sent == [d for d in everything if d["status"] == "sent"] and len(sent) == 8
    failed = await pages(notifications.api, url, "notifications", status="failed", limit=2)
    assert [[d["charge_id"] for d in page] for page in failed] == [[str(refused.charge_id)]]
    await assert_refuses_made_up_cursors(notifications.api, url)
    await assert_refuses_made_up_cursors(notifications.api, url, status="sent", limit=2)


async def test_an_accounts_api_keys_are_paged_newest_first(bookpay: Bookpay) -> None:
    account = await bookpay.new_account(connected=False)
    url = f"/v1/accounts/{account}/api-keys"
    made = []
    for n in range(4):
        created = await bookpay.booking.post(url, json={"scopes": ["read"], "description": f"{n}"})
        assert created.status_code == 201, created.text
        made.append(created.json()["key_id"])
    revoked = await bookpay.booking.delete(f"{url}/{made[1]}")
    assert revoked.status_code == 200, revoked.text

    whole = (await bookpay.booking.get(url)).json()
    paged = await pages(bookpay.booking, url, "api_keys", limit=2)

    assert whole["next_cursor"] is None and len(whole["api_keys"]) == 5
    assert [len(page) for page in paged] == [2, 2, 1]
    keys = flat(paged)
    assert keys == whole["api_keys"] and newest_first(keys, "key_id")
    assert [k["key_id"] for k in keys[:4]] == made[::-1]  # the account's first key comes last
    assert keys[2]["revoked_at"] is not None and "key" not in keys[2]
    assert await every_key(bookpay.booking, url) == keys  # `bookpay-devstack keys list`
    await assert_refuses_made_up_cursors(bookpay.booking, url)
