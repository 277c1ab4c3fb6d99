"""Errors become `{"error": {...}}` with their status, and keep the headers that go with them."""

from __future__ import annotations

import socket

import asyncpg
import httpx
from bookpay_shared.http import (
    NOT_FOUND,
    ApiError,
    ErrorAnswer,
    RateLimited,
    install_error_handlers,
)
from fastapi import FastAPI
from pydantic import BaseModel


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

    @api.get("/database")
    async def database() -> None:
        # A database that is down: nothing listens on the port.
        await asyncpg.connect(f"postgresql://u:p@127.0.0.1:{closed_port()}/db", timeout=5)

    @api.get("/database-shutting-down")
    async def shutting_down() -> None:
        raise asyncpg.exceptions.CannotConnectNowError("the database system is shutting down")

    @api.get("/database-dropped-mid-query")
    async def dropped() -> None:
        # What asyncpg raised for a query in flight when PostgreSQL shut down (a chaos run).
        raise asyncpg.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        )

    @api.get("/bug")
    async def bug() -> None:
        raise KeyError("a bug")

    return api


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
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


async def test_a_database_that_is_down_is_a_503_to_retry_not_a_500() -> None:
    for path in ("/database", "/database-shutting-down", "/database-dropped-mid-query"):
        answer = await get(path)

        assert answer.status_code == 503, (path, answer.text)
        assert answer.headers["Retry-After"] == "1"
        assert answer.json()["error"]["code"] == "unavailable"


async def test_a_bug_is_still_a_500() -> None:
    answer = await get("/bug")

    assert answer.status_code == 500
    assert answer.json() == {"error": {"code": "internal_error", "message": "internal error"}}


class UnknownThing(LookupError):
    """A use case's error, which knows nothing of HTTP."""


class UnknownWidget(UnknownThing):
    pass


class StripeAway(Exception):
    pass


def answering_app() -> FastAPI:
    api = FastAPI()
    install_error_handlers(
        api,
        {
            UnknownThing: NOT_FOUND,
            UnknownWidget: ErrorAnswer(422, "unknown_widget", "cannot use it: "),
            StripeAway: ErrorAnswer(503, "stripe_unavailable", retry_after=2),
        },
    )

    @api.get("/raise/{what}")
    async def raising(what: str) -> None:
        errors = {"thing": UnknownThing, "widget": UnknownWidget, "stripe": StripeAway}
        raise errors[what](f"no {what} 7")

    return api


async def answer(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=answering_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path)


async def test_a_use_case_error_is_answered_as_listed() -> None:
    found = await answer("/raise/thing")
    assert (found.status_code, found.json()) == (
        404,
        {"error": {"code": "not_found", "message": "no thing 7"}},
    )


async def test_the_most_specific_listed_class_wins_and_prefixes_its_message() -> None:
    found = await answer("/raise/widget")
    assert (found.status_code, found.json()["error"]) == (
        422,
        {"code": "unknown_widget", "message": "cannot use it: no widget 7"},
    )


async def test_an_answer_may_ask_the_client_to_retry_later() -> None:
    found = await answer("/raise/stripe")
    assert (found.status_code, found.headers["retry-after"]) == (503, "2")
    assert found.json()["error"]["code"] == "stripe_unavailable"


class Customer(BaseModel):
    name: str
    email: str
    tags: list[str] = []


def customers_app() -> FastAPI:
    api = FastAPI()
    install_error_handlers(api)

    @api.post("/customers")
    async def create(customer: Customer) -> Customer:
        return customer

    return api


async def post_raw(body: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=customers_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post(
            "/customers", content=body, headers={"content-type": "application/json"}
        )


async def test_bytes_that_are_not_utf8_are_refused_with_the_fields_named() -> None:
    found = await post_raw(b'{"name": "Kay\xffaks", "email": "a@x.co", "tags": ["ok", "b\xe9"]}')

    assert found.status_code == 422
    error = found.json()["error"]
    assert error["code"] == "invalid_request"
    assert [f["field"] for f in error["fields"]] == ["name", "tags.1"]
    assert error["message"] == "name: not valid UTF-8; tags.1: not valid UTF-8"


async def test_a_body_unreadable_even_so_is_named_as_the_body() -> None:
    found = await post_raw(b'{"name": \xff')

    assert found.status_code == 422
    assert found.json()["error"]["fields"] == [{"field": "body", "message": "not valid UTF-8"}]
