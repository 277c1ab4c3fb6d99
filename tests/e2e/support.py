"""Helpers for end-to-end tests: the HTTP APIs as a staff member or an internal service would
use them, and localstripe as Stripe.js would (cards are tokenized from test numbers)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services
from bookpay_shared.auth import ACCOUNT_SCOPES

VISA = "4242424242424242"
DECLINES_AFTER_ATTACH = "4000000000000341"
NEEDS_AUTHENTICATION = "4000002760003184"


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 30.0, interval: float = 0.2
) -> Any:
    """Retry `check` until it returns a truthy value without raising; return that value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            result = await check()
            if result:
                return result
            problem: BaseException | None = None
        except (AssertionError, httpx.HTTPError) as exc:
            problem = exc
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {problem!r}")
        await asyncio.sleep(interval)


class AccountKeys(httpx.Auth):
    """Credentials as staff would send them: on an account's routes (`/v1/accounts/<id>/…`)
    that account's own API key once one was made for it, else the platform key. A request that
    carries its own Authorization header keeps it."""

    def __init__(self, platform_key: str) -> None:
        self.platform_key = platform_key
        self.keys: dict[str, str] = {}

    def for_path(self, path: str) -> str:
        parts = path.split("/")
        if len(parts) > 3 and parts[1:3] == ["v1", "accounts"]:
            return self.keys.get(parts[3], self.platform_key)
        return self.platform_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "Authorization" not in request.headers:
            request.headers["Authorization"] = f"Bearer {self.for_path(request.url.path)}"
        yield request


@dataclass
class Customer:
    account_id: str
    customer_id: str
    booking_ids: list[str]
    payment_method_id: str | None = None


