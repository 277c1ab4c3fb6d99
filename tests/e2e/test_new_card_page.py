"""The staff card-entry page in a real browser (Debian's Chromium through Playwright), with the
test Stripe.js stand-in: the card typed on the page goes to the Stripe stand-in only."""

from typing import Any

import pytest
from bookpay_devstack.events import EventLog, about
from bookpay_devstack.system import Services
from bookpay_shared import topics
from playwright.async_api import Browser, Page

from .support import DECLINES_AFTER_ATTACH, VISA, Bookpay, Customer

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def open_page(
    browser: Browser,
    system: Services,
    bookpay: Bookpay,
    customer: Customer,
    amount: int | None = None,
) -> Page:
    """The page as staff open it: the browser asks for credentials (HTTP Basic, the account's
    API key as the user name) and sends them with the page's own API calls."""
    charge_service = system.url("charge-service")
    page = await browser.new_page(
        http_credentials={
            "username": bookpay.keys.keys[customer.account_id],
            "password": "",
            "origin": charge_service,
        }
    )
    page.set_default_timeout(15_000)
    query = (
        "booking_ids=" + ",".join(customer.booking_ids) + (f"&amount={amount}" if amount else "")
    )
    url = (
        f"{system.url('charge-service')}/v1/accounts/{customer.account_id}"
        f"/customers/{customer.customer_id}/charge/new-card?{query}"
    )
    response = await page.goto(url)
    assert response is not None and response.status == 200
    return page


async def type_card(page: Page, number: str) -> None:
    await page.get_by_label("Card number").fill(number)
    await page.get_by_label("Expiration date").fill("12 / 34")
    await page.get_by_label("CVC").fill("123")


async def charges_of(bookpay: Bookpay, event_log: EventLog, customer: Customer) -> list[str]:
    return sorted(
        {
            str(r.get("charge_id"))
            for r in event_log.matching(
                topics.CHARGE_REQUESTED, about("customer_id", customer.customer_id)
            )
        }
    )


async def test_staff_charge_a_new_card_and_save_it(
    browser: Browser, system: Services, bookpay: Bookpay, event_log: EventLog
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [4200, 1800])
    page = await open_page(browser, system, bookpay, customer)
    await page.get_by_text("Sunset paddle #1").wait_for()
    await page.get_by_text("$60.00").first.wait_for()

    await type_card(page, "4242 4242 4242 4242")
    await page.get_by_label("Save this card for future use").check()
    await page.get_by_role("button", name="Charge $60.00").click()

    await page.get_by_text("Payment of $60.00 succeeded.").wait_for(timeout=30_000)
    await page.get_by_text("The card was saved to the customer's profile.").wait_for()
    [charge_id] = await charges_of(bookpay, event_log, customer)
    # The outcome links to the charge; the button no longer offers to charge.
    link = page.get_by_role("link", name="See the charge")
    assert (await link.get_attribute("href") or "").endswith(f"/charges/{charge_id}")
    await page.get_by_role("button", name="Paid $60.00").wait_for()
    await event_log.wait_for(topics.BOOKING_CHARGED, about("charge_id", charge_id), count=2)
    for booking_id in customer.booking_ids:
        assert (await bookpay.get_booking(customer, booking_id))["status"] == "charged_in_full"
    cards = (
        await bookpay.charge.get(
            f"/v1/accounts/{customer.account_id}/customers/{customer.customer_id}/payment-methods"
        )
    ).json()["payment_methods"]
    assert [(c["last4"], c["is_default"]) for c in cards] == [("4242", True)]
    # Reloading after the payment shows a page saying so, not an error in JSON.
    reloaded = await page.reload()
    assert reloaded is not None and reloaded.status == 409
    await page.get_by_role("heading", name="Nothing left to charge").wait_for()
    await page.get_by_text("These bookings are paid in full.").wait_for()
    await page.close()


async def test_a_declined_card_then_a_good_one_makes_one_charge_and_one_payment(
    browser: Browser, system: Services, bookpay: Bookpay, event_log: EventLog
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [2500])
    page = await open_page(browser, system, bookpay, customer)

    await type_card(page, DECLINES_AFTER_ATTACH)
    await page.get_by_role("button", name="Charge $25.00").click()
    await page.get_by_text("You can try another card.").wait_for(timeout=30_000)
    assert "declined" in (await page.locator("#outcome").inner_text()).lower()

    await type_card(page, VISA)
    await page.get_by_role("button", name="Charge $25.00").click()
    await page.get_by_text("Payment of $25.00 succeeded.").wait_for(timeout=30_000)

    [charge_id] = await charges_of(bookpay, event_log, customer)
    intents = await bookpay.payment_intents(charge_id)
    assert [i["status"] for i in intents] == ["succeeded"]
    charge: dict[str, Any] = await bookpay.charge_status(customer, charge_id)
    assert (charge["status"], charge["attempts"]) == ("succeeded", 2)
    await page.close()


async def test_a_double_click_charges_once(
    browser: Browser, system: Services, bookpay: Bookpay, event_log: EventLog
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [1500])
    page = await open_page(browser, system, bookpay, customer)
    await type_card(page, VISA)

    await page.get_by_role("button", name="Charge $15.00").dblclick()

    await page.get_by_text("Payment of $15.00 succeeded.").wait_for(timeout=30_000)
    [charge_id] = await charges_of(bookpay, event_log, customer)
    await event_log.wait_for(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id))
    assert len(await bookpay.payment_intents(charge_id)) == 1
    assert len(event_log.matching(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id))) == 1
    assert await page.get_by_role("button").is_disabled()
    await page.close()


async def test_the_page_shows_our_records_escaped_with_safe_headers(
    browser: Browser, system: Services, bookpay: Bookpay
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [])
    created = await bookpay.booking.post(
        f"/v1/accounts/{account}/bookings",
        json={
            "customer_id": customer.customer_id,
            "title": "<script>alert(1)</script>",
            "starts_at": "2027-06-01T10:00:00Z",
            "amount": 900,
            "currency": "usd",
        },
    )
    customer.booking_ids = [created.json()["booking_id"]]
    await bookpay.wait_known_to_charge_service(customer)
    page = await open_page(browser, system, bookpay, customer, amount=500)

    await page.get_by_text("<script>alert(1)</script>").wait_for()  # shown as text, not run
    await page.get_by_text("$5.00").first.wait_for()
    response = await bookpay.charge.get(page.url)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    too_much = await bookpay.charge.get(page.url.replace("amount=500", "amount=901"))
    assert too_much.status_code == 409
    assert "$9.01 is more than the balance due of $9.00" in too_much.text
    await page.close()


async def test_the_page_fits_a_phone_and_its_card_field_has_a_label(
    browser: Browser, system: Services, bookpay: Bookpay
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [4200])
    page = await open_page(browser, system, bookpay, customer)
    await page.set_viewport_size({"width": 320, "height": 800})
    await page.get_by_label("Card", exact=True).wait_for()
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, "320 px wide: scrolls sideways"
    await page.close()
