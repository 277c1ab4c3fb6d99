"""Support for payment-link tests: asking for a link charge as an internal service does (a
ChargeRequested on Kafka), link-service's staff API, and what Stripe holds for a charge."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from bookpay_devstack.events import EventLog, Record, about
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services
from bookpay_shared import topics
from bookpay_shared.events import ChargeMethod, ChargeRequested

from .support import Bookpay, Customer, eventually

DECLINED = "4000000000000341"
"""localstripe declines every charge of this card (real Stripe: "charge fails")."""


@dataclass
class LinkCharge:
    customer: Customer
    charge_id: str
    link_id: str
    url: str
    amount: int


def client_address() -> str:
    """A made-up client address, so that each test has its own /pay rate limit (link-service
    honours X-Forwarded-For from loopback, as behind a local proxy)."""
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


class Links:
    def __init__(
        self, system: Services, stack: Stack, kafka: AIOKafkaProducer, keys: httpx.Auth
    ) -> None:
        self.base_url = system.public_url("link-service")
        """The payment pages (link-service's public app)."""
        self.api = httpx.AsyncClient(base_url=system.url("link-service"), timeout=15, auth=keys)
        self.kafka = kafka
        self.stack = stack

    async def close(self) -> None:
        await self.api.aclose()

    def page_client(self) -> httpx.AsyncClient:
        """An HTTP client for the payment pages, as one client address."""
        return httpx.AsyncClient(
            base_url=self.base_url,
            timeout=15,
            headers={"X-Forwarded-For": client_address()},
            follow_redirects=False,
        )

    async def request_charge(
        self,
        customer: Customer,
        amount: int,
        *,
        currency: str = "usd",
        expires_in_hours: int | None = None,
        message: str | None = None,
    ) -> str:
        """Publish ChargeRequested(payment_link), as an internal service would."""
        charge_id = uuid.uuid4()
        event = ChargeRequested(
            correlation_id=charge_id,
            charge_id=charge_id,
            account_id=uuid.UUID(customer.account_id),
            customer_id=uuid.UUID(customer.customer_id),
            booking_ids=[uuid.UUID(b) for b in customer.booking_ids],
            amount=amount,
            currency=currency,
            method=ChargeMethod.PAYMENT_LINK,
            message=message,
            requested_by="front desk",
            link_expires_in_hours=expires_in_hours,
        )
        await self.kafka.send_and_wait(
            topics.CHARGE_REQUESTED, event.to_json(), key=event.key().encode()
        )
        return str(charge_id)

    async def created(self, event_log: EventLog, charge_id: str, count: int = 1) -> list[Record]:
        return await event_log.wait_for(
            topics.PAYMENT_LINK_CREATED, about("charge_id", charge_id), count=count
        )

    async def new_link(
        self,
        event_log: EventLog,
        customer: Customer,
        amount: int,
        **options: Any,
    ) -> LinkCharge:
        charge_id = await self.request_charge(customer, amount, **options)
        [created] = await self.created(event_log, charge_id)
        link = LinkCharge(customer, charge_id, created.get("link_id"), created.get("url"), amount)
        await self.wait_page_shows(link.url, "Summary")
        return link

    async def wait_page_shows(self, url: str, text: str) -> None:
        """link-service learns accounts, customers, bookings and connections from events."""
        async with self.page_client() as client:

            async def shows() -> bool:
                response = await client.get(url)
                return text in response.text and "can't take card payments" not in response.text

            await eventually(shows, interval=0.5)

    async def link(self, account_id: str, link_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/v1/accounts/{account_id}/links/{link_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def wait_state(self, account_id: str, link_id: str, state: str) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            link = await self.link(account_id, link_id)
            return link if link["state"] == state else None

        result: dict[str, Any] = await eventually(reached)
        return result

    async def expire_now(self, link_id: str) -> None:
        """Move a link's expiry into the past (as if its days had gone by)."""
        conn = await asyncpg.connect(self.stack.postgres_dsn("link"))
        try:
            await conn.execute(
                "UPDATE links SET expires_at = now() - interval '1 minute' WHERE link_id = $1",
                uuid.UUID(link_id),
            )
        finally:
            await conn.close()


async def intents_of(bookpay: Bookpay, charge_id: str) -> list[dict[str, Any]]:
    """Every PaymentIntent in the Stripe stand-in whose metadata names the charge."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        response = await bookpay.stripe.get("/v1/payment_intents", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        found += [pi for pi in page["data"] if pi.get("metadata", {}).get("charge_id") == charge_id]
        if not page.get("has_more") or not page["data"]:
            return found
        params["starting_after"] = page["data"][-1]["id"]


async def settle(seconds: float = 2.0) -> None:
    """Give late duplicates a chance to show up before counting events."""
    await asyncio.sleep(seconds)
