"""localstripe (a stateful fake of the Stripe API) as a child process, with its webhook set up."""

from __future__ import annotations

import sys

import httpx

from .config import StackConfig
from .process import ManagedProcess, require_free_ports

WEBHOOK_NAME = "bookpay"


class LocalStripe:
    name = "localstripe"

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.home = config.runtime_dir / "localstripe"
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return self.config.stripe_url

    async def start(self) -> None:
        c = self.config
        require_free_ports(self.name, c.host, [c.stripe_port])
        self.home.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            self.name,
            [
                sys.executable, "-m", "bookpay_devstack.localstripe_server",
                "--host", c.host, "--port", str(c.stripe_port),
                "--state", str(self.home / "state.pickle"),
                *([] if c.stripe_persist_state else ["--in-memory"]),
            ],
            log_path=c.log_path(self.name),
            env=c.python_env(),
            echo=c.echo_logs,
        )  # fmt: skip
        self.process.start()
        # The Stripe.js stand-in needs no key, so it answers as soon as the server listens.
        await self.process.wait_http_ok(f"{self.url}/js.stripe.com/v3/", c.start_timeout)
        await self.configure_webhook(c.stripe_webhook_url, c.stripe_webhook_secret)

    async def configure_webhook(
        self, url: str, secret: str, events: list[str] | None = None, name: str = WEBHOOK_NAME
    ) -> None:
        """Point localstripe's signed webhooks (all events, or `events`) at `url`."""
        payload: dict[str, object] = {"url": url, "secret": secret}
        if events is not None:
            payload["events"] = events
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(f"{self.url}/_config/webhooks/{name}", json=payload)
            response.raise_for_status()

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop(self.config.stop_timeout)
