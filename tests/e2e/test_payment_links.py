"""Payment links through link-service's events, pages and staff API (no browser): creation,
expiry settings, resend with a rotated token, cancel, expiry, unknown tokens, the page's
safety headers, CSRF and the rate limit."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from bookpay_devstack.events import EventLog, Record, about
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services
from bookpay_shared import topics
from bookpay_shared.api_keys import key_id_of
from bookpay_shared.events import ChargeAccepted, ChargeMethod

from .links import LinkCharge, Links, intents_of, settle
from .notifications_support import link_paid, publish
from .support import Bookpay, Customer, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

TOKEN_URL = re.compile(r"^http://127\.0\.0\.1:\d+/pay/[A-Za-z0-9_-]{43}$")


def accepted_charge(customer: Customer, amount: int) -> ChargeAccepted:
    """ChargeAccepted as charge-service publishes it for a payment-link charge."""
    charge_id = uuid.uuid4()
    return ChargeAccepted(
        correlation_id=charge_id,
        charge_id=charge_id,
        account_id=uuid.UUID(customer.account_id),
        customer_id=uuid.UUID(customer.customer_id),
        booking_ids=[uuid.UUID(b) for b in customer.booking_ids],
        amount=amount,
        currency="usd",
        requested_by="front desk",
    )


def links_of(event_log: EventLog, charge_id: str) -> list[Record]:
    return event_log.matching(topics.PAYMENT_LINK_CREATED, about("charge_id", charge_id))


def hours_from_now(value: str) -> float:
    return (datetime.fromisoformat(value) - datetime.now(UTC)) / timedelta(hours=1)


async def test_a_payment_link_charge_creates_one_link(
    bookpay: Bookpay, links: Links, event_log: EventLog
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [5000, 7500])

    charge_id = await links.request_charge(customer, 12500, message="See you on the water!")

    [created] = await links.created(event_log, charge_id)
    assert TOKEN_URL.match(created.get("url")), created.get("url")
    assert (created.get("amount"), created.get("currency")) == (12500, "usd")
    assert sorted(created.get("booking_ids")) == sorted(customer.booking_ids)
    assert created.get("message") == "See you on the water!"
    assert created.key == customer.customer_id
    assert 167.9 < hours_from_now(created.get("expires_at")) <= 168
    link = await links.link(account, created.get("link_id"))
    assert (link["state"], link["charge_id"], link["origin"]) == (
        "active",
        charge_id,
        "payment_link",
    )
    assert [h["note"] for h in link["history"]] == ["link created"]
    assert link["history"][0]["actor"] == "front desk"
    listed = (await links.api.get(f"/v1/accounts/{account}/links")).json()["links"]
    assert [entry["link_id"] for entry in listed] == [created.get("link_id")]
    mine = await links.api.get(f"/v1/accounts/{account}/customers/{customer.customer_id}/links")
    assert [entry["state"] for entry in mine.json()["links"]] == ["active"]
    await settle()
    assert len(event_log.matching(topics.PAYMENT_LINK_CREATED, about("charge_id", charge_id))) == 1


async def test_the_expiry_comes_from_the_request_else_the_account(
    bookpay: Bookpay, links: Links, event_log: EventLog
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [3000])
    put = await links.api.put(
        f"/v1/accounts/{account}/link-settings", json={"expires_in_hours": 48}
    )
    assert put.status_code == 200, put.text
    got = await links.api.get(f"/v1/accounts/{account}/link-settings")
    assert got.json() == {"account_id": account, "expires_in_hours": 48, "is_default": False}

    by_account = await links.request_charge(customer, 1000)
    by_request = await links.request_charge(customer, 1000, expires_in_hours=5)

    [first] = await links.created(event_log, by_account)
    [second] = await links.created(event_log, by_request)
    assert 47.9 < hours_from_now(first.get("expires_at")) <= 48
    assert 4.9 < hours_from_now(second.get("expires_at")) <= 5
    bad = await links.api.put(f"/v1/accounts/{account}/link-settings", json={"expires_in_hours": 0})
    assert bad.status_code == 422


async def test_resend_rotates_the_token_for_the_same_link_and_charge(
    bookpay: Bookpay, links: Links, event_log: EventLog
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [4000])
    link = await links.new_link(event_log, customer, 4000)

    resent = await links.api.post(f"/v1/accounts/{account}/links/{link.link_id}/resend")

    assert resent.status_code == 202, resent.text
    assert resent.json()["times_sent"] == 2
    first, second = await links.created(event_log, link.charge_id, count=2)
    assert (second.get("link_id"), second.get("charge_id")) == (link.link_id, link.charge_id)
    assert second.get("url") != first.get("url")
    assert second.get("expires_at") == first.get("expires_at")
    async with links.page_client() as client:
        # The old link says a newer one was sent, naming the business; it takes no payment.
        old = await client.get(first.get("url"))
        assert old.status_code == 410
        assert "A newer link was sent" in old.text and "Harbour Kayak Tours" in old.text
        for secret in ("Ada", "Lovelace", "Sunset paddle", "$", "payment-form"):
            assert secret not in old.text, secret
        assert (await client.get(second.get("url"))).status_code == 200
    assert len(event_log.matching(topics.CHARGE_REQUESTED, about("charge_id", link.charge_id))) == 1
    assert await intents_of(bookpay, link.charge_id) == []


async def test_a_cancelled_link_says_so_and_takes_no_payment(
    bookpay: Bookpay, links: Links, event_log: EventLog
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [4000])
    link = await links.new_link(event_log, customer, 4000)

    cancelled = await links.api.post(
        f"/v1/accounts/{account}/links/{link.link_id}/cancel", json={"requested_by": "Grace"}
    )

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    async with links.page_client() as client:
        page = await client.get(link.url)
        assert page.status_code == 410
        reveals_nothing(page.text)
    again = await links.api.post(f"/v1/accounts/{account}/links/{link.link_id}/resend")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "link_not_active"
    twice = await links.api.post(f"/v1/accounts/{account}/links/{link.link_id}/cancel")
    assert twice.status_code == 200, twice.text
    detail = await links.link(account, link.link_id)
    # Who cancelled is the caller's key, whatever the body says.
    assert detail["history"][-1]["actor"] == f"key:{key_id_of(bookpay.keys.keys[account])}"
    closed = await closed_once(event_log, link)
    assert closed.get("reason") == "cancelled"


def reveals_nothing(html: str) -> None:
    """The page of an expired or cancelled link: the business to ask for a new one, but no
    customer, booking or amount."""
    assert "Link no longer valid" in html
    assert (
        "This payment link is no longer valid. Please ask the business that sent it for a new "
        "link." in html
    )
    for secret in ("Ada", "Lovelace", "Sunset paddle", "$", "payment-form"):
        assert secret not in html, secret


async def closed_once(event_log: EventLog, link: LinkCharge) -> Record:
    """The link's one PaymentLinkClosed (whatever the consumers of it do)."""
    [closed] = await event_log.wait_for(
        topics.PAYMENT_LINK_CLOSED, about("link_id", link.link_id), timeout=30
    )
    assert closed.key == link.customer.customer_id
    assert (closed.get("charge_id"), closed.get("correlation_id")) == (
        link.charge_id,
        link.charge_id,
    )
    assert (closed.get("account_id"), closed.get("customer_id")) == (
        link.customer.account_id,
        link.customer.customer_id,
    )
    await settle()
    assert len(event_log.matching(topics.PAYMENT_LINK_CLOSED, about("link_id", link.link_id))) == 1
    return closed


