"""`bookpay-devstack`: start bookpay locally and keep it up until Ctrl-C/SIGTERM.

`infra` starts the infrastructure only; `run` starts it, then the four services, then seeds a
demo customer to charge; `keys` creates, lists and revokes an account's API keys through
booking-service's API, with the platform key; `kafka` runs Kafka's own command-line tools
(topics, consumer groups, console consumer) against the stack's broker.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bookpay_shared.money import format_amount

from . import kafka_tools, keys
from .config import StackConfig
from .process import StartupError, require_free_ports
from .seed import ACCOUNT_NAME, DEMO_FILE, Demo, Endpoints, seed
from .stack import Stack, run_infra
from .system import Services, SystemConfig, process_label

log = logging.getLogger("bookpay_devstack")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bookpay-devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    infra = commands.add_parser("infra", help="start Kafka, PostgreSQL, localstripe, SMTP sink")
    add_config_arguments(infra)
    infra.set_defaults(handler=infra_command)
    run = commands.add_parser(
        "run", help="start the infrastructure and the four services, and seed a demo customer"
    )
    add_config_arguments(run)
    run.add_argument(
        "--instances",
        action="append",
        default=[],
        metavar="SERVICE=N",
        help="run N processes of a service (e.g. charge-service=2); repeatable",
    )
    run.set_defaults(handler=run_command)
    keys.add_parser(commands)
    kafka_tools.add_parser(commands)
    return parser


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by every command that starts a stack."""
    parser.add_argument("--cache-dir", type=Path, help="download cache (default .cache/devstack)")
    parser.add_argument("--runtime-dir", type=Path, help="data and logs (default var/devstack)")
    parser.add_argument("--keep-data", action="store_true", help="keep the previous run's data")
    parser.add_argument("--echo", action="store_true", help="also print components' logs")
    parser.add_argument(
        "--postgres-url", help="use this PostgreSQL server (a DSN) instead of starting one"
    )


def config_from_args(args: argparse.Namespace) -> StackConfig:
    changes: dict[str, Any] = {"keep_data": args.keep_data, "echo_logs": args.echo}
    if args.cache_dir is not None:
        changes["cache_dir"] = args.cache_dir.resolve()
    if args.runtime_dir is not None:
        changes["runtime_dir"] = args.runtime_dir.resolve()
    if args.postgres_url:
        changes["external_postgres_url"] = args.postgres_url
    return StackConfig(**changes)


def print_table(title: str, rows: dict[str, str]) -> None:
    width = max(map(len, rows))
    print(title, flush=True)
    for name, value in rows.items():
        print(f"  {name.ljust(width)}  {value}", flush=True)


def print_addresses(stack: Stack) -> None:
    print_table("bookpay dev stack is up:", stack.addresses())
    print("Ctrl-C stops it.", flush=True)


async def infra_command(args: argparse.Namespace) -> None:
    async with run_infra(config_from_args(args)) as stack:
        print_addresses(stack)
        await asyncio.Event().wait()


async def run_command(args: argparse.Namespace) -> None:
    """Infrastructure, services, demo; stops the services, then the infrastructure, on exit."""
    started = time.monotonic()
    config = config_from_args(args)
    system = SystemConfig(echo=True, instances=parse_instances(args.instances))
    ports = system.all_ports()
    require_free_ports("bookpay services", config.host, ports)
    async with run_infra(config) as stack:
        services = Services(stack, system)
        try:
            await start_services(services)
            log.info("services healthy after %.1fs", time.monotonic() - started)
            demo = await seed(Endpoints.of(services), config.runtime_dir / DEMO_FILE)
            print_ready(stack, services, demo, time.monotonic() - started)
            await services.supervise()
        finally:
            await services.stop_all()


def parse_instances(values: list[str]) -> dict[str, int]:
    """`["charge-service=2"]` → `{"charge-service": 2}`; unknown services and counts below 1
    are refused."""
    known = {spec.name for spec in SystemConfig().specs()}
    counts: dict[str, int] = {}
    for value in values:
        name, _, count = value.partition("=")
        if name not in known or not count.isdigit() or int(count) < 1:
            raise StartupError(
                f"--instances {value!r}: expected SERVICE=N with N >= 1, SERVICE one of "
                + ", ".join(sorted(known))
            )
        counts[name] = int(count)
    return counts


async def start_services(services: Services) -> None:
    """Start every instance of every service, then wait until each one's /readyz answers."""
    for name, instance in services.instances():
        services.start(name, instance=instance)
    try:
        async with asyncio.TaskGroup() as group:
            for name, instance in services.instances():
                group.create_task(services.wait_healthy(name, instance=instance))
    except BaseExceptionGroup as failures:
        errors = failures.exceptions
        if not all(isinstance(e, StartupError) for e in errors):
            raise
        raise StartupError("\n\n".join(map(str, errors))) from None


def print_ready(stack: Stack, services: Services, demo: Demo, seconds: float) -> None:
    logs = stack.logs_dir
    urls = {
        process_label(
            name, n
        ): f"{services.url(name, n)}  (log {logs / process_label(name, n)}.log)"
        for name, n in services.instances()
    }
    urls["payment pages (public)"] = f"{services.public_url('link-service')}/pay/<token>"
    urls["Stripe webhook (public)"] = f"{services.public_url('charge-service')}/v1/stripe/webhooks"
    print_table("\nbookpay services:", urls)
    print_table("infrastructure:", stack.addresses())
    print_table(f"demo ({ACCOUNT_NAME}):", demo.describe())
    charge_url = services.url("charge-service")
    booking_url = services.url("booking-service")
    account = f"/v1/accounts/{demo.account_id}"
    print(
        "charge the card on file for the whole balance "
        f"({format_amount(demo.balance_due, demo.currency)}):",
        f"  {demo.charge_curl(charge_url)}",
        "follow the charge (its charge_id is in the answer) and the bookings:",
        f"  curl -sS {demo.auth_header()} {charge_url}{account}/charges/CHARGE_ID",
        f"  curl -sS {demo.auth_header()} {booking_url}{account}/customers/{demo.customer_id}",
        f"emails sent: curl -sS {stack.smtp_api_url}/messages",
        f"started in {seconds:.1f}s; Ctrl-C stops everything.",
        "bookpay is ready",
        sep="\n",
        flush=True,
    )


def cancel_on_signals(task: asyncio.Task[Any]) -> None:
    """The first SIGINT/SIGTERM cancels `task` (which then stops the stack); later ones wait."""
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if task.cancelling():
            log.warning("%s: already stopping, please wait", sig.name)
            return
        log.info("%s: stopping", sig.name)
        task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)


async def run_until_signalled(
    command: Callable[[argparse.Namespace], Coroutine[Any, Any, None]], args: argparse.Namespace
) -> int:
    task = asyncio.current_task()
    assert task is not None
    cancel_on_signals(task)
    try:
        await command(args)
    except asyncio.CancelledError:
        print("stopped.", flush=True)
        return 0
    except StartupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The arguments; a command that passes arguments through (`kafka TOOL ...`) gets every
    argument after its name as `tool_args`, options included."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "passes_arguments_through", False):
        args.tool_args = rest[1:] if rest[:1] == ["--"] else rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for chatty in ("httpx", "aiokafka"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    sys.exit(asyncio.run(run_until_signalled(args.handler, args)))


if __name__ == "__main__":
    main()
