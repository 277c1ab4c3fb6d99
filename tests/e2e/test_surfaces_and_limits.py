"""What the public can reach and how much it can send: the payment pages and the Stripe webhook
are served apart from the staff APIs; bodies are limited before they are read whole; a charge
takes a bounded number of card attempts; the staff docs load nothing from elsewhere."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from typing import Any

import httpx
import pytest
from bookpay_devstack.system import Services

from .support import DECLINES_AFTER_ATTACH, Bookpay
from .test_new_card import charge_new_card

pytestmark = pytest.mark.asyncio(loop_scope="session")

PUBLIC = ("charge-service", "link-service")
STAFF = ("booking-service", "charge-service", "link-service", "notification-service")


def concrete(path: str) -> str:
    """An OpenAPI path with every parameter filled in."""
    return re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", path)


@pytest.mark.parametrize("service", PUBLIC)
async def test_the_public_apps_expose_no_staff_route_and_no_docs(
    system: Services, service: str
) -> None:
    async with httpx.AsyncClient(base_url=system.url(service), timeout=15) as staff:
        openapi = (await staff.get("/openapi.json")).json()
    async with httpx.AsyncClient(base_url=system.public_url(service), timeout=15) as public:
        assert (await public.get("/healthz")).status_code == 200
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
            assert (await public.get(path)).status_code == 404, path
        walked = 0
        for path, operations in openapi["paths"].items():
            if path in ("/healthz", "/readyz"):
                continue
            for method in operations:
                response = await public.request(method.upper(), concrete(path), json={})
                assert response.status_code in (404, 405), (method, path, response.status_code)
                assert response.status_code == 404 or method.upper() != "GET"
                walked += 1
        assert walked > 3


async def test_the_webhook_and_the_pages_are_not_on_the_staff_ports(system: Services) -> None:
    async with httpx.AsyncClient(base_url=system.url("charge-service"), timeout=15) as staff:
        assert (await staff.post("/v1/stripe/webhooks", content=b"{}")).status_code == 404
    async with httpx.AsyncClient(base_url=system.url("link-service"), timeout=15) as staff:
        assert (await staff.get(f"/pay/{secrets.token_urlsafe(32)}")).status_code == 404
        assert (await staff.get("/assets/pay.js")).status_code == 404


@pytest.mark.parametrize("service", STAFF)
async def test_the_staff_docs_load_nothing_from_another_origin(
    system: Services, service: str
) -> None:
    async with httpx.AsyncClient(base_url=system.url(service), timeout=15) as staff:
        docs = await staff.get("/docs")
        assert docs.status_code == 200
        html = docs.text
        assert re.findall(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", html) == []
        assert "cdn" not in html.lower() and "https://" not in html
        assets = re.findall(r"""(?:src|href)\s*=\s*["'](/[^"']+)["']""", html)
        assert len(assets) >= 3
        for asset in assets:
            assert (await staff.get(asset)).status_code == 200, asset
        assert (await staff.get("/openapi.json")).status_code == 200


async def raw_request(port: int, head: bytes, body: bytes = b"") -> tuple[bytes, float]:
    """Send `head` (and `body`) on a connection of our own; the status line that comes back
    and how long it took, without ever sending what the head promised."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        started = asyncio.get_running_loop().time()
        writer.write(head + body)
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), timeout=5)
        return status, asyncio.get_running_loop().time() - started
    finally:
        writer.close()


