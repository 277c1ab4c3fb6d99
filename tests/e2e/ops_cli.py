"""Running bookpay-ops against the test stack, as an ops person would from a terminal: the
same typer app, given the stack's Kafka and service addresses and credentials as options."""

from __future__ import annotations

import asyncio

from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services
from bookpay_ops.cli import app
from bookpay_ops.config import SERVICES
from typer.testing import CliRunner, Result

WIDE = {"COLUMNS": "250"}
"""Tables wide enough to keep every id whole."""


def connection_options(stack: Stack, system: Services, **urls: str) -> list[str]:
    """The options that point bookpay-ops at the test stack as Kafka's super user, a
    service's URL replaced by `urls` (e.g. `link="http://…"`)."""
    kafka = stack.kafka_connection()
    options = [
        "--bootstrap-server",
        kafka.bootstrap_servers,
        "--security-protocol",
        kafka.security_protocol,
        "--sasl-mechanism",
        kafka.sasl_mechanism,
        "--platform-key",
        stack.config.platform_key,
    ]
    if kafka.username and kafka.password:
        options += ["--username", kafka.username, "--password", kafka.password.get_secret_value()]
    for service in SERVICES:
        short = service.split("-")[0]
        options += [f"--{short}-url", urls.get(short, system.url(service))]
    return options


async def run_ops(stack: Stack, system: Services, *command: str, **urls: str) -> Result:
    """`bookpay-ops <connection options> <command...>`; the result holds output and exit code.
    Run in a thread: the commands run their own event loop, as they do from a terminal."""
    args = [*connection_options(stack, system, **urls), *command]
    runner = CliRunner(env=WIDE)
    return await asyncio.to_thread(lambda: runner.invoke(app, args))
