"""Fault proxies: the chaos run puts one in front of each outside party a service talks to, so
that faults can be injected where real ones happen (the network), not inside our code.

- `StripeProxy`: charge-service and link-service call Stripe through it. Armed with a fault, it
  answers the next requests with a 5xx without forwarding them, forwards them and then drops
  the connection before the answer (the request was applied upstream, the caller never learns
  it), or forwards them slowly. It keeps Stripe's idempotency-key contract, which the stand-in
  lacks (see `StripeProxy`).
- `WebhookProxy`: the Stripe stand-in sends its signed webhooks through it to charge-service.
  Armed, it loses the next webhooks (answers 200, forwards nothing), forwards them twice, or
  holds them back and forwards them later, after newer ones (out of order).
- `SmtpProxy`: notification-service sends email through it to the SMTP sink. It can refuse
  connections (its listening socket closed) or drop the connection right after the sink
  accepted a message's DATA, so the sender does not know the email went out.

Each proxy counts the faults it actually applied, by kind; the report shows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from aiohttp import web

log = logging.getLogger("chaos.proxies")

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}
)


class Armed:
    """Faults waiting for the next requests: `arm(kind, count)` makes the next `count`
    requests suffer `kind`; `take()` hands out one armed fault (or None)."""

    def __init__(self) -> None:
        self._queue: list[str] = []
        self.applied: Counter[str] = Counter()

    def arm(self, kind: str, count: int) -> None:
        self._queue.extend([kind] * count)

    def disarm(self) -> None:
        self._queue.clear()

    def take(self) -> str | None:
        if not self._queue:
            return None
        kind = self._queue.pop(0)
        self.applied[kind] += 1
        return kind


def _forwardable(headers: aiohttp.typedefs.LooseHeaders) -> dict[str, str]:
    return {k: v for k, v in dict(headers).items() if k.lower() not in HOP_BY_HOP}


class _HttpProxy:
    """An aiohttp server forwarding every request to `upstream`."""

    def __init__(self, host: str, port: int, upstream: str) -> None:
        self.host = host
        self.port = port
        self.upstream = upstream.rstrip("/")
        self.faults = Armed()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def forward(self, request: web.Request, body: bytes) -> web.Response:
        assert self._session is not None
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=_forwardable(request.headers),
            data=body,
        ) as answer:
            content = await answer.read()
            return web.Response(
                status=answer.status, body=content, headers=_forwardable(answer.headers)
            )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError


@dataclass(frozen=True)
class _Saved:
    body_hash: str
    status: int
    body: bytes
    headers: dict[str, str]


class StripeProxy(_HttpProxy):
    """In front of the Stripe stand-in, for the services' API calls.

    It also keeps Stripe's idempotency contract, which the stand-in ignores: a POST with an
    `Idempotency-Key` that reached Stripe is saved (per credential, connected account and
    key), and the same key again is answered with the saved answer instead of being applied
    twice; the same key with other parameters is refused (400 `idempotency_error`). A request
    refused before it reached Stripe (the `stripe_5xx` fault) is not saved, as with Stripe. A
    second request with a key still in progress waits for the first, where Stripe would
    answer 409. With `idempotency=False` the proxy forwards keys untouched (the stand-in
    alone), which shows what bookpay does against a Stripe without them."""

    SLOW_SECONDS = 4.0

    def __init__(self, host: str, port: int, upstream: str, *, idempotency: bool = True) -> None:
        super().__init__(host, port, upstream)
        self.idempotency = idempotency
        self._saved: dict[tuple[str, str, str], _Saved] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self.replayed = 0

    def _scope(self, request: web.Request) -> tuple[str, str, str] | None:
        key = request.headers.get("Idempotency-Key")
        if not self.idempotency or request.method != "POST" or not key:
            return None
        credential = request.headers.get("Authorization", "")
        return (credential, request.headers.get("Stripe-Account", ""), key)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        fault = self.faults.take()
        if fault == "stripe_5xx":
            return web.json_response(
                {"error": {"type": "api_error", "message": "chaos: upstream unavailable"}},
                status=503,
            )
        if fault == "stripe_slow":
            await asyncio.sleep(self.SLOW_SECONDS)
        scope = self._scope(request)
        if scope is None:
            answer = await self._forward_or_502(request, body)
        else:
            async with self._locks.setdefault(scope, asyncio.Lock()):
                answer = await self._once(scope, request, body)
        if fault == "stripe_response_lost":
            # Applied upstream; the caller sees the connection drop before any answer.
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        return answer

    async def _once(
        self, scope: tuple[str, str, str], request: web.Request, body: bytes
    ) -> web.Response:
        body_hash = hashlib.sha256(request.path_qs.encode() + b"\0" + body).hexdigest()
        saved = self._saved.get(scope)
        if saved is not None:
            if saved.body_hash != body_hash:
                return web.json_response(
                    {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with"
                            " the same parameters they were first used with.",
                        }
                    },
                    status=400,
                )
            self.replayed += 1
            headers = {**saved.headers, "Idempotent-Replayed": "true"}
            return web.Response(status=saved.status, body=saved.body, headers=headers)
        answer = await self._forward_or_502(request, body)
        if answer.status != 502:
            content = answer.body if isinstance(answer.body, bytes) else b""
            self._saved[scope] = _Saved(body_hash, answer.status, content, dict(answer.headers))
        return answer

    async def _forward_or_502(self, request: web.Request, body: bytes) -> web.Response:
        try:
            return await self.forward(request, body)
        except aiohttp.ClientError as exc:
            return web.json_response(
                {"error": {"type": "api_error", "message": str(exc)}}, status=502
            )


class WebhookProxy(_HttpProxy):
    """Between the Stripe stand-in's webhooks and charge-service's webhook app(s) (`targets`:
    base URLs; the path is the webhook's own): the first target that answers takes the
    webhook (a second charge-service instance stands in for the first while it is down)."""

    HOLD_SECONDS = 6.0

    def __init__(self, host: str, port: int, targets: Sequence[str]) -> None:
        super().__init__(host, port, targets[0])
        self.targets = [t.rstrip("/") for t in targets]
        self._held: set[asyncio.Task[None]] = set()

    async def deliver(self, request: web.Request, body: bytes) -> web.Response:
        last: web.Response | None = None
        for target in self.targets:
            self.upstream = target
            try:
                last = await self.forward(request, body)
            except aiohttp.ClientError:
                continue
            if last.status < 500:
                return last
        return last or web.json_response({"error": "no webhook target reachable"}, status=502)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        fault = self.faults.take()
        if fault == "webhook_lost":
            return web.json_response({"received": True})
        if fault == "webhook_delayed":
            task = asyncio.create_task(self._later(request, body))
            self._held.add(task)
            task.add_done_callback(self._held.discard)
            return web.json_response({"received": True})
        answer = await self.deliver(request, body)
        if fault == "webhook_duplicated":
            answer = await self.deliver(request, body)
        return answer

    async def _later(self, request: web.Request, body: bytes) -> None:
        await asyncio.sleep(self.HOLD_SECONDS)
        with contextlib.suppress(Exception):
            await self.deliver(request, body)

    async def stop(self) -> None:
        for task in list(self._held):
            task.cancel()
        await super().stop()


class SmtpProxy:
    """A TCP proxy in front of the SMTP sink that can refuse connections for a while and drop a
    connection right after the sink's reply to the end of DATA."""

    def __init__(self, host: str, port: int, upstream_port: int) -> None:
        self.host = host
        self.port = port
        self.upstream_port = upstream_port
        self.faults = Armed()
        self._server: asyncio.Server | None = None
        self._refusing = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()

    async def refuse_for(self, seconds: float) -> None:
        """Close the listening socket (new connections are refused; those open carry on),
        reopen it after `seconds`."""
        self.faults.applied["smtp_refused"] += 1
        if self._server is not None:
            self._server.close()
            self._server = None
        await asyncio.sleep(seconds)
        await self.start()

    async def _connection(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        try:
            up_in, up_out = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            client_out.close()
            return
        data_ended = asyncio.Event()
        upstream = asyncio.create_task(self._client_to_upstream(client_in, up_out, data_ended))
        self._tasks.add(upstream)
        upstream.add_done_callback(self._tasks.discard)
        try:
            await self._upstream_to_client(up_in, client_out, data_ended)
        finally:
            upstream.cancel()
            for writer in (client_out, up_out):
                with contextlib.suppress(Exception):
                    writer.close()

    @staticmethod
    async def _client_to_upstream(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data_ended: asyncio.Event
    ) -> None:
        in_data = False
        tail = b""
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
            window = tail + chunk
            if not in_data and b"DATA\r\n" in window.upper():
                in_data = True
                window = window.upper().split(b"DATA\r\n", 1)[1]
            if in_data and b"\r\n.\r\n" in window:
                in_data = False
                data_ended.set()
            tail = window[-8:]

    async def _upstream_to_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data_ended: asyncio.Event
    ) -> None:
        while chunk := await reader.read(65536):
            if data_ended.is_set():
                data_ended.clear()
                if self.faults.take() == "smtp_drop_after_data":
                    # The sink accepted the message; the sender never sees the 250.
                    transport = writer.transport
                    transport.abort()
                    return
            writer.write(chunk)
            await writer.drain()
