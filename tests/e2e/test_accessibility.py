"""The pages people read, checked by axe-core (WCAG 2 A and AA rules: labels, contrast,
landmarks, names, language) in Chromium at a phone's and a desktop's size: the payment page,
a cancelled link's page and the staff new-card page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from bookpay_devstack.config import find_repo_root
from bookpay_devstack.events import EventLog
from bookpay_devstack.system import Services
from playwright.async_api import Browser, BrowserContext, Page

from .links import Links
from .support import Bookpay

pytestmark = pytest.mark.asyncio(loop_scope="session")

AXE = find_repo_root() / ".cache" / "axe-core-4.14.1" / "axe.min.js"
SIZES = [(390, 844), (1280, 900)]


@pytest_asyncio.fixture(loop_scope="session")
async def checking_browser(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A profile that may inject axe-core into pages whose policy allows only their own
    scripts (the pages' Content-Security-Policy is tested elsewhere)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run devstack/install-system-deps.sh (needs npm)")
    context = await browser.new_context(bypass_csp=True)
    context.set_default_timeout(15_000)
    yield context
    await context.close()


async def violations(page: Page) -> list[str]:
    await page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = await page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}})"
    )
    assert len(result["passes"]) > 10, "axe checked next to nothing: is the page empty?"
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
    ]


async def check(page: Page, url: str) -> None:
    for width, height in SIZES:
        await page.set_viewport_size({"width": width, "height": height})
        await page.goto(url)
        found = await violations(page)
        assert found == [], f"{url} at {width} px:\n" + "\n".join(found)


async def test_the_payment_pages_pass_the_accessibility_check(
    bookpay: Bookpay, links: Links, event_log: EventLog, checking_browser: BrowserContext
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [5000])
    link = await links.new_link(event_log, customer, 5000)
    page = await checking_browser.new_page()
    await check(page, link.url)
    cancelled = await links.api.post(f"/v1/accounts/{account}/links/{link.link_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    await check(page, link.url)
    await page.close()


async def test_the_staff_new_card_page_passes_the_accessibility_check(
    bookpay: Bookpay, system: Services, browser: Browser
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run devstack/install-system-deps.sh (needs npm)")
    customer = await bookpay.new_customer(await bookpay.new_account(), [4200])
    charge_service = system.url("charge-service")
    context = await browser.new_context(
        bypass_csp=True,
        http_credentials={
            "username": bookpay.keys.keys[customer.account_id],
            "password": "",
            "origin": charge_service,
        },
    )
    page = await context.new_page()
    url = (
        f"{charge_service}/v1/accounts/{customer.account_id}/customers/"
        f"{customer.customer_id}/charge/new-card?booking_ids={','.join(customer.booking_ids)}"
    )
    await check(page, url)
    await context.close()
