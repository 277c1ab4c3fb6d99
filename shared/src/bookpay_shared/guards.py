"""Abuse and resource limits every app shares: a request body limit and the client's address
(taken from X-Forwarded-For behind trusted proxies only). Rate limits: `ratelimit`.

`BodyLimit` is a pure ASGI middleware. A request whose `Content-Length` is over the limit is
answered 413 before a byte of its body is read; a body without a length (chunked) is counted
as it streams in, and answered 413 as soon as it goes over: the app then sees the client as
gone and whatever it answers is dropped. No body is ever held whole beyond the limit.
`UntilStarted` answers 503 to work routes while the service still waits for its dependencies.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bookpay_shared.http import error_body

DEFAULT_MAX_BODY_BYTES = 64 * 1024

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length == -1:
            await _reply(send, 400, "invalid_request", "Content-Length is not a number")
            return
        if length is not None and length > self.max_bytes:
            await self._too_large(send)
            return

        received = 0
        over = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    if not started:
                        await self._too_large(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                return  # the 413 has been sent; the app's own answer is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not over:
                raise
            # The app failed reading a body we cut off (a client "disconnect"): answered.

    async def _too_large(self, send: Send) -> None:
        await _reply(
            send,
            413,
            "body_too_large",
            f"the request body is over this endpoint's limit of {self.max_bytes} bytes",
        )


class UntilStarted:
    """Answers 503 (with Retry-After) to every request but the probes until `started()` is
    true: a service serves /healthz and /readyz while it waits for its database and Kafka,
    and its work routes only once they are there."""

    PROBES = frozenset({"/healthz", "/readyz", "/metrics"})

    def __init__(self, app: ASGIApp, started: Callable[[], bool]) -> None:
        self.app = app
        self.started = started

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.started() or scope.get("path") in self.PROBES:
            await self.app(scope, receive, send)
            return
        await _reply(
            send,
            503,
            "starting",
            "the service is starting (waiting for its database and Kafka); try again shortly",
            extra_headers=[(b"retry-after", b"2")],
        )


def _content_length(scope: Scope) -> int | None:
    """The declared body length, None when there is none, -1 when it is not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return -1
            return length if length >= 0 else -1
    return None


async def _reply(
    send: Send,
    status: int,
    code: str,
    message: str,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(error_body(code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *(extra_headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def parse_networks(entries: Iterable[str]) -> tuple[IpNetwork, ...]:
    """Addresses or networks (`10.0.0.0/8`, `127.0.0.1`, `::1`) as networks."""
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def _in(address: str, networks: tuple[IpNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(scope_or_request: Request | Scope, trusted: tuple[IpNetwork, ...]) -> str:
    """The address of the client: the connection's peer, unless that peer is a trusted proxy;
    then the rightmost address of `X-Forwarded-For` that is not itself a trusted proxy (the
    leftmost entries are whatever the client chose to send, so they are never believed)."""
    scope: Any = (
        scope_or_request.scope if isinstance(scope_or_request, Request) else scope_or_request
    )
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not trusted or not _in(peer, trusted):
        return peer
    forwarded: list[str] = [
        bytes(value).decode("latin-1")
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
    ]
    hops: list[str] = [hop.strip() for line in forwarded for hop in line.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop
    return hops[0] if hops else peer
