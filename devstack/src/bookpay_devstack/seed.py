"""The demo that `bookpay-devstack run` seeds: a business with two administrators and a
connected Stripe account, a customer with a saved Visa, and two unpaid bookings. Everything is
made through the services' HTTP APIs (with the platform key), the card through the Stripe
stand-in as Stripe.js would. The demo account gets an API key (every account scope), which the
printed commands use; `--keep-data` keeps it while it is not revoked.

The demo's ids are kept in `<runtime dir>/demo.json`. A run with `--keep-data` reuses the account
and customer when they still exist, the saved card while it is still the default, and the
bookings while both are unpaid; paid bookings are replaced by two new unpaid ones, so the printed
charge command always has a balance to charge. Without `--keep-data` the runtime directory is
emptied at start, so every run seeds a new demo.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from bookpay_shared import projections
from bookpay_shared.auth import ACCOUNT_SCOPES
from bookpay_shared.money import format_amount

from .process import StartupError
from .system import Services

__all__ = ["ACCOUNT_NAME", "DEMO_FILE", "Demo", "DemoBooking", "Endpoints", "SeedError", "seed"]

DEMO_FILE = "demo.json"

ACCOUNT_NAME = "Harbour Kayak Tours"
ADMINS = (
    {"name": "Maya Okafor", "email": "maya@harbour-kayak.example.com"},
    {"name": "Tom Reyes", "email": "tom@harbour-kayak.example.com"},
)
BUSINESS = {
    "time_zone": "America/Halifax",
    "locale": "en-CA",
    "reply_to": "bookings@harbour-kayak.example.com",
    "contact_phone": "+1 902 555 0142",
    "contact_email": "bookings@harbour-kayak.example.com",
    "brand_colour": "#0b5d7a",
    "policy_text": "Full refund up to 48 hours before your tour; after that, we are happy to "
    "move you to another date.",
}
"""The demo business: the times its customers see are Halifax time."""
CUSTOMER = {"name": "Jordan Lee", "email": "jordan.lee@example.com"}
CURRENCY = "usd"
BOOKINGS = (("Sunset paddle, 2 kayaks", 6000), ("Sea cave tour, 2 guests", 8500))
# What Stripe.js would send for a card typed into the Card Element (localstripe's success card).
VISA_FIELDS = {
    "type": "card",
    "card[number]": "4242424242424242",
    "card[exp_month]": "12",
    "card[exp_year]": "2034",
    "card[cvc]": "123",
}


class SeedError(StartupError):
    """A service refused a step of the demo, or did not catch up in time."""


@dataclass(frozen=True)
class Endpoints:
    """Where the seed finds the services and the Stripe stand-in."""

    booking_url: str
    charge_url: str
    stripe_url: str
    stripe_secret_key: str
    platform_key: str
    """The services' platform key: creates the account and the demo's API key."""
    charge_database_dsn: str
    """Read (never written) to wait until charge-service's projections know the bookings."""

    @classmethod
    def of(cls, services: Services) -> Endpoints:
        stack = services.stack
        return cls(
            booking_url=services.url("booking-service"),
            charge_url=services.url("charge-service"),
            stripe_url=stack.stripe_url,
            stripe_secret_key=stack.config.stripe_api_key,
            platform_key=stack.config.platform_key,
            charge_database_dsn=stack.postgres_dsn(services.specs["charge-service"].database),
        )


@dataclass(frozen=True)
class DemoBooking:
    booking_id: str
    title: str
    amount: int


@dataclass(frozen=True)
class Demo:
    account_id: str
    stripe_account_id: str
    customer_id: str
    bookings: tuple[DemoBooking, ...]
    payment_method_id: str
    card: str
    """For people: "visa ending 4242"."""
    currency: str = CURRENCY
    api_key: str = ""
    """The demo account's API key, made by this run (kept in demo.json, a local file)."""

    @property
    def booking_ids(self) -> list[str]:
        return [b.booking_id for b in self.bookings]

    @property
    def balance_due(self) -> int:
        return sum(b.amount for b in self.bookings)

    def charge_request(self) -> dict[str, Any]:
        """The body of a card-on-file charge of the whole balance."""
        return {
            "customer_id": self.customer_id,
            "booking_ids": self.booking_ids,
            "amount": self.balance_due,
            "currency": self.currency,
            "method": "card_on_file",
        }

    def charge_curl(self, charge_url: str) -> str:
        body = json.dumps(self.charge_request(), separators=(",", ":"))
        url = f"{charge_url}/v1/accounts/{self.account_id}/charges"
        return (
            f"curl -sS -X POST {url} {self.auth_header()} -H 'Content-Type: application/json' "
            f"-d {shlex.quote(body)}"
        )

    def auth_header(self) -> str:
        """curl's option that sends the demo's API key."""
        return "-H " + shlex.quote(f"Authorization: Bearer {self.api_key}")

    def describe(self) -> dict[str, str]:
        """The demo's ids and what they are, for people."""
        lines = {
            "account_id": f"{self.account_id}  ({ACCOUNT_NAME}, Stripe {self.stripe_account_id})",
            "customer_id": f"{self.customer_id}  ({CUSTOMER['name']}, {self.card} saved)",
            "payment_method_id": self.payment_method_id,
            "api_key": f"{self.api_key}  (this account's key, every scope but accounts:create)",
        }
        for i, b in enumerate(self.bookings, start=1):
            amount = format_amount(b.amount, self.currency)
            lines[f"booking_id {i}"] = f"{b.booking_id}  ({b.title}, {amount}, unpaid)"
        return lines

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Demo:
        data = json.loads(text)
        data["bookings"] = tuple(DemoBooking(**b) for b in data["bookings"])
        return cls(**data)


