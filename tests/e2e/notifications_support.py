"""Support for the notification tests: notification-service's HTTP API, the events other
services publish (built here and put on Kafka as they would), and reading received emails."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services
from bookpay_shared.events import ChargeMethod, Event, PaymentLinkCreated, PaymentSucceeded

from .support import Bookpay, Customer, eventually

EXPIRES = datetime(2027, 4, 20, 18, 0, tzinfo=UTC)
"""When the notification tests' payment links expire."""
PADDLE_AND_CAVES = [("Sunset paddle", 5000), ("Sea cave tour", 7500)]
"""The notification tests' two bookings: title and amount in cents."""

Email = dict[str, Any]
"""A message as the SMTP sink lists it: rcpt_tos, subject, text, html, raw, ..."""


class Notifications:
    """notification-service's HTTP API."""

    def __init__(self, system: Services, keys: httpx.Auth) -> None:
        self.api = httpx.AsyncClient(
            base_url=system.url("notification-service"), timeout=15, auth=keys
        )

    async def close(self) -> None:
        await self.api.aclose()

    async def preview(self, account_id: str, draft: dict[str, Any]) -> httpx.Response:
        return await self.api.post(
            f"/v1/accounts/{account_id}/payment-link-email/preview", json=draft
        )

    async def preview_when_known(self, account_id: str, draft: dict[str, Any]) -> dict[str, Any]:
        """The preview, once notification-service knows the customer and the bookings."""

        async def previewed() -> dict[str, Any] | None:
            response = await self.preview(account_id, draft)
            return response.json() if response.status_code == 200 else None

        result: dict[str, Any] = await eventually(previewed)
        return result

    async def deliveries(self, account_id: str, **params: str) -> list[dict[str, Any]]:
        response = await self.api.get(f"/v1/accounts/{account_id}/notifications", params=params)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["notifications"]
        return found

    async def wait_delivery(self, account_id: str, **match: Any) -> dict[str, Any]:
        """Wait for a delivery whose fields equal `match` (`attempts` means at least that)."""

        async def found() -> dict[str, Any] | None:
            for d in await self.deliveries(account_id):
                if all(_matches(d, k, v) for k, v in match.items()):
                    return d
            return None

        result: dict[str, Any] = await eventually(found, timeout=60)
        return result

    async def wait_account(self, account_id: str, **expected: Any) -> None:
        """Wait until notification-service knows the account as `expected` (from the
        account's state events)."""

        async def known() -> bool:
            response = await self.api.get(f"/v1/accounts/{account_id}/notification-settings")
            if response.status_code != 200:
                return False
            body = response.json()
            return all(body[k] == v for k, v in expected.items())

        await eventually(known)


def _matches(delivery: dict[str, Any], key: str, value: Any) -> bool:
    if key == "attempts":
        return bool(delivery["attempts"] >= value)
    return bool(str(delivery[key]) == str(value))


# --- accounts, customers and bookings through booking-service ------------------------------


async def admins_of(bookpay: Bookpay, account_id: str) -> list[dict[str, str]]:
    response = await bookpay.booking.get(f"/v1/accounts/{account_id}")
    assert response.status_code == 200, response.text
    admins: list[dict[str, str]] = response.json()["admins"]
    return admins


async def patch_account(bookpay: Bookpay, account_id: str, **changes: Any) -> dict[str, Any]:
    response = await bookpay.booking.patch(f"/v1/accounts/{account_id}", json=changes)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def new_admin() -> dict[str, str]:
    return {"name": "New Admin", "email": f"new-admin-{uuid.uuid4().hex[:6]}@example.com"}


async def customer_with_bookings(
    bookpay: Bookpay, account_id: str, titles_and_amounts: list[tuple[str, int]]
) -> tuple[Customer, str]:
    """A customer (and their email address) with one booking per (title, amount)."""
    email = f"customer-{uuid.uuid4().hex[:8]}@example.com"
    response = await bookpay.booking.post(
        f"/v1/accounts/{account_id}/customers", json={"name": "Ada Lovelace", "email": email}
    )
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["customer_id"]
    start = datetime(2027, 5, 1, 9, tzinfo=UTC)
    booking_ids = []
    for i, (title, amount) in enumerate(titles_and_amounts):
        created = await bookpay.booking.post(
            f"/v1/accounts/{account_id}/bookings",
            json={
                "customer_id": customer_id,
                "title": title,
                "starts_at": (start + timedelta(days=i)).isoformat(),
                "amount": amount,
                "currency": "usd",
            },
        )
        assert created.status_code == 201, created.text
        booking_ids.append(created.json()["booking_id"])
    return Customer(account_id, customer_id, booking_ids), email


