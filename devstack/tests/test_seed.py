"""The demo that `make run` seeds: a customer with a saved Visa and two unpaid bookings, which the
printed charge command pays in full; a second seed on kept data reuses it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from bookpay_devstack.seed import ACCOUNT_NAME, Demo, Endpoints, seed
from bookpay_devstack.system import Services

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest_asyncio.fixture(loop_scope="session")
async def http(system: Services) -> AsyncIterator[httpx.AsyncClient]:
    """A client with the platform key, to look at what the seed made."""
    platform = {"Authorization": f"Bearer {system.stack.config.platform_key}"}
    async with httpx.AsyncClient(timeout=15, headers=platform) as client:
        yield client


async def get(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await http.get(url)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def bookings_of(http: httpx.AsyncClient, system: Services, demo: Demo) -> dict[str, str]:
    """booking_id -> status, as staff see them on the customer's page."""
    url = f"{system.url('booking-service')}/v1/accounts/{demo.account_id}"
    customer = await get(http, f"{url}/customers/{demo.customer_id}")
    return {b["booking_id"]: b["status"] for b in customer["bookings"]}


async def test_the_demo_customer_has_a_saved_visa_and_two_unpaid_bookings(
    system: Services, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    demo = await seed(Endpoints.of(system), tmp_path / "demo.json")

    charge = f"{system.url('charge-service')}/v1/accounts/{demo.account_id}"
    cards = await get(http, f"{charge}/customers/{demo.customer_id}/payment-methods")
    assert [(c["brand"], c["last4"], c["is_default"]) for c in cards["payment_methods"]] == [
        ("visa", "4242", True)
    ]
    assert cards["payment_methods"][0]["payment_method_id"] == demo.payment_method_id
    assert await bookings_of(http, system, demo) == {b: "unpaid" for b in demo.booking_ids}
    account = await get(http, f"{system.url('booking-service')}/v1/accounts/{demo.account_id}")
    assert (account["name"], len(account["admins"])) == (ACCOUNT_NAME, 2)
    connection = await get(http, f"{charge}/stripe-connection")
    assert connection["stripe_account_id"] == demo.stripe_account_id
    assert Demo.from_json((tmp_path / "demo.json").read_text()) == demo


async def test_the_printed_charge_pays_both_bookings_in_full(
    system: Services, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    demo = await seed(Endpoints.of(system), tmp_path / "demo.json")

    accepted = await http.post(
        f"{system.url('charge-service')}/v1/accounts/{demo.account_id}/charges",
        json=demo.charge_request(),
        headers={"Authorization": f"Bearer {demo.api_key}"},  # as the printed curl sends it
    )

    assert accepted.status_code == 202, accepted.text
    assert await wait_for_statuses(http, system, demo, "charged_in_full")


async def test_a_second_seed_reuses_the_demo_and_replaces_paid_bookings(
    system: Services, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    endpoints, saved = Endpoints.of(system), tmp_path / "demo.json"
    first = await seed(endpoints, saved)
    assert await seed(endpoints, saved) == first

    accepted = await http.post(
        f"{system.url('charge-service')}/v1/accounts/{first.account_id}/charges",
        json=first.charge_request(),
        headers={"Authorization": f"Bearer {first.api_key}"},
    )
    assert accepted.status_code == 202, accepted.text
    await wait_for_statuses(http, system, first, "charged_in_full")
    third = await seed(endpoints, saved)

    same = (first.account_id, first.customer_id, first.payment_method_id)
    assert (third.account_id, third.customer_id, third.payment_method_id) == same
    assert not set(third.booking_ids) & set(first.booking_ids)
    statuses = await bookings_of(http, system, third)
    assert [statuses[b] for b in third.booking_ids] == ["unpaid", "unpaid"]


async def wait_for_statuses(
    http: httpx.AsyncClient, system: Services, demo: Demo, status: str, timeout: float = 30
) -> bool:
    async with asyncio.timeout(timeout):
        while True:
            statuses = await bookings_of(http, system, demo)
            if all(statuses[b] == status for b in demo.booking_ids):
                return True
            await asyncio.sleep(0.2)
