"""The access log: one line per request, naming the route (never a payment link's token), in
the request's trace."""

from __future__ import annotations

import io
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from bookpay_shared import tracing
from bookpay_shared.access import AccessLog
from bookpay_shared.guards import BodyLimit, parse_networks
from bookpay_shared.logs import TextFormatter
from fastapi import APIRouter, FastAPI

tracing.configure("test", environ={})

TOKEN = "Qm9vS2luZ1Bhe-_0123456789abcdefghijklmnop"


def app() -> FastAPI:
    api = FastAPI()
    pages = APIRouter()

    @pages.get("/pay/{token}")
    async def page(token: str) -> dict[str, str | None]:
        ids = tracing.current_ids()
        return {"trace_id": ids[0] if ids else None}

    @api.post("/v1/accounts/{account_id}/charges", status_code=202)
    async def charge(account_id: str) -> dict[str, str]:
        return {"account_id": account_id}

    @api.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    api.include_router(pages)
    api.add_middleware(BodyLimit, max_bytes=1024)
    api.add_middleware(AccessLog, trusted=parse_networks(("127.0.0.1",)))
    return api


@contextmanager
def access_lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(TextFormatter("link-service"))
    logger = logging.getLogger("bookpay.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)


def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False, client=("127.0.0.1", 5))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_a_payment_page_is_logged_by_its_route_in_the_requests_trace() -> None:
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    with access_lines() as out:
        async with client() as http:
            answer = await http.get(
                f"/pay/{TOKEN}?x={TOKEN}",
                headers={"traceparent": traceparent, "X-Forwarded-For": "203.0.113.9"},
            )
    assert answer.json() == {"trace_id": trace_id}  # the handler ran in the request's trace
    [line] = out.getvalue().splitlines()
    assert TOKEN not in line
    assert " GET /pay/{token} 200 in " in line
    assert line.endswith(f" ms from 203.0.113.9 trace={trace_id}")


async def test_a_request_without_traceparent_gets_a_trace_of_its_own() -> None:
    with access_lines() as out:
        async with client() as http:
            first = (await http.get(f"/pay/{TOKEN}")).json()["trace_id"]
            second = (await http.get(f"/pay/{TOKEN}")).json()["trace_id"]
    assert first and second and first != second
    assert [line.rsplit("trace=", 1)[1] for line in out.getvalue().splitlines()] == [first, second]


async def test_status_of_every_kind_of_answer() -> None:
    with access_lines() as out:
        async with client() as http:
            await http.post("/v1/accounts/acc-1/charges")
            await http.get(f"/pay/{TOKEN}/nowhere")  # no route: the path, redacted
            await http.post("/v1/accounts/acc-1/charges", content=b"x" * 2048)  # over the limit
            await http.get("/boom")
    lines = out.getvalue().splitlines()
    assert [line.split(": ", 1)[1].split(" in ")[0] for line in lines] == [
        "POST /v1/accounts/{account_id}/charges 202",
        "GET /pay/[redacted]/nowhere 404",
        "POST /v1/accounts/acc-1/charges 413",  # refused before routing: the path
        "GET /boom 500",
    ]
    assert TOKEN not in out.getvalue()