def head(path: str, **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(total: int, size: int = 8192) -> bytes:
    chunks = []
    while total > 0:
        n = min(size, total)
        chunks.append(f"{n:x}\r\n".encode() + b" " * n + b"\r\n")
        total -= n
    return b"".join(chunks) + b"0\r\n\r\n"


def targets(system: Services) -> list[tuple[str, int, str]]:
    return [
        ("booking staff API", system.port("booking-service"), "/v1/accounts"),
        ("charge staff API", system.port("charge-service"), "/v1/accounts/x/charges"),
        ("Stripe webhook", system.config.public_port("charge-service"), "/v1/stripe/webhooks"),
        ("payment pages", system.config.public_port("link-service"), "/pay/x/payment"),
    ]


async def test_an_oversized_declared_body_is_refused_before_it_is_sent(system: Services) -> None:
    for name, port, path in targets(system):
        # 100 MB promised, one byte sent: the answer comes at once, nothing is waited for.
        status, took = await raw_request(port, head(path, Content_Length="100000000"), b"{")
        assert status.startswith(b"HTTP/1.1 413"), (name, status)
        assert took < 3, (name, took)


async def test_a_chunked_body_is_cut_off_once_over_the_limit(system: Services) -> None:
    for name, port, path in targets(system):
        limit = 256 * 1024 if name == "Stripe webhook" else 64 * 1024
        body = chunked(limit + 64 * 1024)
        status, _ = await raw_request(port, head(path, Transfer_Encoding="chunked"), body)
        assert status.startswith(b"HTTP/1.1 413"), (name, status)


async def test_a_body_within_the_limit_still_reaches_the_route(bookpay: Bookpay) -> None:
    response = await bookpay.booking.post("/v1/accounts", json={"name": "x" * 40_000})
    assert response.status_code == 422  # the route's own validation, not the body limit


async def test_a_charge_takes_a_bounded_number_of_card_attempts(bookpay: Bookpay) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [2100])
    charge_id = await charge_new_card(
        bookpay, customer, 2100, await bookpay.tokenize(DECLINES_AFTER_ATTACH), save=False
    )
    failed = await bookpay.wait_charge_done(customer, charge_id)
    assert failed["status"] == "failed"
    url = f"/v1/accounts/{customer.account_id}/charges/{charge_id}/attempts"
    headers = {"X-Forwarded-For": f"10.9.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"}
    answers: list[httpx.Response] = []
    for _ in range(6):
        pm = await bookpay.tokenize(DECLINES_AFTER_ATTACH)
        answer = await bookpay.charge.post(url, json={"payment_method_id": pm}, headers=headers)
        answers.append(answer)
        if answer.status_code == 429:
            break
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    refused: dict[str, Any] = answers[-1].json()["error"]
    assert refused["code"] == "too_many_attempts"
    assert "5 card attempts" in refused["message"] and "payment link" in refused["message"]
    charge = await bookpay.charge_status(customer, charge_id)
    assert (charge["status"], charge["attempts"]) == ("failed", 5)


def every_app(system: Services) -> list[tuple[str, int]]:
    """Every HTTP app of every service, by port: the staff APIs and the public apps."""
    return [(f"{s} staff API", system.port(s)) for s in STAFF] + [
        (f"{s} public app", system.config.public_port(s)) for s in PUBLIC
    ]


async def whole_exchange(port: int, request: bytes) -> tuple[bytes, bytes]:
    """Send the whole request on a connection of our own (as a client that does not read
    while it writes), then read the whole answer: its head and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


async def test_a_huge_url_or_huge_headers_get_an_answer_not_a_reset(system: Services) -> None:
    for name, port in every_app(system):
        url = "/healthz?q=" + "a" * 1024 * 1024
        head, body = await whole_exchange(port, f"GET {url} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert head.startswith(b"HTTP/1.1 414 URI Too Long\r\n"), (name, head[:40])
        assert json.loads(body)["error"]["code"] == "uri_too_long"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=15) as client:
            response = await client.get("/healthz", headers={"X-Padding": "b" * 40_000})
            assert response.status_code == 431, (name, response.status_code)
            assert response.json()["error"]["code"] == "headers_too_large"
            # Within the limits, the same app answers as usual.
            response = await client.get("/healthz?q=" + "a" * 7_000)
            assert response.status_code == 200, (name, response.status_code)