async def test_an_expired_link_says_so_and_the_sweep_records_it(
    bookpay: Bookpay, links: Links, event_log: EventLog
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [4000])
    link = await links.new_link(event_log, customer, 4000)

    await links.expire_now(link.link_id)

    async with links.page_client() as client:
        page = await client.get(link.url)
        assert page.status_code == 410
        reveals_nothing(page.text)
        success = await client.get(f"{link.url}/success")
        assert success.status_code == 410
        reveals_nothing(success.text)
        refused = await client.post(f"{link.url}/payment", json={"save_card": False})
        assert refused.status_code == 403
    assert (await links.link(account, link.link_id))["state"] == "expired"

    async def swept() -> bool:
        detail = await links.link(account, link.link_id)
        return bool(detail["history"][-1]["note"] == "expired" and detail["closed_at"])

    await eventually(swept)
    cancel = await links.api.post(f"/v1/accounts/{account}/links/{link.link_id}/cancel")
    assert cancel.status_code == 409
    closed = await closed_once(event_log, link)
    assert closed.get("reason") == "expired"


async def test_unknown_and_malformed_tokens_get_the_same_plain_404(links: Links) -> None:
    async with links.page_client() as client:
        answers = [
            await client.get(f"/pay/{'A' * 43}"),
            await client.get("/pay/not-a-token"),
            await client.get(f"/pay/{'x' * 43}/success"),
            await client.post(f"/pay/{'B' * 43}/payment", json={}),
        ]
    assert {(a.status_code, a.text) for a in answers} == {(404, "Not found")}


