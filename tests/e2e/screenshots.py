"""Pictures of what customers and staff see, taken from the whole system in Chromium at a
desktop's and a phone's size: the payment page, each state a link's page can be in, the success
page, the staff card-entry page and the emails (the payment link, the receipt, the
administrators'). `make screenshots` writes them to docs/screenshots/ (docs/pages.md shows
them); they are the first thing to look at after changing a page or an email.

Not part of `make test` (the file is not named test_*): the same pages are checked there for
content (test_payment_link_page, test_local_times), layout (test_payment_link_page,
test_new_card_page) and accessibility (test_accessibility). Every picture taken here is still
checked for sideways scrolling."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from bookpay_devstack.config import find_repo_root
from bookpay_devstack.events import EventLog
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services
from playwright.async_api import Browser, BrowserContext, Page

from .links import LinkCharge, Links
from .notifications_support import Email, body, wait_emails
from .support import VISA, Bookpay, Customer
from .test_local_times import customer_booked, new_york_account
from .test_payment_link_page import PAY_BUTTON, expect_success, type_card

pytestmark = pytest.mark.asyncio(loop_scope="session")

OUT = Path(os.environ.get("BOOKPAY_SCREENSHOTS_DIR") or find_repo_root() / "docs" / "screenshots")
SIZES = {"phone": (390, 844), "desktop": (1280, 900)}


async def shoot(page: Page, name: str, url: str | None = None, html: str | None = None) -> None:
    """`name`-phone.png and `name`-desktop.png, whole pages; neither may scroll sideways."""
    for size, (width, height) in SIZES.items():
        await page.set_viewport_size({"width": width, "height": height})
        if url is not None:
            await page.goto(url)
        elif html is not None:  # on a blank page: a payment page's policy forbids inline styles
            await page.goto("about:blank")
            await page.set_content(html)
        await page.screenshot(path=OUT / f"{name}-{size}.png", full_page=True)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways by {overflow} px at {width} px"


def email_with(received: list[Email], subject_part: str) -> str:
    for message in received:
        if subject_part.lower() in (message.get("subject") or "").lower():
            return body(message["html"])
    subjects = [m.get("subject") for m in received]
    raise AssertionError(f"no email whose subject has {subject_part!r}: {subjects}")


async def another_link(
    bookpay: Bookpay, links: Links, event_log: EventLog, account: str
) -> LinkCharge:
    customer, _ = await customer_booked(bookpay, account)
    return await links.new_link(event_log, customer, 8000)


async def test_take_the_screenshots(
    bookpay: Bookpay,
    links: Links,
    event_log: EventLog,
    stack: Stack,
    system: Services,
    browser: Browser,
    customer_browser: BrowserContext,
) -> None:
    await asyncio.to_thread(OUT.mkdir, parents=True, exist_ok=True)
    account = await new_york_account(bookpay)
    admins = (await bookpay.booking.get(f"/v1/accounts/{account}")).json()["admins"]
    customer, address = await customer_booked(bookpay, account)
    link = await links.new_link(event_log, customer, 8000)
    page = await customer_browser.new_page()

    [link_email] = await wait_emails(stack, address)
    await shoot(page, "email-payment-link", html=body(link_email["html"]))
    await shoot(page, "payment-page", url=link.url)

    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(link.url)
    await type_card(page, VISA)
    await page.get_by_role("button", name=PAY_BUTTON).click()
    await expect_success(page)
    await shoot(page, "payment-succeeded")  # the same page, at both sizes (it is shown once)
    await shoot(page, "link-already-paid", url=link.url)

    [admin_email] = await wait_emails(stack, admins[0]["email"])
    await shoot(page, "email-administrators", html=body(admin_email["html"]))
    customers_emails = await wait_emails(stack, address, count=2)
    await shoot(page, "email-receipt", html=email_with(customers_emails, "receipt"))

    cancelled = await another_link(bookpay, links, event_log, account)
    answer = await links.api.post(f"/v1/accounts/{account}/links/{cancelled.link_id}/cancel")
    assert answer.status_code == 200, answer.text
    await shoot(page, "link-cancelled", url=cancelled.url)

    expired = await another_link(bookpay, links, event_log, account)
    await links.expire_now(expired.link_id)
    await shoot(page, "link-expired", url=expired.url)

    replaced = await another_link(bookpay, links, event_log, account)
    answer = await links.api.post(f"/v1/accounts/{account}/links/{replaced.link_id}/resend")
    assert answer.status_code in (200, 202), answer.text
    await links.wait_page_shows(replaced.url, "replaced")
    await shoot(page, "link-replaced", url=replaced.url)
    await page.close()

    await staff_new_card_page(bookpay, system, browser, account)


async def staff_new_card_page(
    bookpay: Bookpay, system: Services, browser: Browser, account: str
) -> None:
    customer: Customer
    customer, _ = await customer_booked(bookpay, account)
    charge_service = system.url("charge-service")
    context = await browser.new_context(
        http_credentials={
            "username": bookpay.keys.keys[account],
            "password": "",
            "origin": charge_service,
        },
    )
    page = await context.new_page()
    url = (
        f"{charge_service}/v1/accounts/{account}/customers/{customer.customer_id}"
        f"/charge/new-card?booking_ids={','.join(customer.booking_ids)}"
    )
    await shoot(page, "staff-new-card", url=url)
    await context.close()
