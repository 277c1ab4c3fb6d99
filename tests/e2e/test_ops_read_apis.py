"""What staff and operators read of a running bookpay: failed charges each with why it failed,
whatever way it failed (a declined card, a bank that wants the customer, no card, a payment
link that expired or was cancelled), and by reason; sent links with the customer's name and
email, and one charge's link; a customer's emails. bookpay-ops' client of the staff APIs reads
the same answers with the platform key."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services
from bookpay_ops.charges import read_report
from bookpay_ops.services import StaffApi
from pydantic import SecretStr

from .links import Links
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
from .support import DECLINES_AFTER_ATTACH, NEEDS_AUTHENTICATION, Bookpay, Customer, eventually
from .test_charge_lists import LARGE, ask_card_on_file_charge, ask_link_charge
from .test_paged_lists import Item, assert_refuses_made_up_cursors, flat, pages

pytestmark = pytest.mark.asyncio(loop_scope="session")


def staff_api(system: Services, stack: Stack) -> StaffApi:
    services = ("booking-service", "charge-service", "link-service", "notification-service")
    return StaffApi(
        {s: system.url(s) for s in services}, SecretStr(stack.config.platform_key), timeout=15
    )


async def ask_card_on_file_without_fallback(bookpay: Bookpay, customer: Customer) -> str:
    response = await bookpay.charge.post(
        f"/v1/accounts/{customer.account_id}/charges",
        json={
            "customer_id": customer.customer_id,
            "booking_ids": customer.booking_ids,
            "amount": 2000,
            "currency": "usd",
            "method": "card_on_file",
            "fallback_to_link": False,
        },
    )
    assert response.status_code == 202, response.text
    charge_id: str = response.json()["charge_id"]
    return charge_id


async def link_of(links: Links, account: str, charge_id: str) -> Item:
    """The charge's link, once link-service has made it and knows its customer."""

    async def made() -> Item | None:
        url = f"/v1/accounts/{account}/links"
        response = await links.api.get(url, params={"charge_id": charge_id})
        assert response.status_code == 200, response.text
        found: list[Item] = response.json()["links"]
        return found[0] if found and found[0]["customer_name"] else None

    link: Item = await eventually(made, timeout=30)
    return link


async def email_of(bookpay: Bookpay, customer: Customer) -> str:
    url = f"/v1/accounts/{customer.account_id}/customers/{customer.customer_id}"
    response = await bookpay.booking.get(url)
    assert response.status_code == 200, response.text
    email: str = response.json()["email"]
    return email


