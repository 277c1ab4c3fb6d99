"""`bookpay-devstack kafka TOOL [ARGS...]`: Kafka's own command-line tools, run against the
local stack (or any cluster, given its address and credentials) as the `admin` principal.

    bookpay-devstack kafka topics --list
    bookpay-devstack kafka consumer-groups --describe --all-groups
    bookpay-devstack kafka console-consumer --topic payment-succeeded --from-beginning --max-messages 5
    bookpay-devstack kafka --print topics --list    (prints the plain `java` command, runs nothing)

The tools' jars (org.apache.kafka:kafka-tools and its dependencies) are fetched once into the
download cache. Each run writes the client's SASL settings to a properties file and adds
`--bootstrap-server` and `--command-config` (unless ARGS give them); every other argument goes
to the tool as it is, `--help` included. The cluster and the principal come from
`BOOKPAY_KAFKA_BOOTSTRAP_SERVERS`, `BOOKPAY_KAFKA_USERNAME`, `BOOKPAY_KAFKA_PASSWORD` (or the
options of the same names, given before TOOL); by default those of `make run`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from bookpay_shared.kafka import KafkaConnection, SaslMechanism, SecurityProtocol
from bookpay_shared.kafka_acls import ADMIN
from pydantic import SecretStr

from .config import StackConfig
from .kafka import connection_properties, ensure_tools


@dataclass(frozen=True)
class Tool:
    main_class: str
    help: str


# Kafka 4's classes (the kafka-tools artifact); since Kafka 4.2 every one of them reads the
# client's settings from `--command-config` (the console tools' `--consumer.config` and
# `--producer.config` are deprecated).
TOOLS = {
    "topics": Tool("org.apache.kafka.tools.TopicCommand", "list, describe, create, alter topics"),
    "consumer-groups": Tool(
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "list and describe consumer groups, their offsets and lag; reset offsets",
    ),
    "console-consumer": Tool(
        "org.apache.kafka.tools.consumer.ConsoleConsumer", "print a topic's records"
    ),
    "console-producer": Tool(
        "org.apache.kafka.tools.ConsoleProducer", "publish records read from stdin"
    ),
}

# The tools' own logging: warnings and errors only, on stderr (stdout carries their output).
_LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.console.ref = console
"""


def tool_command(
    libs: Path,
    tool: str,
    args: Sequence[str],
    *,
    bootstrap_servers: str,
    properties: Path,
    log4j: Path,
) -> list[str]:
    """The `java` command running `tool` with `args`, plus the connection options they lack."""
    added = []
    if "--bootstrap-server" not in args:
        added += ["--bootstrap-server", bootstrap_servers]
    if not {"--command-config", "--consumer.config", "--producer.config"} & set(args):
        added += ["--command-config", str(properties)]
    return [
        # A short-lived tool starts faster with the client compiler and the serial collector.
        "java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp", f"{libs}/*", TOOLS[tool].main_class, *added, *args,
    ]  # fmt: skip


async def prepare(
    config: StackConfig, connection: KafkaConnection, tool: str, args: Sequence[str]
) -> list[str]:
    """Fetch the tools' jars (once), write the client's settings, and return the command."""
    libs = await ensure_tools(config)
    folder = config.runtime_dir / "kafka-tools"
    folder.mkdir(parents=True, exist_ok=True)
    properties = folder / "client.properties"
    properties.touch(mode=0o600)  # it holds a password
    properties.chmod(0o600)
    properties.write_text(connection_properties(connection))
    log4j = folder / "log4j2.properties"
    log4j.write_text(_LOG4J2)
    return tool_command(
        libs, tool, args,
        bootstrap_servers=connection.bootstrap_servers, properties=properties, log4j=log4j,
    )  # fmt: skip


@dataclass(frozen=True)
class Completed:
    exit_code: int
    stdout: str  # only when captured


async def run_tool(
    config: StackConfig,
    connection: KafkaConnection,
    tool: str,
    args: Sequence[str],
    *,
    capture: bool = False,
) -> Completed:
    """Run `tool` to its end, its output on ours (or captured); cancelling stops it."""
    command = await prepare(config, connection, tool, args)
    stream = asyncio.subprocess.PIPE if capture else None
    stdin = asyncio.subprocess.DEVNULL if capture else None
    process = await asyncio.create_subprocess_exec(*command, stdin=stdin, stdout=stream)
    try:
        out, _ = await process.communicate()
    finally:
        if process.returncode is None:  # cancelled: Ctrl-C, SIGTERM, a test's timeout
            process.terminate()
            await process.wait()
    assert process.returncode is not None
    return Completed(process.returncode, (out or b"").decode(errors="replace"))


def add_parser(commands: Any) -> None:
    kafka = commands.add_parser(
        "kafka",
        help="Kafka's command-line tools (topics, consumer groups, console consumer)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    env = os.environ.get
    kafka.add_argument(
        "--bootstrap-server",
        default=env("BOOKPAY_KAFKA_BOOTSTRAP_SERVERS", StackConfig().kafka_bootstrap_servers),
    )
    kafka.add_argument(
        "--security-protocol",
        choices=get_args(SecurityProtocol),
        default=env("BOOKPAY_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
    )
    kafka.add_argument(
        "--sasl-mechanism",
        choices=get_args(SaslMechanism),
        default=env("BOOKPAY_KAFKA_SASL_MECHANISM", "PLAIN"),
    )
    kafka.add_argument("--username", default=env("BOOKPAY_KAFKA_USERNAME", ADMIN))
    kafka.add_argument(
        "--password",
        default=env("BOOKPAY_KAFKA_PASSWORD"),
        help="(better in BOOKPAY_KAFKA_PASSWORD) default: the stack's development password",
    )
    kafka.add_argument(
        "--print", action="store_true", help="print the plain `java` command instead of running it"
    )
    tools = kafka.add_subparsers(dest="tool", required=True, metavar="TOOL")
    for name, tool in TOOLS.items():
        # No options of its own: every argument after TOOL is the tool's (`cli.main`).
        parser = tools.add_parser(name, help=f"{tool.help} ({tool.main_class})", add_help=False)
        parser.set_defaults(handler=kafka_command, passes_arguments_through=True)


def connection_from_args(args: argparse.Namespace, config: StackConfig) -> KafkaConnection:
    password = args.password or config.kafka_password(args.username)
    return KafkaConnection(
        bootstrap_servers=args.bootstrap_server,
        security_protocol=args.security_protocol,
        sasl_mechanism=args.sasl_mechanism,
        username=args.username,
        password=SecretStr(password),
    )


async def kafka_command(args: argparse.Namespace) -> None:
    config = StackConfig()
    connection = connection_from_args(args, config)
    if args.print:
        print(shlex.join(await prepare(config, connection, args.tool, args.tool_args)))
        return
    completed = await run_tool(config, connection, args.tool, args.tool_args)
    if completed.exit_code != 0:
        raise SystemExit(completed.exit_code)
