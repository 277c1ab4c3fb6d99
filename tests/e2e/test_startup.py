"""A service that starts before its database and Kafka are reachable waits for them: it answers
its probes (alive, not ready) and refuses work with 503 meanwhile, never exits, and becomes
ready by itself once they are there."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services

from .support import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVICE = "notification-service"


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def forwarding(port: int, target: tuple[str, int]) -> AsyncIterator[None]:
    """Listen on `port` and pass every connection through to `target`: a dependency that
    appears at that address only now."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = await asyncio.start_server(connected, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()


async def test_a_service_started_before_its_database_and_kafka_waits_for_them(
    stack: Stack, system: Services
) -> None:
    dsn = urlsplit(stack.postgres_dsn(system.specs[SERVICE].database))
    kafka_host, kafka_port = stack.kafka_bootstrap_servers.rsplit(":", 1)
    db_port, broker_port = unused_port(), unused_port()
    moved_dsn = urlunsplit(dsn._replace(netloc=dsn.netloc.rsplit(":", 1)[0] + f":{db_port}"))
    process = system.start(
        SERVICE,
        {
            "NOTIFICATION_DATABASE_URL": moved_dsn,
            # Only the bootstrap goes through here: the broker then gives its own address.
            "NOTIFICATION_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{broker_port}",
        },
        instance=2,
    )
    try:
        url = system.url(SERVICE, instance=2)
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:

            async def alive() -> bool:
                return (await client.get("/healthz")).status_code == 200

            await eventually(alive, timeout=60)
            starting = await client.get("/readyz")
            assert starting.status_code == 503, starting.text
            assert starting.json()["status"] == "starting"
            work = await client.get(
                "/v1/accounts/00000000-0000-0000-0000-000000000001/notifications"
            )
            assert work.status_code == 503, work.text
            assert work.json()["error"]["code"] == "starting"
            assert work.headers["retry-after"]

            async with forwarding(db_port, (dsn.hostname or "127.0.0.1", dsn.port or 5432)):
                await asyncio.sleep(3)  # the database is back, Kafka is not: still starting
                assert (await client.get("/readyz")).json()["status"] == "starting"
                assert process.running

                async with forwarding(broker_port, (kafka_host, int(kafka_port))):

                    async def ready() -> bool:
                        return (await client.get("/readyz")).status_code == 200

                    await eventually(ready, timeout=90, interval=0.5)
                    answered = await client.get(
                        "/v1/accounts/00000000-0000-0000-0000-000000000001/notifications"
                    )
                    assert answered.status_code != 503, answered.text
        assert process.running, process.tail()
    finally:
        await process.stop()
