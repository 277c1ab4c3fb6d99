"""`bookpay-devstack`: start bookpay's local infrastructure and keep it up until Ctrl-C/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from .config import StackConfig
from .process import StartupError
from .stack import Stack, run_infra

log = logging.getLogger("bookpay_devstack")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bookpay-devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    infra = commands.add_parser("infra", help="start Kafka, PostgreSQL, localstripe, SMTP sink")
    add_config_arguments(infra)
    infra.set_defaults(handler=infra_command)
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


def print_addresses(stack: Stack) -> None:
    addresses = stack.addresses()
    width = max(map(len, addresses))
    print("bookpay dev stack is up:", flush=True)
    for name, address in addresses.items():
        print(f"  {name.ljust(width)}  {address}", flush=True)
    print("Ctrl-C stops it.", flush=True)


async def infra_command(args: argparse.Namespace) -> None:
    async with run_infra(config_from_args(args)) as stack:
        print_addresses(stack)
        await asyncio.Event().wait()


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


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for chatty in ("httpx", "aiokafka"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    sys.exit(asyncio.run(run_until_signalled(args.handler, args)))


if __name__ == "__main__":
    main()