async def seed(endpoints: Endpoints, saved: Path | None = None, *, timeout: float = 60.0) -> Demo:
    """Make the demo (or bring back the one in `saved`) and store its ids in `saved`."""
    previous = _load(saved)
    async with _Api(endpoints) as api:
        demo = await _seed(api, endpoints, previous, timeout)
    if saved is not None:
        _store(saved, demo)
    return demo


async def _seed(api: _Api, endpoints: Endpoints, previous: Demo | None, timeout: float) -> Demo:
    if previous is not None and not await _still_there(api, previous):
        previous = None
    account_id = previous.account_id if previous else await _new_account(api)
    customer_id = previous.customer_id if previous else await _new_customer(api, account_id)
    stripe_account_id = await _connected_stripe_account(api, endpoints, previous)
    await api.call(
        "PUT",
        f"{endpoints.charge_url}/v1/accounts/{account_id}/stripe-connection",
        json={"stripe_account_id": stripe_account_id},
    )
    bookings = await _unpaid_bookings(api, endpoints, account_id, customer_id, previous)
    await _wait_known_to_charge_service(api, endpoints, account_id, customer_id, bookings, timeout)
    payment_method_id, card = await _default_card(api, endpoints, account_id, customer_id, previous)
    api_key = previous.api_key if previous and previous.api_key else ""
    if not await _key_works(api, account_id, api_key):
        api_key = await _new_api_key(api, account_id)
    return Demo(
        account_id,
        stripe_account_id,
        customer_id,
        bookings,
        payment_method_id,
        card,
        api_key=api_key,
    )


def _load(saved: Path | None) -> Demo | None:
    if saved is None or not saved.is_file():
        return None
    try:
        return Demo.from_json(saved.read_text())
    except (ValueError, TypeError, KeyError):
        return None


def _store(saved: Path, demo: Demo) -> None:
    saved.write_text(demo.to_json() + "\n")


async def _still_there(api: _Api, previous: Demo) -> bool:
    base = f"{api.endpoints.booking_url}/v1/accounts/{previous.account_id}"
    account = await api.client.get(base)
    customer = await api.client.get(f"{base}/customers/{previous.customer_id}")
    return account.status_code == 200 and customer.status_code == 200


async def _new_account(api: _Api) -> str:
    account = await api.call(
        "POST",
        f"{api.endpoints.booking_url}/v1/accounts",
        json={
            "name": ACCOUNT_NAME,
            "admins": list(ADMINS),
            "notify_admins_on_link_payment": True,
            **BUSINESS,
        },
    )
    return str(account["account_id"])


async def _key_works(api: _Api, account_id: str, api_key: str) -> bool:
    if not api_key:
        return False
    url = f"{api.endpoints.booking_url}/v1/accounts/{account_id}"
    answer = await api.client.get(url, headers={"Authorization": f"Bearer {api_key}"})
    return answer.status_code == 200


async def _new_api_key(api: _Api, account_id: str) -> str:
    created = await api.call(
        "POST",
        f"{api.endpoints.booking_url}/v1/accounts/{account_id}/api-keys",
        json={"scopes": sorted(ACCOUNT_SCOPES), "description": "demo (bookpay-devstack run)"},
    )
    key = str(created["key"])
    # charge-service learns keys from booking-service's events: the printed curl needs it there.
    probe = f"{api.endpoints.charge_url}/v1/accounts/{account_id}/stripe-connection"
    try:
        async with asyncio.timeout(30):
            while True:
                answer = await api.client.get(probe, headers={"Authorization": f"Bearer {key}"})
                if answer.status_code != 401:
                    break
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise SeedError("charge-service did not learn the demo's API key within 30s") from None
    return key


async def _new_customer(api: _Api, account_id: str) -> str:
    customer = await api.call(
        "POST", f"{api.endpoints.booking_url}/v1/accounts/{account_id}/customers", json=CUSTOMER
    )
    return str(customer["customer_id"])


