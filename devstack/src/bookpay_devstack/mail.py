"""The SMTP sink as a child process, and a client for its HTTP API."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, Literal

import httpx

from .config import StackConfig
from .process import ManagedProcess, require_free_ports

FaultMode = Literal["none", "tempfail", "permfail"]


class SmtpSink:
    name = "smtp-sink"

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.messages_dir = config.runtime_dir / "smtp-sink" / "messages"
        self.process: ManagedProcess | None = None

    @property
    def client(self) -> SmtpSinkClient:
        return SmtpSinkClient(self.config.smtp_api_url)

    async def start(self) -> None:
        c = self.config
        require_free_ports(self.name, c.host, [c.smtp_port, c.smtp_api_port])
        self.process = ManagedProcess(
            self.name,
            [
                sys.executable, "-m", "bookpay_devstack.smtp_sink", "--host", c.host,
                "--smtp-port", str(c.smtp_port), "--api-port", str(c.smtp_api_port),
                "--dir", str(self.messages_dir),
            ],
            log_path=c.log_path(self.name),
            env=c.python_env(),
            echo=c.echo_logs,
        )  # fmt: skip
        self.process.start()
        await self.process.wait_http_ok(f"{c.smtp_api_url}/health", c.start_timeout)
        await self.process.wait_tcp(c.host, c.smtp_port, c.start_timeout)

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop(self.config.stop_timeout)


class SmtpSinkClient:
    """Reads and clears the sink's messages and sets its fault mode."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url.rstrip("/")

    async def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        params = {} if to is None else {"to": to}
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{self.api_url}/messages", params=params)
            response.raise_for_status()
            result: list[dict[str, Any]] = response.json()
            return result

    async def clear(self) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            (await client.delete(f"{self.api_url}/messages")).raise_for_status()

    async def set_fault(self, mode: FaultMode) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(f"{self.api_url}/faults", json={"mode": mode})
            response.raise_for_status()

    async def wait_for_messages(
        self, count: int = 1, *, to: str | None = None, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Poll until at least `count` messages (to `to`, if given) arrived."""
        deadline = time.monotonic() + timeout
        while True:
            found = await self.messages(to)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(found)} of {count} message(s) after {timeout}s")
            await asyncio.sleep(0.2)