class Bookpay:
    """The services' HTTP APIs."""

    def __init__(self, system: Services, stack: Stack) -> None:
        self.system = system
        self.keys = AccountKeys(stack.config.platform_key)
        self.booking = httpx.AsyncClient(
            base_url=system.url("booking-service"), timeout=15, auth=self.keys
        )
        self.charge = httpx.AsyncClient(
            base_url=system.url("charge-service"), timeout=15, auth=self.keys
        )
        self.webhooks = httpx.AsyncClient(base_url=system.public_url("charge-service"), timeout=15)
        """charge-service's public app: Stripe's webhook alone (no credential)."""
        self.stripe = httpx.AsyncClient(
            base_url=stack.stripe_url,
            auth=(stack.config.stripe_api_key, ""),
            timeout=15,
        )

    async def close(self) -> None:
        for client in (self.booking, self.charge, self.webhooks, self.stripe):
            await client.aclose()

    async def new_account(self, *, connected: bool = True, admins: int = 2) -> str:
        response = await self.booking.post(
            "/v1/accounts",
            json={
                "name": "Harbour Kayak Tours",
                "admins": [
                    {"name": f"Admin {i}", "email": f"admin{i}-{uuid.uuid4().hex[:6]}@example.com"}
                    for i in range(admins)
                ],
            },
        )
        assert response.status_code == 201, response.text
        account_id: str = response.json()["account_id"]
        self.keys.keys[account_id] = await self.new_key(account_id)
        if connected:
            await self.connect(account_id, await self.new_stripe_account())
        return account_id

    async def new_stripe_account(self) -> str:
        """A Stripe account connected to the platform (what Connect onboarding leaves behind)."""
        created = await self.stripe.post("/v1/accounts", data={"type": "standard"})
        assert created.status_code == 200, created.text
        stripe_account_id: str = created.json()["id"]
        return stripe_account_id

    async def connect(self, account_id: str, stripe_account_id: str) -> dict[str, Any]:
        """Connect (or reconnect) the account to a Stripe account; the connection."""
        put = await self.charge.put(
            f"/v1/accounts/{account_id}/stripe-connection",
            json={"stripe_account_id": stripe_account_id},
        )
        assert put.status_code == 200, put.text
        connection: dict[str, Any] = put.json()
        return connection

    async def new_key(self, account_id: str, scopes: list[str] | None = None) -> str:
        """A new API key of the account (every account scope by default), once every service
        accepts it (they learn keys from booking-service's api-keys-state)."""
        response = await self.booking.post(
            f"/v1/accounts/{account_id}/api-keys",
            json={"scopes": scopes or sorted(ACCOUNT_SCOPES), "description": "e2e"},
            headers={"Authorization": f"Bearer {self.keys.platform_key}"},
        )
        assert response.status_code == 201, response.text
        key: str = response.json()["key"]
        await self.wait_key_accepted(account_id, key)
        return key

    async def wait_key_accepted(self, account_id: str, key: str, accepted: bool = True) -> None:
        """Wait until every service accepts the key (or, `accepted=False`, refuses it)."""
        probes = {
            "booking-service": "",
            "charge-service": "/stripe-connection",
            "link-service": "/link-settings",
            "notification-service": "/notifications",
        }
        async with httpx.AsyncClient(timeout=15) as client:
            for service, probe in probes.items():
                url = f"{self.system.url(service)}/v1/accounts/{account_id}{probe}"

                async def settled(url: str = url) -> bool:
                    r = await client.get(url, headers={"Authorization": f"Bearer {key}"})
                    return (r.status_code != 401) is accepted

                await eventually(settled)

    async def new_customer(
        self, account_id: str, amounts: list[int], currency: str = "usd"
    ) -> Customer:
        response = await self.booking.post(
            f"/v1/accounts/{account_id}/customers",
            json={"name": "Ada Lovelace", "email": f"ada-{uuid.uuid4().hex[:6]}@example.com"},
        )
        assert response.status_code == 201, response.text
        customer_id: str = response.json()["customer_id"]
        start = datetime(2027, 5, 1, 9, tzinfo=UTC)
        booking_ids = []
        for i, amount in enumerate(amounts):
            created = await self.booking.post(
                f"/v1/accounts/{account_id}/bookings",
                json={
                    "customer_id": customer_id,
                    "title": f"Sunset paddle #{i + 1}",
                    "starts_at": (start + timedelta(days=i)).isoformat(),
                    "amount": amount,
                    "currency": currency,
                },
            )
            assert created.status_code == 201, created.text
            booking_ids.append(created.json()["booking_id"])
        customer = Customer(account_id, customer_id, booking_ids)
        await self.wait_known_to_charge_service(customer)
        return customer

    async def wait_known_to_charge_service(self, customer: Customer) -> None:
        """charge-service learns customers and bookings from booking-service's events."""

        async def known() -> bool:
            base = f"/v1/accounts/{customer.account_id}/customers/{customer.customer_id}"
            listed = await self.charge.get(f"{base}/payment-methods")
            if listed.status_code != 200 or not customer.booking_ids:
                return listed.status_code == 200
            # The card-entry page answers 200 only once it knows every booking.
            page = await self.charge.get(
                f"{base}/charge/new-card", params={"booking_ids": ",".join(customer.booking_ids)}
            )
            return page.status_code == 200

        await eventually(known)

    async def tokenize(self, number: str) -> str:
        """What Stripe.js does in the browser: turn a card number into a PaymentMethod."""
        response = await self.stripe.post(
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": number,
                "card[exp_month]": "12",
                "card[exp_year]": "2034",
                "card[cvc]": "123",
            },
        )
        assert response.status_code == 200, response.text
        payment_method_id: str = response.json()["id"]
        return payment_method_id

    async def save_card(self, customer: Customer, number: str = VISA) -> dict[str, Any]:
        payment_method_id = await self.tokenize(number)
        response = await self.charge.post(
            f"/v1/accounts/{customer.account_id}/customers/{customer.customer_id}/payment-methods",
            json={"payment_method_id": payment_method_id, "make_default": True},
        )
        assert response.status_code == 201, response.text
        customer.payment_method_id = payment_method_id
        card: dict[str, Any] = response.json()
        return card

    async def charge_card_on_file(
        self,
        customer: Customer,
        amount: int,
        *,
        charge_id: str | None = None,
        currency: str = "usd",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "customer_id": customer.customer_id,
            "booking_ids": customer.booking_ids,
            "amount": amount,
            "currency": currency,
            "method": "card_on_file",
        }
        if charge_id:
            body["charge_id"] = charge_id
        return await self.charge.post(
            f"/v1/accounts/{customer.account_id}/charges", json=body, headers=headers
        )

    async def charge_status(self, customer: Customer, charge_id: str) -> dict[str, Any]:
        response = await self.charge.get(f"/v1/accounts/{customer.account_id}/charges/{charge_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def wait_charge_done(
        self, customer: Customer, charge_id: str, timeout: float = 30
    ) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            charge = await self.charge_status(customer, charge_id)
            return charge if charge["status"] in ("succeeded", "failed") else None

        result: dict[str, Any] = await eventually(done, timeout=timeout)
        return result

    async def get_booking(self, customer: Customer, booking_id: str) -> dict[str, Any]:
        response = await self.booking.get(
            f"/v1/accounts/{customer.account_id}/bookings/{booking_id}"
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def payment_intents(
        self, stripe_customer_hint: str | None = None
    ) -> list[dict[str, Any]]:
        """PaymentIntents in the Stripe stand-in (all, or those whose metadata names a charge)."""
        response = await self.stripe.get("/v1/payment_intents", params={"limit": 100})
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        if stripe_customer_hint is None:
            return data
        return [
            pi for pi in data if (pi.get("metadata") or {}).get("charge_id") == stripe_customer_hint
        ]
