"""The hosted payment page in a real browser (Debian's Chromium through Playwright), against
the whole system: link-service, charge-service, booking-service, Kafka, PostgreSQL and
localstripe, with the test Stripe.js stand-in in place of js.stripe.com."""

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from bookpay_devstack.events import EventLog, about
from bookpay_shared import topics
from bookpay_shared.events import ChargeMethod
from bookpay_shared.local_time import format_local
from playwright.async_api import BrowserContext, Page, Route, expect

from .links import DECLINED, LinkCharge, Links, intents_of, settle
from .notifications_support import link_paid, publish
from .support import NEEDS_AUTHENTICATION, VISA, Bookpay, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

PAY_BUTTON = re.compile(r"^Pay ")


def spaced(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


async def open_link(context: BrowserContext, url: str) -> Page:
    page = await context.new_page()
    page.on("dialog", lambda dialog: pytest.fail(f"unexpected dialog: {dialog.message}"))
    await page.goto(url)
    await expect(page.get_by_role("heading", name="Payment request")).to_be_visible()
    return page


async def type_card(page: Page, number: str) -> None:
    await page.get_by_label("Card number").fill(spaced(number))
    await page.get_by_label("Expiration date (MM / YY)").fill("12 / 34")
    await page.get_by_label("Security code (CVC)").fill("123")


async def expect_success(page: Page) -> None:
    # The page confirms with Stripe, then link-service reads the PaymentIntent back before it
    # renders: seconds on a loaded 2-CPU machine, more than the 5 s default.
    heading = page.get_by_role("heading", name="Payment received")
    await expect(heading).to_be_visible(timeout=20_000)
    assert page.url.endswith("/success")


async def expect_receipt(page: Page, link: LinkCharge, payment_intent_id: str) -> None:
    """The page after paying is a receipt: amount, when (in the account's zone, UTC here), the
    card, our charge id and Stripe's PaymentIntent; printing it leaves the button out."""
    await expect(page.locator("#amount-paid")).to_have_text(f"${link.amount / 100:.2f}")
    paid_at = page.locator("#receipt-paid-at time")
    instant = datetime.fromisoformat(await paid_at.get_attribute("datetime") or "")
    assert abs(datetime.now(UTC) - instant) < timedelta(minutes=5)
    await expect(paid_at).to_have_text(format_local(instant, "UTC"))
    await expect(page.locator("#receipt-card")).to_have_text("Visa ending in 4242")
    await expect(page.locator("#receipt-reference")).to_have_text(link.charge_id)
    await expect(page.locator("#receipt-payment-intent")).to_have_text(payment_intent_id)
    button = page.get_by_role("button", name="Print or save this receipt")
    await expect(button).to_be_visible()
    await page.emulate_media(media="print")
    await expect(button).to_be_hidden()
    await page.emulate_media(media="screen")


async def paid_once(bookpay: Bookpay, event_log: EventLog, link: LinkCharge) -> dict[str, str]:
    """The charge ends paid exactly once, with one PaymentIntent; returns that PaymentIntent."""
    [paid] = await event_log.wait_for(
        topics.PAYMENT_SUCCEEDED, about("charge_id", link.charge_id), timeout=45
    )
    await settle()
    assert (
        len(event_log.matching(topics.PAYMENT_SUCCEEDED, about("charge_id", link.charge_id))) == 1
    )
    [intent] = await intents_of(bookpay, link.charge_id)
    assert intent["status"] == "succeeded"
    assert (intent["amount"], paid.get("amount")) == (link.amount, link.amount)
    assert paid.get("stripe_payment_intent_id") == intent["id"]
    return intent


async def test_a_customer_pays_a_link_and_saves_the_card(
    bookpay: Bookpay,
    links: Links,
    event_log: EventLog,
    customer_browser: BrowserContext,
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [5000, 7500])
    link = await links.new_link(event_log, customer, 12500)

    page = await open_link(customer_browser, link.url)
    await expect(page.locator(".merchant-name")).to_have_text("Harbour Kayak Tours")
    await expect(page.locator(".customer-name")).to_have_text("Ada Lovelace")
    bookings = page.locator(".booking")
    await expect(bookings).to_have_count(2)
    await expect(bookings.nth(0)).to_contain_text("Sunset paddle #1")
    await expect(bookings.nth(0)).to_contain_text("Sat 1 May 2027, 09:00 UTC")
    await expect(bookings.nth(0)).to_contain_text("Price $50.00 · Balance due $50.00")
    await expect(bookings.nth(1)).to_contain_text("Sunset paddle #2")
    await expect(page.locator("#total-amount")).to_have_text("$125.00")
    await expect(page.get_by_text("This link expires on")).to_be_visible()
    await type_card(page, VISA)
    await page.get_by_label("Save this card for future payments").check()
    await page.get_by_role("button", name=PAY_BUTTON).click()

    await expect_success(page)
    await expect(page.locator("#total-amount")).to_have_text("$125.00")
    intent = await paid_once(bookpay, event_log, link)
    await expect_receipt(page, link, intent["id"])
    assert intent["metadata"]["save_card"] == "true"
    assert intent["metadata"]["link_id"] == link.link_id
    [link_paid] = event_log.matching(topics.PAYMENT_LINK_PAID, about("link_id", link.link_id))
    assert link_paid.get("save_card") is True
    assert (await links.link(account, link.link_id))["state"] == "paid"

    async def charged_in_full() -> bool:
        for booking_id in customer.booking_ids:
            booking = await bookpay.get_booking(customer, booking_id)
            if booking["status"] != "charged_in_full":
                return False
        return True

    await eventually(charged_in_full, timeout=30)

    async def card_saved() -> list[dict[str, str]]:
        response = await bookpay.charge.get(
            f"/v1/accounts/{account}/customers/{customer.customer_id}/payment-methods"
        )
        cards: list[dict[str, str]] = response.json()["payment_methods"]
        return [c for c in cards if c["last4"] == "4242"]

    assert await eventually(card_saved, timeout=30)

    again = await customer_browser.new_page()
    await again.goto(link.url)
    await expect(again.get_by_role("heading", name="Already paid")).to_be_visible()
    await expect(again.locator("#payment-form")).to_have_count(0)
    await expect(again.locator("#total-amount")).to_have_text("$125.00")
    await expect(again.locator(".customer-name")).to_have_count(0)  # a receipt, no more
    await expect_receipt(again, link, intent["id"])


async def test_a_declined_card_then_a_good_one_pays_once(
    bookpay: Bookpay,
    links: Links,
    event_log: EventLog,
    customer_browser: BrowserContext,
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [4200])
    link = await links.new_link(event_log, customer, 4200)
    page = await open_link(customer_browser, link.url)

    await type_card(page, DECLINED)
    await page.get_by_role("button", name=PAY_BUTTON).click()

    await expect(page.get_by_role("alert")).to_have_text("Your card was declined.")
    pay = page.get_by_role("button", name=PAY_BUTTON)
    await expect(pay).to_be_enabled()
    assert (await links.link(account, link.link_id))["state"] == "active"

    async def declined_try_counted() -> dict[str, Any] | None:
        response = await bookpay.charge.get(f"/v1/accounts/{account}/charges/{link.charge_id}")
        charge: dict[str, Any] = response.json()
        return charge if charge["attempts"] == 1 else None

    charge = await eventually(declined_try_counted, timeout=30)
    assert charge["status"] == "awaiting_customer"
    [declined] = [h["detail"] for h in charge["history"] if "attempt" in h["detail"]]
    assert (declined["attempt"], declined["reason"]) == (1, "card_declined")

    await type_card(page, VISA)
    await pay.click()

    await expect_success(page)
    await paid_once(bookpay, event_log, link)


async def test_a_double_click_pays_once(
    bookpay: Bookpay,
    links: Links,
    event_log: EventLog,
    customer_browser: BrowserContext,
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [3100])
    link = await links.new_link(event_log, customer, 3100)
    page = await open_link(customer_browser, link.url)
    await type_card(page, VISA)

    await page.get_by_role("button", name=PAY_BUTTON).dblclick()

    await expect(page.get_by_role("button", name="Processing…")).to_be_disabled()
    await expect_success(page)
    await paid_once(bookpay, event_log, link)


async def test_two_tabs_paying_at_once_pay_once(
    bookpay: Bookpay,
    links: Links,
    event_log: EventLog,
    customer_browser: BrowserContext,
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [2700])
    link = await links.new_link(event_log, customer, 2700)
    first = await open_link(customer_browser, link.url)
    second = await open_link(customer_browser, link.url)
    await type_card(first, VISA)
    await type_card(second, VISA)

    await asyncio.gather(
        first.get_by_role("button", name=PAY_BUTTON).click(),
        second.get_by_role("button", name=PAY_BUTTON).click(),
    )

    await asyncio.gather(expect_success(first), expect_success(second))
    await paid_once(bookpay, event_log, link)


async def test_a_reload_while_paying_shows_the_payment_and_never_charges_again(
    bookpay: Bookpay,
    links: Links,
    event_log: EventLog,
    customer_browser: BrowserContext,
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [3900])
    link = await links.new_link(event_log, customer, 3900)
    page = await open_link(customer_browser, link.url)
    await type_card(page, VISA)
    confirmed = asyncio.Event()

    async def confirm_then_lose_the_answer(route: Route) -> None:
        await route.fetch()  # Stripe confirms the payment...
        confirmed.set()  # ...but the page reloads before the answer arrives.

    await page.route("**/bookpay-test/v3/confirm", confirm_then_lose_the_answer)
    await page.get_by_role("button", name=PAY_BUTTON).click()
    await asyncio.wait_for(confirmed.wait(), 15)
    await page.reload()

    await expect(page.get_by_role("heading", name="Already paid")).to_be_visible()
    await expect(page.locator("#payment-form")).to_have_count(0)
    await paid_once(bookpay, event_log, link)
    success = await customer_browser.new_page()
    await success.goto(f"{link.url}/success")
    await expect_success(success)


async def test_expired_cancelled_and_unknown_links_in_the_browser(
    bookpay: Bookpay,
    links: Links,
    event_log: EventLog,
    customer_browser: BrowserContext,
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [1500, 1500])
    expiring = await links.new_link(event_log, customer, 1500)
    cancelled = await links.new_link(event_log, customer, 1500)
    page = await customer_browser.new_page()

    await links.expire_now(expiring.link_id)
    await page.goto(expiring.url)
    await expect(page.get_by_role("heading", name="Link no longer valid")).to_be_visible()
    await expect(
        page.get_by_text("Please ask the business that sent it for a new link.")
    ).to_be_visible()
    assert "Ada Lovelace" not in await page.content()

    response = await links.api.post(f"/v1/accounts/{account}/links/{cancelled.link_id}/cancel")
    assert response.status_code == 200, response.text
    await page.goto(cancelled.url)
    await expect(page.get_by_role("heading", name="Link no longer valid")).to_be_visible()
    html = await page.content()
    assert "Ada Lovelace" not in html and "$15.00" not in html

    unknown = await page.goto(link_like(expiring.url))
    assert unknown is not None and unknown.status == 404
    assert (await page.content()).count("Harbour") == 0
    assert await intents_of(bookpay, expiring.charge_id) == []


async def test_pay_is_refused_once_the_bookings_were_paid_another_way(
    bookpay: Bookpay,
    links: Links,
    event_log: EventLog,
    customer_browser: BrowserContext,
    kafka: AIOKafkaProducer,
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [2900])
    link = await links.new_link(event_log, customer, 2900)
    page = await open_link(customer_browser, link.url)
    await type_card(page, VISA)

    # Paid by the card on file meanwhile (announced as charge-service announces a payment).
    await publish(kafka, link_paid(customer, 2900, method=ChargeMethod.CARD_ON_FILE))
    await links.wait_page_shows(link.url, "Nothing to pay")
    await page.get_by_role("button", name=PAY_BUTTON).click()

    await expect(page.get_by_role("alert")).to_have_text(
        "These bookings have been paid in the meantime; ask Harbour Kayak Tours "
        "if anything is still due."
    )
    await expect(page.get_by_role("button", name=PAY_BUTTON)).to_be_disabled()
    assert await intents_of(bookpay, link.charge_id) == []
    await page.reload()
    await expect(page.get_by_role("heading", name="Nothing to pay")).to_be_visible()


def link_like(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + uuid.uuid4().hex + "abcdefghijk"


async def test_every_text_is_escaped(
    bookpay: Bookpay,
    links: Links,
    event_log: EventLog,
    customer_browser: BrowserContext,
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [])
    script = "<script>alert(1)</script>"
    created = await bookpay.booking.post(
        f"/v1/accounts/{account}/bookings",
        json={
            "customer_id": customer.customer_id,
            "title": script,
            "starts_at": "2027-06-01T10:00:00+00:00",
            "amount": 2000,
            "currency": "jpy",
        },
    )
    assert created.status_code == 201, created.text
    customer.booking_ids = [created.json()["booking_id"]]
    await bookpay.wait_known_to_charge_service(customer)
    link = await links.new_link(
        event_log, customer, 2000, currency="jpy", message='<img src=x onerror="alert(2)">'
    )

    page = await open_link(customer_browser, link.url)

    await expect(page.locator(".booking-title")).to_have_text(script)
    await expect(page.locator(".note")).to_have_text('<img src=x onerror="alert(2)">')
    await expect(page.locator("#total-amount")).to_have_text("¥2,000")
    await expect(page.get_by_role("button", name=PAY_BUTTON)).to_have_text("Pay ¥2,000")
    html = await page.content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert await page.locator("img").count() == 0


async def test_a_card_that_needs_authentication_ends_as_a_link_paid_once(
    bookpay: Bookpay,
    links: Links,
    event_log: EventLog,
    customer_browser: BrowserContext,
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [8800])
    await bookpay.save_card(customer, NEEDS_AUTHENTICATION)

    accepted = await bookpay.charge_card_on_file(customer, 8800)
    assert accepted.status_code == 202, accepted.text
    charge_id = accepted.json()["charge_id"]

    [failed] = await event_log.wait_for(topics.PAYMENT_FAILED, about("charge_id", charge_id))
    assert failed.get("reason") == "authentication_required"
    assert failed.get("next_action") == "payment_link", failed.json
    [created] = await links.created(event_log, charge_id)
    link = LinkCharge(customer, charge_id, created.get("link_id"), created.get("url"), 8800)
    await links.wait_page_shows(link.url, "Summary")
    page = await open_link(customer_browser, link.url)
    await expect(page.get_by_text("Your bank asked you to confirm this payment")).to_be_visible()
    await expect(page.get_by_label("Save this card for future payments")).to_have_count(0)
    await type_card(page, NEEDS_AUTHENTICATION)
    await page.get_by_role("button", name=PAY_BUTTON).click()
    await page.get_by_role("button", name="Complete authentication").click()

    await expect_success(page)
    intent = await paid_once(bookpay, event_log, link)
    assert intent["id"] == failed.get("stripe_payment_intent_id")

    async def charged_in_full() -> bool:
        booking = await bookpay.get_booking(customer, customer.booking_ids[0])
        return bool(booking["status"] == "charged_in_full" and booking["balance_due"] == 0)

    await eventually(charged_in_full, timeout=30)


OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.mark.parametrize("width", [320, 390, 1280])
async def test_the_payment_page_fits_the_screen_without_sideways_scrolling(
    bookpay: Bookpay,
    links: Links,
    event_log: EventLog,
    customer_browser: BrowserContext,
    width: int,
) -> None:
    """The card fields once made a phone's page 676 px wide (a fieldset's default min-width)."""
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [5000])
    link = await links.new_link(event_log, customer, 5000)

    page = await open_link(customer_browser, link.url)
    await page.set_viewport_size({"width": width, "height": 800})
    await expect(page.get_by_label("Card number")).to_be_visible()
    assert await page.evaluate(OVERFLOW) <= 0, f"{width} px wide: scrolls sideways"
    box = await page.locator("#card-element").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
