"""Errors become `{"error": {...}}` with their status, and keep the headers that go with them."""

from __future__ import annotations

import httpx
from bookpay_shared.http import ApiError, RateLimited, install_error_handlers
from fastapi import FastAPI


class Unauthenticated(ApiError):
    status_code = 401
    code = "unauthenticated"
    headers = {"WWW-Authenticate": 'Basic realm="test"'}


def app() -> FastAPI:
    api = FastAPI()
    install_error_handlers(api)

    @api.get("/limited")
    async def limited() -> None:
        raise RateLimited(2.2, "too many; wait")

    @api.get("/unauthenticated")
    async def unauthenticated() -> None:
        raise Unauthenticated("no credential")

    return api


async def get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


async def test_a_rate_limited_request_is_told_when_to_come_back() -> None:
    answer = await get("/limited")

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "3"
    assert answer.json() == {"error": {"code": "rate_limited", "message": "too many; wait"}}


async def test_an_errors_own_headers_are_sent_with_it() -> None:
    answer = await get("/unauthenticated")

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="test"'
