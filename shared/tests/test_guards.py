"""The request body limit and the client address, on a bare ASGI app (no server needed)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from bookpay_shared.guards import BodyLimit, client_address, parse_networks
from starlette.types import Receive, Scope, Send

LIMIT = 1024


class Echo:
    """Reads the whole body, then answers with its length."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise OSError("client gone")  # as Starlette's ClientDisconnect would
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = str(size).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def client(app: Echo, limit: int = LIMIT) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=BodyLimit(app, max_bytes=limit)),
        base_url="http://test",
    )


class Chunks:
    """A streamed body: `count` chunks of `size` bytes, counting what was taken."""

    def __init__(self, size: int, count: int) -> None:
        self.size, self.count, self.sent = size, count, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.count):
            self.sent += self.size
            yield b"x" * self.size


async def test_a_body_within_the_limit_reaches_the_app() -> None:
    app = Echo()
    async with client(app) as http:
        response = await http.post("/", content=b"x" * LIMIT)
    assert (response.status_code, response.text) == (200, str(LIMIT))


async def test_a_declared_length_over_the_limit_is_refused_before_any_byte_is_read() -> None:
    app = Echo()
    body = Chunks(100, 1)
    async with client(app) as http:
        response = await http.post(
            "/", content=body, headers={"Content-Length": str(1024 * 1024 * 1024)}
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert not app.called and body.sent == 0


async def test_a_streamed_body_is_cut_off_as_soon_as_it_goes_over() -> None:
    app = Echo()
    body = Chunks(256, 1000)  # 256 kB, sent chunked (no Content-Length)
    async with client(app) as http:
        response = await http.post("/", content=body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert body.sent <= LIMIT + 2 * 256  # not read whole: cut off right after the limit


async def test_a_streamed_body_within_the_limit_is_whole() -> None:
    app = Echo()
    async with client(app) as http:
        response = await http.post("/", content=Chunks(100, 10))
    assert (response.status_code, response.text) == (200, "1000")


async def test_a_content_length_that_is_not_a_number_is_refused() -> None:
    app = Echo()
    async with client(app) as http:
        response = await http.post("/", content=b"{}", headers={"Content-Length": "lots"})
    assert response.status_code == 400 and not app.called


def scope(peer: str, forwarded: str | None = None) -> Scope:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"type": "http", "client": (peer, 5000), "headers": headers}


def test_forwarded_for_is_believed_only_from_a_trusted_proxy() -> None:
    proxies = parse_networks(["10.0.0.0/8", "127.0.0.1"])
    assert client_address(scope("203.0.113.9", "1.2.3.4"), proxies) == "203.0.113.9"
    assert client_address(scope("203.0.113.9", "1.2.3.4"), ()) == "203.0.113.9"
    assert client_address(scope("127.0.0.1", "1.2.3.4"), ()) == "127.0.0.1"
    assert client_address(scope("10.1.1.1", "198.51.100.7"), proxies) == "198.51.100.7"
    # A client cannot choose its address by sending its own X-Forwarded-For through the proxy:
    # the rightmost address that is not a proxy of ours is the one that connected to it.
    assert client_address(scope("10.1.1.1", "6.6.6.6, 198.51.100.7"), proxies) == "198.51.100.7"
    assert client_address(scope("10.1.1.1", "198.51.100.7, 10.2.2.2"), proxies) == "198.51.100.7"
    assert client_address(scope("10.1.1.1"), proxies) == "10.1.1.1"