async def test_failed_charges_are_listed_with_why_each_failed_and_links_with_their_customer(
    bookpay: Bookpay, links: Links, system: Services, stack: Stack
) -> None:
    account = await bookpay.new_account()
    declined, needs_authentication, without_card, linked = [
        await bookpay.new_customer(account, [LARGE]) for _ in range(4)
    ]
    await bookpay.save_card(declined, DECLINES_AFTER_ATTACH)
    await bookpay.save_card(needs_authentication, NEEDS_AUTHENTICATION)

    card_declined = await ask_card_on_file_charge(bookpay, declined, 3000)
    must_authenticate = await ask_card_on_file_without_fallback(bookpay, needs_authentication)
    went_on_as_link = await ask_card_on_file_charge(bookpay, needs_authentication, 2500)
    no_card = await ask_card_on_file_charge(bookpay, without_card, 1000)
    cancelled = await ask_link_charge(bookpay, linked, 1100)
    expired = await ask_link_charge(bookpay, linked, 1200)
    cancelled_link = await link_of(links, account, cancelled)
    expired_link = await link_of(links, account, expired)
    fallback_link = await link_of(links, account, went_on_as_link)
    answer = await links.api.post(
        f"/v1/accounts/{account}/links/{cancelled_link['link_id']}/cancel"
    )
    assert answer.status_code == 200, answer.text
    await links.expire_now(expired_link["link_id"])
    for customer, charge_id in (
        (declined, card_declined),
        (needs_authentication, must_authenticate),
        (without_card, no_card),
        (linked, cancelled),
        (linked, expired),
    ):
        done = await bookpay.wait_charge_done(customer, charge_id, timeout=60)
        assert done["status"] == "failed", done
    url = f"/v1/accounts/{account}/charges"

    failed = flat(await pages(bookpay.charge, url, "charges", status="failed", limit=2))

    reasons = {c["charge_id"]: c["failure"]["reason"] for c in failed}
    assert reasons == {
        expired: "link_expired",
        cancelled: "link_cancelled",
        no_card: "no_card_on_file",
        must_authenticate: "authentication_required",
        card_declined: "card_declined",
    }
    assert [c["charge_id"] for c in failed] == [
        expired,
        cancelled,
        no_card,
        must_authenticate,
        card_declined,
    ]
    for charge in failed:
        assert charge["failure"]["message"], charge
    link_closed = flat(
        await pages(
            bookpay.charge,
            url,
            "charges",
            failure_reason=["link_expired", "link_cancelled"],
            limit=1,
        )
    )
    assert [c["charge_id"] for c in link_closed] == [expired, cancelled]
    # A charge that went on as a payment link after its bank asked for the customer is not
    # failed: it is not listed by its reason.
    by_authentication = flat(
        await pages(bookpay.charge, url, "charges", failure_reason="authentication_required")
    )
    assert [c["charge_id"] for c in by_authentication] == [must_authenticate]
    assert not flat(
        await pages(
            bookpay.charge, url, "charges", status="succeeded", failure_reason="card_declined"
        )
    )
    customer_url = f"/v1/accounts/{account}/customers/{linked.customer_id}/charges"
    assert [
        c["charge_id"]
        for c in flat(
            await pages(bookpay.charge, customer_url, "charges", failure_reason="link_expired")
        )
    ] == [expired]
    for bad in ({"failure_reason": "bad_luck"}, {"failure_reason": ""}):
        refused = await bookpay.charge.get(url, params=bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert "failure_reason" in refused.json()["error"]["message"], refused.text

    # Every link shows its customer's name and email; one charge's link is found by charge_id.
    links_url = f"/v1/accounts/{account}/links"
    every_link = flat(await pages(links.api, links_url, "links", limit=2))
    assert {link["charge_id"] for link in every_link} == {cancelled, expired, went_on_as_link}
    for link in every_link:
        assert link["customer_name"] == "Ada Lovelace", link
    emails = {link["customer_id"]: link["customer_email"] for link in every_link}
    assert emails == {
        linked.customer_id: await email_of(bookpay, linked),
        needs_authentication.customer_id: await email_of(bookpay, needs_authentication),
    }
    assert (fallback_link["origin"], fallback_link["charge_id"]) == (
        "authentication_fallback",
        went_on_as_link,
    )
    linked_url = f"/v1/accounts/{account}/customers/{linked.customer_id}/links"
    linked_links = flat(await pages(links.api, linked_url, "links", limit=1))
    assert [link["link_id"] for link in linked_links] == [
        expired_link["link_id"],
        cancelled_link["link_id"],
    ]
    assert {link["customer_email"] for link in linked_links} == {emails[linked.customer_id]}
    detail = await links.link(account, cancelled_link["link_id"])
    assert (detail["state"], detail["customer_name"]) == ("cancelled", "Ada Lovelace")
    none = await links.api.get(links_url, params={"charge_id": str(uuid.uuid4())})
    assert none.json() == {"links": [], "next_cursor": None}
    for bad in ({"charge_id": "ada"}, {"charge_id": ""}):
        refused = await links.api.get(links_url, params=bad)
        assert refused.status_code == 422, (bad, refused.text)

    # bookpay-ops reads the same with the platform key.
    async with staff_api(system, stack) as api:
        closed = [
            c.charge_id
            async for c in api.charges(
                uuid.UUID(account), failure_reasons=["link_expired", "link_cancelled"]
            )
        ]
        one = [link async for link in api.links(uuid.UUID(account), charge_id=uuid.UUID(expired))]
        charge = await api.charge(uuid.UUID(account), uuid.UUID(card_declined))
        report = await read_report(api, uuid.UUID(account), since=timedelta(minutes=30))
    assert closed == [uuid.UUID(expired), uuid.UUID(cancelled)]
    assert [(str(link.link_id), link.customer_name) for link in one] == [
        (expired_link["link_id"], "Ada Lovelace")
    ]
    assert charge.failure is not None and charge.failure.reason == "card_declined"
    assert report.total == 6
    assert report.by_status == {"failed": 5, "awaiting_customer": 1}
    assert report.by_method == {"payment_link": 3, "card_on_file": 3}
    assert [str(f.charge_id) for f in report.newest_failed] == [
        expired,
        cancelled,
        no_card,
        must_authenticate,
        card_declined,
    ]


async def test_a_customers_emails_are_listed_paged_newest_first(
    bookpay: Bookpay,
    notifications: Notifications,
    system: Services,
    stack: Stack,
    kafka: AIOKafkaProducer,
) -> None:
    account = await bookpay.new_account(admins=2)
    ada, ada_email = await customer_with_bookings(bookpay, account, PADDLE_AND_CAVES)
    grace, grace_email = await customer_with_bookings(bookpay, account, PADDLE_AND_CAVES)
    for customer in (ada, grace, ada):
        await publish(
            kafka, link_created(customer, 12500, url=link_url(system), expires_at=EXPIRES)
        )
    payment = link_paid(ada, 12500)
    await publish(kafka, payment)

    async def all_written() -> list[Item]:
        found = await notifications.deliveries(account, limit="200")
        return found if len(found) == 6 else []  # 3 link emails, 2 admins', 1 receipt

    everything: list[Item] = await eventually(all_written, timeout=60)

    ada_url = f"/v1/accounts/{account}/customers/{ada.customer_id}/notifications"
    adas = flat(await pages(notifications.api, ada_url, "notifications", limit=2))
    assert adas == [d for d in everything if d["customer_id"] == ada.customer_id]
    assert sorted(d["kind"] for d in adas) == sorted(
        ["payment_link"] * 2 + ["admin_link_paid"] * 2 + ["receipt"]
    )
    assert {d["recipient"] for d in adas if d["kind"] == "receipt"} == {ada_email}
    assert {d["recipient"] for d in adas if d["kind"] == "payment_link"} == {ada_email}
    assert {d["charge_id"] for d in adas if d["kind"] == "admin_link_paid"} == {
        str(payment.charge_id)
    }
    graces = flat(
        await pages(
            notifications.api,
            f"/v1/accounts/{account}/notifications",
            "notifications",
            customer_id=grace.customer_id,
            limit=1,
        )
    )
    assert [(d["customer_id"], d["recipient"]) for d in graces] == [
        (grace.customer_id, grace_email)
    ]
    about_payment = flat(
        await pages(notifications.api, ada_url, "notifications", charge_id=payment.charge_id)
    )
    assert sorted(d["kind"] for d in about_payment) == ["admin_link_paid"] * 2 + ["receipt"]
    stranger = f"/v1/accounts/{account}/customers/{uuid.uuid4()}/notifications"
    assert (await notifications.api.get(stranger)).json() == {
        "notifications": [],
        "next_cursor": None,
    }
    await assert_refuses_made_up_cursors(notifications.api, ada_url, limit=1)
    for bad_url, params in (
        (f"/v1/accounts/{account}/notifications", {"customer_id": "ada"}),
        (f"/v1/accounts/{account}/customers/ada/notifications", {}),
        (ada_url, {"status": "lost"}),
    ):
        refused = await notifications.api.get(bad_url, params=params)
        assert refused.status_code == 422, (bad_url, params, refused.text)

    async with staff_api(system, stack) as api:
        read: list[Any] = [
            n
            async for n in api.notifications(
                uuid.UUID(account), customer_id=uuid.UUID(ada.customer_id)
            )
        ]
    assert [str(n.notification_id) for n in read] == [d["notification_id"] for d in adas]