# --- events, as link-service and charge-service publish them -------------------------------


def link_created(
    customer: Customer,
    amount: int,
    *,
    url: str,
    expires_at: datetime,
    message: str | None = None,
    charge_id: uuid.UUID | None = None,
) -> PaymentLinkCreated:
    charge = charge_id or uuid.uuid4()
    return PaymentLinkCreated(
        correlation_id=charge,
        link_id=uuid.uuid4(),
        charge_id=charge,
        account_id=uuid.UUID(customer.account_id),
        customer_id=uuid.UUID(customer.customer_id),
        booking_ids=[uuid.UUID(b) for b in customer.booking_ids],
        amount=amount,
        currency="usd",
        url=url,
        expires_at=expires_at,
        message=message,
    )


def link_url(system: Services) -> str:
    """A payment-page URL as link-service makes them: a random token."""
    return f"{system.public_url('link-service')}/pay/{secrets.token_urlsafe(32)}"


def link_paid(
    customer: Customer,
    amount: int,
    *,
    booking_ids: list[str] | None = None,
    method: ChargeMethod = ChargeMethod.PAYMENT_LINK,
) -> PaymentSucceeded:
    charge_id = uuid.uuid4()
    return PaymentSucceeded(
        correlation_id=charge_id,
        charge_id=charge_id,
        account_id=uuid.UUID(customer.account_id),
        customer_id=uuid.UUID(customer.customer_id),
        booking_ids=[uuid.UUID(b) for b in booking_ids or customer.booking_ids],
        amount=amount,
        currency="usd",
        method=method,
        stripe_payment_intent_id=f"pi_{uuid.uuid4().hex[:24]}",
        card_brand="visa",
        card_last4="4242",
        paid_at=datetime.now(UTC).replace(microsecond=0),
    )


async def publish(kafka: AIOKafkaProducer, event: Event) -> None:
    await kafka.send_and_wait(event.TOPIC, value=event.to_json(), key=event.key().encode())


async def stored_email(stack: Stack, notification_id: str) -> dict[str, Any]:
    """What notification-service keeps of one email (its own database, read here only to
    check what it keeps)."""
    conn = await asyncpg.connect(stack.postgres_dsn("notification"))
    try:
        row = await conn.fetchrow(
            "SELECT status, html, text, link_url FROM notifications WHERE id = $1",
            uuid.UUID(notification_id),
        )
    finally:
        await conn.close()
    assert row is not None
    return dict(row)


async def _wait_row(stack: Stack, sql: str, *args: object) -> Any:
    """Until `sql` finds a value in notification-service's database; that value. (Read here
    only to know an event was handled before a test changes the settings it is handled with.)"""
    conn = await asyncpg.connect(stack.postgres_dsn("notification"))
    try:
        return await eventually(lambda: conn.fetchval(sql, *args), timeout=30)
    finally:
        await conn.close()


async def wait_link_payment_recorded(stack: Stack, charge_id: uuid.UUID) -> None:
    """Until notification-service has recorded a link payment, with the administrators to
    notify as the account's settings were then."""
    await _wait_row(stack, "SELECT true FROM link_payments WHERE charge_id = $1", charge_id)


async def wait_receipt_decided(stack: Stack, charge_id: uuid.UUID) -> str:
    """Until notification-service has decided a charge's receipt; the decision (`emailed`, or
    `turned_off` by the account)."""
    decision: str = await _wait_row(
        stack,
        "SELECT decision FROM receipts WHERE charge_id = $1 AND decided_at IS NOT NULL",
        charge_id,
    )
    return decision


# --- received emails -----------------------------------------------------------------------


async def wait_emails(stack: Stack, to: str, count: int = 1, timeout: float = 60) -> list[Email]:
    return await stack.mail.wait_for_messages(count, to=to, timeout=timeout)


def body(part: str | None) -> str:
    """A received part as it was written: SMTP carries lines ending in CRLF."""
    assert part is not None
    return part.replace("\r\n", "\n")


def header(message: Email, name: str) -> str | None:
    for line in body(message["raw"]).split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        if key.lower() == name.lower():
            return value.strip()
    return None


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.tags: list[str] = []
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "a":
            self._href, self._text = dict(attrs).get("href") or "", ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._text.strip()))
            self._href = None


def html_links(html: str) -> list[tuple[str, str]]:
    """Each link of the HTML: (href, text)."""
    parser = _Links()
    parser.feed(html)
    return parser.links


def html_tags(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.tags
