"""`bookpay-devstack kafka TOOL ...` runs Kafka's own tools as the admin principal: the command
it builds, the client settings it writes, and the tools against a running stack."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import NewTopic
from bookpay_devstack.cli import parse_args
from bookpay_devstack.config import StackConfig
from bookpay_devstack.kafka import connection_properties
from bookpay_devstack.kafka_tools import connection_from_args, run_tool, tool_command
from bookpay_devstack.stack import Stack
from bookpay_shared.kafka import KafkaConnection
from bookpay_shared.topics import CHARGE_REQUESTED
from pydantic import SecretStr

LIBS, PROPERTIES, LOG4J = Path("/cache/libs"), Path("/run/client.properties"), Path("/run/l.prop")


def command(tool: str, *args: str) -> list[str]:
    return tool_command(
        LIBS, tool, args, bootstrap_servers="b:9092", properties=PROPERTIES, log4j=LOG4J
    )


def test_every_argument_after_the_tool_goes_to_it_options_included() -> None:
    args = parse_args(["kafka", "consumer-groups", "--describe", "--all-groups", "--help"])

    assert args.tool == "consumer-groups"
    assert args.tool_args == ["--describe", "--all-groups", "--help"]


def test_a_double_dash_before_the_tool_arguments_is_dropped() -> None:
    assert parse_args(["kafka", "topics", "--", "--list"]).tool_args == ["--list"]


def test_other_commands_still_refuse_unknown_arguments() -> None:
    with pytest.raises(SystemExit):
        parse_args(["keys", "list", "--account", "a", "--bogus"])


def test_the_tool_gets_the_bootstrap_server_and_the_client_settings_then_its_arguments() -> None:
    assert command("topics", "--list")[-6:] == [
        "org.apache.kafka.tools.TopicCommand",
        "--bootstrap-server", "b:9092", "--command-config", str(PROPERTIES), "--list",
    ]  # fmt: skip
    assert "-cp" in command("topics") and f"{LIBS}/*" in command("topics")


def test_options_given_to_the_tool_are_not_added_again() -> None:
    built = command("console-consumer", "--bootstrap-server", "x:1", "--consumer.config", "c")

    assert built.count("--bootstrap-server") == 1 and "x:1" in built
    assert "--command-config" not in built


def test_each_tool_runs_its_kafka_4_class() -> None:
    assert "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand" in command(
        "consumer-groups"
    )
    assert "org.apache.kafka.tools.consumer.ConsoleConsumer" in command("console-consumer")


def test_the_stack_admin_logs_in_with_its_development_password_by_default() -> None:
    config = StackConfig()
    connection = connection_from_args(parse_args(["kafka", "topics"]), config)

    assert connection.bootstrap_servers == config.kafka_bootstrap_servers
    assert connection.username == "admin"
    assert connection.password == SecretStr(config.kafka_password("admin"))


def test_client_settings_quote_the_credentials_for_jaas_and_the_properties_file() -> None:
    connection = KafkaConnection(
        "k:9093", "SASL_SSL", "SCRAM-SHA-512", username="ops", password=SecretStr('a"b\\c')
    )

    assert connection_properties(connection).splitlines() == [
        "bootstrap.servers=k:9093",
        "security.protocol=SASL_SSL",
        "sasl.mechanism=SCRAM-SHA-512",
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="ops" password="a\\\\"b\\\\\\\\c";',
    ]


def test_a_cluster_without_authentication_gets_no_sasl_settings() -> None:
    assert connection_properties(KafkaConnection("k:9092")) == (
        "bootstrap.servers=k:9092\nsecurity.protocol=PLAINTEXT\n"
    )


@pytest.mark.integration
@pytest.mark.timeout(600)
async def test_the_tools_list_topics_and_groups_and_print_a_record(stack: Stack) -> None:
    connection = stack.kafka_connection()
    topic, group = f"kafka-tools-{uuid.uuid4().hex[:8]}", f"kafka-tools-{uuid.uuid4().hex[:8]}"

    async def tool(name: str, *args: str) -> str:
        async with asyncio.timeout(120):
            completed = await run_tool(stack.config, connection, name, args, capture=True)
        assert completed.exit_code == 0, completed.stdout
        return completed.stdout

    assert CHARGE_REQUESTED in (await tool("topics", "--list")).split()

    async with stack.kafka.admin() as admin:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    producer = AIOKafkaProducer(**stack.kafka_client_args(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b'{"hello": "ops"}', key=b"k1")
    finally:
        await producer.stop()

    printed = await tool(
        "console-consumer", "--topic", topic, "--group", group, "--from-beginning",
        "--max-messages", "1", "--timeout-ms", "60000", "--formatter-property", "print.key=true",
    )  # fmt: skip
    assert printed.splitlines() == ['k1\t{"hello": "ops"}']

    assert group in (await tool("consumer-groups", "--list")).split()