async def _unpaid_bookings(
    api: _Api, endpoints: Endpoints, account_id: str, customer_id: str, previous: Demo | None
) -> tuple[DemoBooking, ...]:
    """The previous demo's bookings while all are unpaid, else two new ones."""
    base = f"{endpoints.booking_url}/v1/accounts/{account_id}"
    if previous is not None:
        customer = await api.call("GET", f"{base}/customers/{customer_id}")
        status = {b["booking_id"]: b["status"] for b in customer.get("bookings") or []}
        if all(status.get(b.booking_id) == "unpaid" for b in previous.bookings):
            return previous.bookings
    # 07:00 in the business's own zone, what its customers read on the page and in emails (an
    # aware datetime plus days keeps the wall-clock time across a daylight-saving change).
    local = datetime.now(ZoneInfo(BUSINESS["time_zone"]))
    first_day = local.replace(hour=7, minute=0, second=0, microsecond=0)
    made = []
    for day, (title, amount) in enumerate(BOOKINGS, start=7):
        booking = await api.call(
            "POST",
            f"{base}/bookings",
            json={
                "customer_id": customer_id,
                "title": title,
                "starts_at": (first_day + timedelta(days=day)).isoformat(),
                "amount": amount,
                "currency": CURRENCY,
            },
        )
        made.append(DemoBooking(str(booking["booking_id"]), title, amount))
    return tuple(made)


async def _wait_known_to_charge_service(
    api: _Api,
    endpoints: Endpoints,
    account_id: str,
    customer_id: str,
    bookings: Sequence[DemoBooking],
    timeout: float,
) -> None:
    """charge-service learns customers and bookings from booking-service's events: wait until
    it knows the customer (its payment-methods answer 200) and holds every booking unpaid."""
    methods = f"{endpoints.charge_url}/v1/accounts/{account_id}/customers/{customer_id}"
    methods += "/payment-methods"
    wanted = [uuid.UUID(b.booking_id) for b in bookings]
    conn = await asyncpg.connect(endpoints.charge_database_dsn)
    try:
        async with asyncio.timeout(timeout):
            while True:
                if (await api.client.get(methods)).status_code == 200:
                    break
                await asyncio.sleep(0.2)
            while True:
                known = await projections.get_bookings(conn, uuid.UUID(account_id), wanted)
                if len(known) == len(wanted) and all(k.amount_paid == 0 for k in known):
                    return
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise SeedError(
            f"charge-service did not learn the demo customer {customer_id} and its bookings "
            f"within {timeout:.0f}s (see charge-service.log)"
        ) from None
    finally:
        await conn.close()


async def _connected_stripe_account(api: _Api, endpoints: Endpoints, previous: Demo | None) -> str:
    """The previous demo's Stripe account while the stand-in still knows it, else a new account
    connected to the platform, made as a platform makes one before onboarding it (charge-service
    checks with Stripe that the account is connected before it records the connection)."""
    platform = (endpoints.stripe_secret_key, "")
    if previous is not None:
        known = await api.client.get(
            f"{endpoints.stripe_url}/v1/accounts/{previous.stripe_account_id}", auth=platform
        )
        if known.is_success:
            return previous.stripe_account_id
    created = await api.call(
        "POST", f"{endpoints.stripe_url}/v1/accounts", data={"type": "standard"}, auth=platform
    )
    return str(created["id"])


async def _default_card(
    api: _Api, endpoints: Endpoints, account_id: str, customer_id: str, previous: Demo | None
) -> tuple[str, str]:
    """The previous demo's card while it is still the default, else a new Visa saved as it."""
    url = f"{endpoints.charge_url}/v1/accounts/{account_id}/customers/{customer_id}"
    url += "/payment-methods"
    if previous is not None:
        listed = await api.call("GET", url)
        for card in listed["payment_methods"]:
            if card["payment_method_id"] == previous.payment_method_id and card["is_default"]:
                return previous.payment_method_id, previous.card
    tokenized = await api.call(
        "POST",
        f"{endpoints.stripe_url}/v1/payment_methods",
        data=VISA_FIELDS,
        auth=(endpoints.stripe_secret_key, ""),
    )
    saved = await api.call(
        "POST", url, json={"payment_method_id": tokenized["id"], "make_default": True}
    )
    return str(saved["payment_method_id"]), f"{saved['brand']} ending {saved['last4']}"


class _Api:
    """One HTTP client; `call` returns the JSON body of a 2xx answer, else raises SeedError."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        self.client = httpx.AsyncClient(
            timeout=15.0, headers={"Authorization": f"Bearer {endpoints.platform_key}"}
        )

    async def __aenter__(self) -> _Api:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.client.aclose()

    async def call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise SeedError(f"seeding the demo: {method} {url} failed: {error!r}") from error
        if not response.is_success:
            raise SeedError(
                f"seeding the demo: {method} {url} answered {response.status_code}: "
                f"{response.text[:500]}"
            )
        body: dict[str, Any] = response.json()
        return body
