"""Which Stripe errors are tried again, and the client every service builds."""

from __future__ import annotations

import asyncio
import logging

import pytest
import stripe
from bookpay_shared.stripe_api import STRIPE_API_VERSION, is_transient, new_client

TRANSIENT = [
    stripe.APIConnectionError("connection reset"),
    stripe.RateLimitError("too many requests", http_status=429),
    stripe.APIError("internal error", http_status=500),
    stripe.APIError("bad gateway", http_status=502),
    stripe.APIError("no answer"),  # an API error without an HTTP status
    stripe.InvalidRequestError("object locked", None, http_status=400, code="lock_timeout"),
    stripe.IdempotencyError("a request with this key is in progress", http_status=409),
]
ANSWERS = [
    stripe.CardError("declined", None, "card_declined", http_status=402),
    stripe.InvalidRequestError("no such payment_intent", "intent", http_status=404),
    stripe.InvalidRequestError("invalid amount", "amount", http_status=400),
    stripe.AuthenticationError("invalid API key", http_status=401),
    stripe.PermissionError("not allowed on this account", http_status=403),
]


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: f"{type(e).__name__}-{e.http_status}")
def test_what_may_succeed_later_is_transient(error: stripe.StripeError) -> None:
    assert is_transient(error)


@pytest.mark.parametrize("error", ANSWERS, ids=lambda e: f"{type(e).__name__}-{e.http_status}")
def test_an_answer_is_not_tried_again(error: stripe.StripeError) -> None:
    assert not is_transient(error)


async def test_the_client_sends_the_pinned_version_to_the_given_base() -> None:
    heads: list[bytes] = []

    async def stripe_stand_in(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        body = b'{"object": "balance", "available": [], "pending": [], "livemode": false}'
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(stripe_stand_in, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client, http = new_client(
        "sk_test_x", f"http://127.0.0.1:{port}", timeout_seconds=5, max_network_retries=0
    )
    try:
        balance = await client.v1.balance.retrieve_async()
    finally:
        await http.close_async()
        server.close()

    assert balance.object == "balance"
    [head] = heads
    assert head.startswith(b"GET /v1/balance ")
    assert f"stripe-version: {STRIPE_API_VERSION}".encode() in head.lower()


def test_stripe_python_never_logs_response_bodies() -> None:
    # At DEBUG it logs every response body, client secrets included.
    assert not logging.getLogger("stripe").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("stripe").isEnabledFor(logging.INFO)