async def test_the_page_without_a_stripe_connection(
    bookpay: Bookpay, links: Links, event_log: EventLog, kafka: AIOKafkaProducer
) -> None:
    account = await bookpay.new_account(connected=False)
    customer = await bookpay.new_customer(account, [4000])
    refused = await links.request_charge(customer, 4000)
    failed = await bookpay.wait_charge_done(customer, refused)
    assert failed["failure"]["reason"] == "stripe_not_connected"
    # A link whose account link-service knows no connection for (charge-service accepted the
    # charge while connected): the page says so instead of taking a card.
    accepted = accepted_charge(customer, 4000)
    await publish(kafka, accepted)
    [created] = await links.created(event_log, str(accepted.charge_id))
    assert links_of(event_log, refused) == []

    async with links.page_client() as client:
        page = await client.get(created.get("url"))
    assert page.status_code == 200
    assert "Harbour Kayak Tours can&#39;t take card payments right now" in page.text
    assert "payment-form" not in page.text


async def test_page_headers_csrf_and_amount_come_from_our_records(
    bookpay: Bookpay, links: Links, event_log: EventLog, link_service_url: str, stack: Stack
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [6000])
    link = await links.new_link(event_log, customer, 6000)

    async with links.page_client() as client:
        page = await client.get(link.url)
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self' http://127.0.0.1:" in csp
        assert "'unsafe-inline'" not in csp
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        cookie = page.cookies["bookpay_pay_csrf"]
        assert "samesite=lax" in page.headers["set-cookie"].lower()
        assert "httponly" in page.headers["set-cookie"].lower()
        csrf = re.search(r'data-csrf="([0-9a-f]{64})"', page.text)
        assert csrf is not None
        url = f"{link.url}/payment"

        no_token = await client.post(url, json={"save_card": False})
        forged = await client.post(url, json={}, headers={"X-CSRF-Token": "0" * 64})
        other_site = await client.post(
            url,
            json={},
            headers={"X-CSRF-Token": csrf.group(1), "Origin": "https://evil.example"},
        )
        tampered = await client.post(
            url, json={"save_card": False, "amount": 1}, headers={"X-CSRF-Token": csrf.group(1)}
        )
        assert [r.status_code for r in (no_token, forged, other_site)] == [403, 403, 403]
        assert tampered.status_code == 422
        started = await client.post(
            url,
            json={"save_card": True},
            headers={"X-CSRF-Token": csrf.group(1), "Origin": link_service_url},
        )
        again = await client.post(
            url, json={"save_card": False}, headers={"X-CSRF-Token": csrf.group(1)}
        )
    assert cookie
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "requires_payment_method"
    client_secret = started.json()["client_secret"]
    assert client_secret == again.json()["client_secret"]
    assert client_secret not in (stack.logs_dir / "link-service.log").read_text()
    [intent] = await intents_of(bookpay, link.charge_id)
    assert (intent["amount"], intent["currency"]) == (6000, "usd")
    assert intent["customer"] is None
    assert intent["metadata"] == {
        "charge_id": link.charge_id,
        "link_id": link.link_id,
        "account_id": account,
        "customer_id": customer.customer_id,
        "booking_ids": customer.booking_ids[0],
        "method": "payment_link",
        "save_card": "false",
    }


async def test_pay_pages_are_rate_limited_per_client_address(links: Links) -> None:
    async with links.page_client() as client:
        statuses = [(await client.get(f"/pay/{uuid.uuid4().hex}")).status_code for _ in range(40)]
        limited = await client.get("/pay/anything")
    async with links.page_client() as someone_else:
        other = await someone_else.get("/pay/anything")
    assert statuses[:30] == [404] * 30
    assert 429 in statuses[30:]
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert other.status_code == 404
    health = await links.api.get("/healthz")
    assert health.status_code == 200


async def test_staff_api_errors(links: Links) -> None:
    account = str(uuid.uuid4())
    missing = await links.api.post(f"/v1/accounts/{account}/links/{uuid.uuid4()}/cancel")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    listing = await links.api.get(f"/v1/accounts/{account}/links", params={"state": "nope"})
    assert listing.status_code == 422
    assert isinstance(missing, httpx.Response)


async def start_payment(
    client: httpx.AsyncClient, url: str, page_html: str | None = None
) -> httpx.Response:
    """What the page's script does when Pay is pressed (CSRF token from the page)."""
    if page_html is None:
        page_html = (await client.get(url)).text
    csrf = re.search(r'data-csrf="([0-9a-f]{64})"', page_html)
    assert csrf is not None, page_html
    return await client.post(f"{url}/payment", json={}, headers={"X-CSRF-Token": csrf.group(1)})


async def test_cancelling_a_link_cancels_its_payment_intent(
    bookpay: Bookpay, links: Links, event_log: EventLog
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [2500])
    link = await links.new_link(event_log, customer, 2500)
    async with links.page_client() as client:
        started = await start_payment(client, link.url)
        assert started.status_code == 200, started.text

        cancelled = await links.api.post(f"/v1/accounts/{account}/links/{link.link_id}/cancel")

        assert cancelled.status_code == 200, cancelled.text
        [intent] = await intents_of(bookpay, link.charge_id)
        assert intent["status"] == "canceled"
        assert (await client.get(link.url)).status_code == 410
    detail = await links.link(account, link.link_id)
    assert [h["note"] for h in detail["history"]][-1] == "PaymentIntent canceled"


