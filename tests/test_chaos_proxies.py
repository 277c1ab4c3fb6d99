"""The chaos run's fault proxies against a small upstream of their own: the Stripe proxy keeps
Stripe's idempotency contract across a lost answer and applies each armed fault once; the
webhook proxy loses, duplicates and delays; the SMTP proxy drops the reply after DATA."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaos.proxies import SmtpProxy, StripeProxy, WebhookProxy

pytestmark = pytest.mark.asyncio(loop_scope="session")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Upstream:
    """Counts the requests it applied; answers each with its number."""

    def __init__(self) -> None:
        self.applied: list[bytes] = []
        self.paths: list[str] = []
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.applied.append(await request.read())
        self.paths.append(request.path)
        return web.json_response({"id": f"pi_{len(self.applied)}"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest_asyncio.fixture(loop_scope="session")
async def upstream() -> AsyncIterator[Upstream]:
    server = Upstream()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def stripe(upstream: Upstream) -> AsyncIterator[StripeProxy]:
    proxy = StripeProxy("127.0.0.1", free_port(), f"http://127.0.0.1:{upstream.port}")
    await proxy.start()
    yield proxy
    await proxy.stop()


KEY = {"Idempotency-Key": "charge:1", "Authorization": "Bearer sk_test"}


async def test_a_lost_answer_is_replayed_for_the_same_key_not_applied_twice(
    upstream: Upstream, stripe: StripeProxy
) -> None:
    stripe.faults.arm("stripe_response_lost", 1)
    async with httpx.AsyncClient(base_url=stripe.url) as client:
        with pytest.raises(httpx.TransportError):
            await client.post("/v1/payment_intents", content=b"amount=100", headers=KEY)
        again = await client.post("/v1/payment_intents", content=b"amount=100", headers=KEY)
        other_params = await client.post("/v1/payment_intents", content=b"amount=200", headers=KEY)
        new_key = await client.post(
            "/v1/payment_intents", content=b"amount=100", headers={**KEY, "Idempotency-Key": "2"}
        )

    assert (again.status_code, again.json()["id"]) == (200, "pi_1")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other_params.status_code == 400
    assert other_params.json()["error"]["type"] == "idempotency_error"
    assert new_key.json()["id"] == "pi_2"
    assert upstream.applied == [b"amount=100", b"amount=100"]
    assert stripe.faults.applied == {"stripe_response_lost": 1}


async def test_a_5xx_is_not_applied_and_not_saved(upstream: Upstream, stripe: StripeProxy) -> None:
    stripe.faults.arm("stripe_5xx", 1)
    async with httpx.AsyncClient(base_url=stripe.url) as client:
        refused = await client.post("/v1/payment_intents", content=b"amount=100", headers=KEY)
        retried = await client.post("/v1/payment_intents", content=b"amount=100", headers=KEY)

    assert refused.status_code == 503
    assert (retried.status_code, retried.json()["id"]) == (200, "pi_1")
    assert len(upstream.applied) == 1


async def test_without_idempotency_a_repeated_key_is_applied_again(upstream: Upstream) -> None:
    proxy = StripeProxy(
        "127.0.0.1", free_port(), f"http://127.0.0.1:{upstream.port}", idempotency=False
    )
    await proxy.start()
    try:
        async with httpx.AsyncClient(base_url=proxy.url) as client:
            for _ in range(2):
                await client.post("/v1/payment_intents", content=b"amount=100", headers=KEY)
    finally:
        await proxy.stop()

    assert len(upstream.applied) == 2


async def test_webhooks_lost_duplicated_and_delayed(upstream: Upstream) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # a first instance that is down
    proxy = WebhookProxy("127.0.0.1", free_port(), [down, f"http://127.0.0.1:{upstream.port}"])
    proxy.HOLD_SECONDS = 0.3
    await proxy.start()
    try:
        async with httpx.AsyncClient(base_url=proxy.url) as client:
            for kind, body in (
                ("webhook_lost", b"1"),
                ("webhook_duplicated", b"2"),
                ("webhook_delayed", b"3"),
            ):
                proxy.faults.arm(kind, 1)
                assert (await client.post("/hook", content=body)).status_code == 200
            await client.post("/hook", content=b"4")
            await asyncio.sleep(0.6)
    finally:
        await proxy.stop()

    assert upstream.applied == [b"2", b"2", b"4", b"3"]
    assert set(upstream.paths) == {"/hook"}


async def test_smtp_reply_dropped_after_data_but_the_message_was_taken() -> None:
    received: list[bytes] = []
    port = free_port()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink\r\n")
        in_data = False
        while line := await reader.readline():
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    writer.write(b"250 queued\r\n")
                else:
                    received.append(line)
            elif line.upper().startswith(b"DATA"):
                in_data = True
                writer.write(b"354 go ahead\r\n")
            elif line.upper().startswith(b"QUIT"):
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(sink, "127.0.0.1", port)
    proxy = SmtpProxy("127.0.0.1", free_port(), port)
    await proxy.start()

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", proxy.port, timeout=5) as smtp:
            smtp.sendmail("a@example.com", ["b@example.com"], "Subject: hi\r\n\r\nhello\r\n")

    try:
        await asyncio.to_thread(send)
        proxy.faults.arm("smtp_drop_after_data", 1)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            await asyncio.to_thread(send)
        await asyncio.to_thread(send)
    finally:
        await proxy.stop()
        server.close()

    assert received.count(b"hello\r\n") == 3
    assert proxy.faults.applied == {"smtp_drop_after_data": 1}
