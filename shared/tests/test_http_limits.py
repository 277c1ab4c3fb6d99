"""The HTTP server's limits on a request's head, over a real socket: uvicorn with
`BoundedHttpToolsProtocol` on a free port, as the services run it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import uvicorn
from bookpay_shared.http_limits import MAX_HEADER_BYTES, MAX_URL_BYTES, BoundedHttpToolsProtocol
from starlette.types import Receive, Scope, Send


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers 200 with the length of the body it read."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = str(size).encode()
    length = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": length})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    config = uvicorn.Config(
        echo_length,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_config=None,
        http=BoundedHttpToolsProtocol,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    await serving


async def exchange(port: int, request: bytes) -> tuple[int, bytes]:
    """Send the whole request, then read the whole answer: its status and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def get(target: str, *headers: str) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_a_megabyte_url_is_answered_414_with_a_reason(port: int) -> None:
    status, body = await exchange(port, get("/" + "a" * 1024 * 1024))
    assert status == 414
    assert json.loads(body)["error"] == {
        "code": "uri_too_long",
        "message": f"The request's URL is longer than {MAX_URL_BYTES} bytes.",
    }


async def test_a_url_at_the_limit_is_served(port: int) -> None:
    assert (await exchange(port, get("/" + "a" * (MAX_URL_BYTES - 1))))[0] == 200
    assert (await exchange(port, get("/" + "a" * MAX_URL_BYTES)))[0] == 414


async def test_too_many_header_bytes_are_answered_431(port: int) -> None:
    many = [f"X-Padding-{i}: {'b' * 1000}" for i in range(MAX_HEADER_BYTES // 1000 + 1)]
    status, body = await exchange(port, get("/", *many))
    assert status == 431
    assert json.loads(body)["error"]["code"] == "headers_too_large"
    assert (await exchange(port, get("/", *many[:10])))[0] == 200


async def test_one_endless_header_is_answered_431(port: int) -> None:
    status, _ = await exchange(port, get("/", "X-Padding: " + "b" * 1024 * 1024))
    assert status == 431


async def test_a_large_body_sent_with_its_head_is_not_counted_as_head(port: int) -> None:
    body = b"x" * 200_000
    head = get("/", f"Content-Length: {len(body)}").replace(b"GET", b"POST", 1)
    status, answer = await exchange(port, head + body)
    assert (status, answer) == (200, b"200000")


async def test_requests_on_one_connection_each_get_the_limit_afresh(port: int) -> None:
    keep_alive = ("GET /" + "a" * 6000 + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(20):
            writer.write(keep_alive)
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), timeout=10)
            assert status.startswith(b"HTTP/1.1 200"), status
            while (await reader.readline()) != b"\r\n":
                pass
            await reader.readexactly(1)  # the body: "0"
    finally:
        writer.close()


async def test_a_malformed_request_is_still_uvicorns_400(port: int) -> None:
    assert (await exchange(port, b"NOT HTTP AT ALL\r\n\r\n"))[0] == 400