async def test_no_payment_for_bookings_paid_in_the_meantime(
    bookpay: Bookpay, links: Links, event_log: EventLog, kafka: AIOKafkaProducer
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [3300])
    link = await links.new_link(event_log, customer, 3300)
    async with links.page_client() as client:
        opened = await client.get(link.url)  # the customer opens the page...
        assert "payment-form" in opened.text

        # ...and meanwhile the booking is paid by its card on file. (The payment is announced
        # here as charge-service announces it: charge-service itself may refuse a second
        # charge while the link's charge is in progress.)
        await publish(kafka, link_paid(customer, 3300, method=ChargeMethod.CARD_ON_FILE))

        async def paid_in_full() -> bool:
            booking = await bookpay.get_booking(customer, customer.booking_ids[0])
            return bool(booking["balance_due"] == 0)

        await eventually(paid_in_full)
        await links.wait_page_shows(link.url, "Nothing to pay")
        page = await client.get(link.url)
        refused = await start_payment(client, link.url, opened.text)  # Pay, pressed now

    assert page.status_code == 200
    assert "These bookings have been paid in the meantime" in page.text
    assert "payment-form" not in page.text
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == {
        "code": "paid_elsewhere",
        "message": "These bookings have been paid in the meantime; ask Harbour Kayak Tours "
        "if anything is still due.",
    }
    assert await intents_of(bookpay, link.charge_id) == []
    assert (await links.link(account, link.link_id))["state"] == "active"


async def test_the_page_renders_while_booking_service_is_down(
    bookpay: Bookpay, links: Links, event_log: EventLog, system: Services
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [4400])
    link = await links.new_link(event_log, customer, 4400)

    await system.processes["booking-service"].stop()
    try:
        async with links.page_client() as client:
            page = await client.get(link.url)
    finally:
        await system.restart("booking-service")

    assert page.status_code == 200
    assert "Sunset paddle #1" in page.text and "Ada Lovelace" in page.text
    assert "Harbour Kayak Tours" in page.text and "$44.00" in page.text


async def test_staff_send_a_link_over_http_with_its_expiry(
    bookpay: Bookpay, links: Links, event_log: EventLog
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [2200])

    response = await bookpay.charge.post(
        f"/v1/accounts/{account}/charges",
        json={
            "customer_id": customer.customer_id,
            "booking_ids": customer.booking_ids,
            "amount": 2200,
            "currency": "usd",
            "method": "payment_link",
            "message": "Thanks for booking with us",
            "link_expires_in_hours": 12,
        },
    )

    assert response.status_code == 202, response.text
    charge_id = response.json()["charge_id"]
    [created] = await links.created(event_log, charge_id)
    assert 11.9 < hours_from_now(created.get("expires_at")) <= 12
    assert created.get("message") == "Thanks for booking with us"
    charge = await bookpay.charge_status(customer, charge_id)
    assert (charge["status"], charge["method"]) == ("awaiting_customer", "payment_link")
    wrong_method = await bookpay.charge.post(
        f"/v1/accounts/{account}/charges",
        json={
            "customer_id": customer.customer_id,
            "booking_ids": customer.booking_ids,
            "amount": 100,
            "currency": "usd",
            "method": "card_on_file",
            "link_expires_in_hours": 12,
        },
    )
    assert wrong_method.status_code == 422


async def test_link_lists_are_paged_with_a_cursor(
    bookpay: Bookpay, links: Links, event_log: EventLog
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [1000, 1100, 1200])
    made = []
    for amount in (1000, 1100, 1200):
        charge_id = await links.request_charge(customer, amount)
        [created] = await links.created(event_log, charge_id)
        made.append(created.get("link_id"))
    for url in (
        f"/v1/accounts/{account}/links",
        f"/v1/accounts/{account}/customers/{customer.customer_id}/links",
    ):
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await links.api.get(url, params=params)).json()
            seen += [entry["link_id"] for entry in page["links"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 2 and sorted(seen) == sorted(made) and len(seen) == 3, (url, seen)
    whole = (await links.api.get(f"/v1/accounts/{account}/links")).json()
    assert len(whole["links"]) == 3 and whole["next_cursor"] is None
    bad = await links.api.get(f"/v1/accounts/{account}/links", params={"cursor": "nope"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_cursor")
    too_big = await links.api.get(f"/v1/accounts/{account}/links", params={"limit": 10_000})
    assert too_big.status_code == 422
