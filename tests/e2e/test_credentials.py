"""Staff and service credentials, on the running services: every account route needs a key, a
key reaches only its own account and only with its scopes, who acted is the key (never the
body), and a revoked key stops working in every service."""

from __future__ import annotations

import base64
import importlib
import re
import uuid
from typing import Any

import httpx
import pytest
from bookpay_devstack.events import EventLog, about
from bookpay_devstack.placeholders import placeholder_settings
from bookpay_devstack.system import Services
from bookpay_shared import topics
from bookpay_shared.api_keys import key_id_of
from fastapi import FastAPI
from fastapi.routing import APIRoute

from .links import Links
from .support import Bookpay

pytestmark = pytest.mark.asyncio(loop_scope="session")


def staff_routes(spec_app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every /v1 route of the staff app: those in its OpenAPI document, and
    any left out of it. What takes no staff credential (the payment pages, the Stripe webhook,
    which Stripe signs) is served by the public apps, not here."""
    found = {
        (method.upper(), path)
        for path, operations in spec_app.openapi()["paths"].items()
        for method in operations
    }
    found |= {
        (method, route.path)
        for route in spec_app.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    return sorted((m, p) for m, p in found if p.startswith("/v1/"))


def service_app(system: Services, name: str) -> FastAPI:
    spec = system.specs[name]
    create_app: Any = importlib.import_module(f"{spec.package}.main").create_app
    _, app = create_app(placeholder_settings(spec))
    assert isinstance(app, FastAPI)
    return app


def concrete(path: str) -> str:
    """The path with its parameters filled in (a card id looks like a card id)."""
    path = path.replace("{payment_method_id}", "pm_1Abc")
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


SERVICES = ("booking-service", "charge-service", "link-service", "notification-service")


@pytest.mark.parametrize("service", SERVICES)
async def test_every_staff_route_refuses_a_request_without_a_valid_credential(
    system: Services, service: str
) -> None:
    routes = staff_routes(service_app(system, service))
    assert routes, f"{service} has no staff route?"
    unknown_key = f"bp_test_{uuid.uuid4().hex}_{'0' * 64}"
    refused = []
    async with httpx.AsyncClient(base_url=system.url(service), timeout=15) as client:
        for method, path in routes:
            url = concrete(path)
            for headers in ({}, bearer("not-a-key"), bearer(unknown_key)):
                response = await client.request(method, url, headers=headers, json={})
                if response.status_code != 401:
                    refused.append(f"{method} {path} {headers}: {response.status_code}")
                    continue
                assert response.json()["error"]["code"] == "unauthenticated"
                assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert refused == [], "routes that answered without a valid credential"


async def test_an_accounts_key_does_not_reach_another_accounts_resources(
    bookpay: Bookpay, links: Links, event_log: EventLog, system: Services
) -> None:
    mine = await bookpay.new_account()
    theirs = await bookpay.new_customer(await bookpay.new_account(), [4000, 2000])
    await bookpay.save_card(theirs)
    charged = await bookpay.charge_card_on_file(theirs, 1000)
    assert charged.status_code == 202, charged.text
    link = await links.new_link(event_log, theirs, 1000)
    my_key = bearer(bookpay.keys.keys[mine])
    account = f"/v1/accounts/{theirs.account_id}"
    customer = f"{account}/customers/{theirs.customer_id}"
    cards = f"{customer}/payment-methods"
    attempts: list[tuple[str, str, str, dict[str, Any] | None]] = [
        ("booking-service", "GET", customer, None),
        ("booking-service", "GET", f"{account}/bookings/{theirs.booking_ids[0]}", None),
        ("booking-service", "PATCH", account, {"name": "Mine now"}),
        ("charge-service", "GET", cards, None),
        ("charge-service", "POST", cards, {"payment_method_id": "pm_1Abc"}),
        ("charge-service", "DELETE", f"{cards}/{theirs.payment_method_id}", None),
        ("charge-service", "GET", f"{account}/charges/{charged.json()['charge_id']}", None),
        ("charge-service", "PUT", f"{account}/stripe-connection", {"stripe_account_id": "acct_x"}),
        ("link-service", "GET", f"{account}/links/{link.link_id}", None),
        ("link-service", "POST", f"{account}/links/{link.link_id}/cancel", None),
        ("notification-service", "GET", f"{account}/notifications", None),
    ]
    async with httpx.AsyncClient(timeout=15) as client:
        for service, method, path, body in attempts:
            response = await client.request(
                method, system.url(service) + path, headers=my_key, json=body
            )
            assert response.status_code == 404, f"{method} {path}: {response.text}"
            assert response.json()["error"]["code"] == "not_found"
    # Nothing of theirs changed: the card is still there, the link still open.
    listed = await bookpay.charge.get(cards)
    assert [c["payment_method_id"] for c in listed.json()["payment_methods"]] == [
        theirs.payment_method_id
    ]
    assert (await links.link(theirs.account_id, link.link_id))["state"] == "active"


async def test_a_key_without_the_scope_is_refused(bookpay: Bookpay, system: Services) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [3000])
    await bookpay.save_card(customer)
    reader = bearer(await bookpay.new_key(customer.account_id, ["read"]))
    charges = f"/v1/accounts/{customer.account_id}/charges"
    body = {
        "customer_id": customer.customer_id,
        "booking_ids": customer.booking_ids,
        "amount": 3000,
        "currency": "usd",
        "method": "card_on_file",
    }

    refused = await bookpay.charge.post(charges, json=body, headers=reader)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == {
        "code": "forbidden",
        "message": "this credential lacks the scope 'charges:write'",
    }
    cards = f"/v1/accounts/{customer.account_id}/customers/{customer.customer_id}/payment-methods"
    assert (await bookpay.charge.get(cards, headers=reader)).status_code == 200
    assert (await bookpay.charge.post(cards, json={}, headers=reader)).status_code == 403
    # A key cannot make a key with more rights than it has, nor create accounts.
    charger = bearer(await bookpay.new_key(customer.account_id, ["charges:write", "keys:write"]))
    escalate = await bookpay.booking.post(
        f"/v1/accounts/{customer.account_id}/api-keys",
        json={"scopes": ["cards:write"]},
        headers=charger,
    )
    assert escalate.status_code == 403, escalate.text
    new_account = await bookpay.booking.post(
        "/v1/accounts", json={"name": "Elsewhere"}, headers=charger
    )
    assert new_account.status_code == 403, new_account.text


async def test_who_asked_for_a_charge_is_the_key_never_the_body(
    bookpay: Bookpay, event_log: EventLog
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [2500])
    await bookpay.save_card(customer)
    key = bookpay.keys.keys[customer.account_id]
    charges = f"/v1/accounts/{customer.account_id}/charges"
    body: dict[str, Any] = {
        "customer_id": customer.customer_id,
        "booking_ids": customer.booking_ids,
        "amount": 2500,
        "currency": "usd",
        "method": "card_on_file",
    }

    forged = await bookpay.charge.post(charges, json=body | {"requested_by": "the owner"})
    accepted = await bookpay.charge.post(charges, json=body)

    assert forged.status_code == 422, forged.text
    assert accepted.status_code == 202, accepted.text
    charge_id = accepted.json()["charge_id"]
    charge = await bookpay.wait_charge_done(customer, charge_id)
    assert charge["requested_by"] == f"key:{key_id_of(key)}"
    [requested] = event_log.matching(topics.CHARGE_REQUESTED, about("charge_id", charge_id))
    assert requested.get("requested_by") == f"key:{key_id_of(key)}"


async def test_a_revoked_key_is_refused_by_every_service(bookpay: Bookpay) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [1000])
    key = await bookpay.new_key(customer.account_id, ["read", "charges:write"])
    key_id = key_id_of(key)
    listed = await bookpay.booking.get(f"/v1/accounts/{customer.account_id}/api-keys")
    assert listed.json()["api_keys"][0]["key_id"] == str(key_id)  # newest first

    revoked = await bookpay.booking.delete(f"/v1/accounts/{customer.account_id}/api-keys/{key_id}")

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    await bookpay.wait_key_accepted(customer.account_id, key, accepted=False)
    refused = await bookpay.charge.post(
        f"/v1/accounts/{customer.account_id}/charges",
        json={
            "customer_id": customer.customer_id,
            "booking_ids": customer.booking_ids,
            "amount": 1000,
            "currency": "usd",
            "method": "payment_link",
        },
        headers=bearer(key),
    )
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "unauthenticated"


async def test_a_key_works_as_a_basic_user_name_and_is_listed_without_its_secret(
    bookpay: Bookpay,
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [1000])
    key = bookpay.keys.keys[customer.account_id]
    basic = base64.b64encode(f"{key}:".encode()).decode()

    seen = await bookpay.booking.get(
        f"/v1/accounts/{customer.account_id}", headers={"Authorization": f"Basic {basic}"}
    )
    listed = await bookpay.booking.get(f"/v1/accounts/{customer.account_id}/api-keys")

    assert seen.status_code == 200, seen.text
    assert key not in listed.text and key.rsplit("_", 1)[1] not in listed.text
    [entry] = listed.json()["api_keys"]
    assert entry["prefix"] == key.rsplit("_", 1)[0]
    assert entry["last_used_at"] is not None
