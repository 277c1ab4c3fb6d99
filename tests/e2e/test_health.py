"""Liveness and readiness: `/healthz` says the process answers, `/readyz` that it can work
(database, Kafka producer, every consumer in its group) and follows the database."""

import contextlib
import os
import signal

import httpx
import pytest
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services

from .support import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVICES = ("booking-service", "charge-service", "link-service", "notification-service")


async def test_every_service_is_ready_with_each_consumer_group_joined(system: Services) -> None:
    for service in SERVICES:
        async with httpx.AsyncClient(base_url=system.url(service), timeout=15) as client:
            ready = await client.get("/readyz")
            alive = await client.get("/healthz")
        assert ready.status_code == 200, (service, ready.text)
        assert ready.json() == {
            "status": "ready",
            "database": True,
            "kafka": True,
            "consumers": True,
            "consumers_not_ready": [],
        }
        assert alive.json() == {"status": "ok"}


async def test_readyz_fails_while_postgresql_is_unreachable_and_recovers(
    stack: Stack, system: Services
) -> None:
    server = stack.postgres.process
    if stack.postgres.external or server is None or server.pid is None:
        pytest.skip("needs the embedded PostgreSQL (its processes are paused)")
    processes = [server.pid, *children_of(server.pid)]
    async with httpx.AsyncClient(base_url=system.url("charge-service"), timeout=15) as client:
        # Every PostgreSQL process (the server and its backends) stops answering, as a
        # server that is down or cut off would, without losing any data.
        signal_all(processes, signal.SIGSTOP)
        try:
            down = await client.get("/readyz")
            alive = await client.get("/healthz")
        finally:
            signal_all(processes, signal.SIGCONT)

        assert down.status_code == 503, down.text
        assert down.json()["status"] == "unavailable"
        assert down.json()["database"] is False
        assert alive.status_code == 200

        async def ready_again() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready_again, timeout=30)


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (PostgreSQL's backends each lead a session of their
    own, so the server's process group does not hold them)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid:
            found.append(int(entry))
    return found


def signal_all(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
