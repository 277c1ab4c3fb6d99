"""Apache Kafka 4.x in KRaft mode (one process: broker and controller), from Maven Central jars."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from bookpay_shared.kafka import KafkaConnection
from bookpay_shared.kafka_acls import ADMIN, PRINCIPALS, Acl, all_acls
from bookpay_shared.topics import ALL_TOPICS, TopicSpec

from .config import StackConfig
from .process import ManagedProcess, require_free_ports, run_command, wait_until

log = logging.getLogger(__name__)

# Exit codes of a JVM that ran its shutdown (0, or 128 + SIGTERM from Kafka's signal handler).
_CLEAN_JVM_EXITS = (0, 143)

_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.bookpay.devstack</groupId>
  <artifactId>{name}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{kafka}</version>
    </dependency>
    <!-- Kafka's own pom names slf4j 1.7; the log4j2 binding below needs slf4j 2. -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-api</artifactId>
      <version>{slf4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j2-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = console
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
# The full configuration dumps (a thousand lines per start).
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
"""


def kafka_artifact(config: StackConfig) -> str:
    """The broker's Maven artifact."""
    return f"kafka_{config.scala_binary_version}"


# Kafka's command-line tools (ProducerPerformance, ConsumerPerformance, ...): another artifact,
# fetched into a folder of their own and only when asked for, so the broker's download stays as
# it is.
TOOLS_ARTIFACT = "kafka-tools"


def maven_coordinates(config: StackConfig, artifact: str | None = None) -> list[str]:
    return [
        f"org.apache.kafka:{artifact or kafka_artifact(config)}:{config.kafka_version}",
        f"org.slf4j:slf4j-api:{config.slf4j_version}",
        f"org.apache.logging.log4j:log4j-slf4j2-impl:{config.log4j_version}",
        f"org.apache.logging.log4j:log4j-core:{config.log4j_version}",
    ]


async def fetch_jars(config: StackConfig, artifact: str, install_dir: Path) -> Path:
    """Copy a Kafka artifact and its runtime dependencies into `install_dir/libs` (cached: a
    marker names what is there). Returns the libs folder."""
    libs_dir = install_dir / "libs"
    marker = install_dir / ".complete"
    wanted = "\n".join(maven_coordinates(config, artifact)) + "\n"
    async with _file_lock(install_dir.parent / f"{install_dir.name}.lock"):
        if marker.is_file() and marker.read_text() == wanted:
            return libs_dir
        log.info("kafka: fetching %s from Maven Central (first run only)", install_dir.name)
        pom = _write_pom(config, artifact, install_dir)
        await run_command(
            "maven",
            [
                "mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                f"-DoutputDirectory={libs_dir}", "-DincludeScope=runtime",
            ],
            log_path=config.log_path("maven"),
            timeout=900,
        )  # fmt: skip
        marker.write_text(wanted)
    return libs_dir


def _write_pom(config: StackConfig, artifact: str, install_dir: Path) -> Path:
    shutil.rmtree(install_dir / "libs", ignore_errors=True)
    install_dir.mkdir(parents=True, exist_ok=True)
    pom = install_dir / "pom.xml"
    pom.write_text(
        _POM.format(
            name=install_dir.name,
            artifact=artifact,
            kafka=config.kafka_version,
            slf4j=config.slf4j_version,
            log4j=config.log4j_version,
        )
    )
    return pom


def tools_install_dir(config: StackConfig) -> Path:
    return config.cache_dir / f"kafka-tools-{config.kafka_version}"


async def ensure_tools(config: StackConfig) -> Path:
    """Kafka's tools jars (org.apache.kafka:kafka-tools), fetched once; returns their folder,
    for `java -cp '<folder>/*' org.apache.kafka.tools.ProducerPerformance ...`."""
    return await fetch_jars(config, TOOLS_ARTIFACT, tools_install_dir(config))


def _plain_jaas(config: StackConfig, users: Sequence[str]) -> str:
    """The SASL PLAIN login of a listener: the broker's own credentials (the super user's) and
    the users it accepts."""
    accepted = " ".join(f'user_{u}="{config.kafka_password(u)}"' for u in users)
    return (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{ADMIN}" password="{config.kafka_password(ADMIN)}" {accepted};'
    )


def server_properties(config: StackConfig, data_dir: Path) -> str:
    host = config.host
    controller = f"{host}:{config.kafka_controller_port}"
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": controller,
        # Every listener authenticates (SASL PLAIN, each client its own principal) and every
        # request is authorized: what bookpay_shared.kafka_acls does not grant is refused.
        "listeners": f"BROKER://{host}:{config.kafka_port},CONTROLLER://{controller}",
        "advertised.listeners": f"BROKER://{host}:{config.kafka_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "BROKER",
        "listener.security.protocol.map": "BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.broker.plain.sasl.jaas.config": _plain_jaas(config, PRINCIPALS),
        "listener.name.controller.plain.sasl.jaas.config": _plain_jaas(config, [ADMIN]),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{ADMIN}",
        "allow.everyone.if.no.acl.found": "false",
        "log.dirs": str(data_dir),
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.segment.bytes": str(16 * 1024 * 1024),
        "log.retention.hours": "24",
        "log.retention.check.interval.ms": "60000",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def random_cluster_id() -> str:
    """A Kafka cluster id: a random UUID in URL-safe base64 without padding. It may start with
    "-", so it is passed as `--cluster-id=<id>`, never as a separate argument."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@contextlib.asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive lock between stacks sharing the cache (released when the file closes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        yield


_ACL_TOOL = Path(__file__).parent / "java" / "CreateAcls.java"


def client_properties(config: StackConfig, principal: str = ADMIN) -> str:
    """A Java Kafka client's configuration, connecting to the stack as `principal`."""
    return connection_properties(config.kafka_connection(principal))


_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def connection_properties(connection: KafkaConnection) -> str:
    """A Java Kafka client's configuration (a properties file) for `connection`."""
    settings = {
        "bootstrap.servers": connection.bootstrap_servers,
        "security.protocol": connection.security_protocol,
    }
    if connection.security_protocol.startswith("SASL"):
        assert connection.password is not None
        jaas = (
            f"{_LOGIN_MODULES[connection.sasl_mechanism]} required "
            f"username={_jaas_quoted(connection.username or '')} "
            f"password={_jaas_quoted(connection.password.get_secret_value())};"
        )
        settings |= {"sasl.mechanism": connection.sasl_mechanism, "sasl.jaas.config": jaas}
    # A properties file reads a backslash as an escape: the JAAS text's own ones are doubled.
    return "".join(f"{key}={_backslashed(value)}\n" for key, value in settings.items())


def _jaas_quoted(text: str) -> str:
    """`text` as a JAAS option value: in double quotes, a backslash before `"` and `\\`."""
    return '"' + _backslashed(text).replace('"', '\\"') + '"'


def _backslashed(text: str) -> str:
    return text.replace("\\", "\\\\")


def acl_lines(acls: Sequence[Acl]) -> str:
    """The ACL file CreateAcls.java reads: one tab-separated rule a line."""
    return "".join(f"{a.principal}\t{a.resource_type}\t{a.resource}\t{a.operation}\n" for a in acls)


class KafkaServer:
    """Fetches the jars once (cached), formats the storage, runs the server with SASL and ACLs,
    creates the topics and the ACLs."""

    name = "kafka"

    def __init__(self, config: StackConfig, topics: Sequence[TopicSpec] = ALL_TOPICS) -> None:
        self.config = config
        self.topics = tuple(topics)
        self.home = config.runtime_dir / "kafka"
        self.data_dir = self.home / "data"
        self.process: ManagedProcess | None = None
        self._recording_archives: list[tuple[Path, Path]] = []

    @property
    def bootstrap_servers(self) -> str:
        return self.config.kafka_bootstrap_servers

    @property
    def install_dir(self) -> Path:
        return self.config.cache_dir / f"kafka-{self.config.kafka_version}"

    @property
    def libs_dir(self) -> Path:
        return self.install_dir / "libs"

    @property
    def log_path(self) -> Path:
        return self.config.log_path(self.name)

    async def start(self) -> None:
        c = self.config
        require_free_ports(self.name, c.host, [c.kafka_port, c.kafka_controller_port])
        await self.ensure_libs()
        self._write_configs()
        await self._format_storage()
        self.process = ManagedProcess(
            self.name,
            self._java("kafka.Kafka", str(self.home / "server.properties"), heap=c.kafka_heap),
            log_path=self.log_path,
            echo=c.echo_logs,
        )
        self.process.start()
        await self.process.wait_tcp(c.host, c.kafka_port, c.start_timeout)
        await self.wait_ready(c.start_timeout)
        async with asyncio.TaskGroup() as group:
            group.create_task(self.create_topics())
            group.create_task(self.create_acls())

    async def stop(self) -> None:
        if self.process is not None:
            self._publish_archives(await self.process.stop(self.config.stop_timeout))

    async def ensure_libs(self) -> None:
        """Copy Kafka and its runtime dependencies into the cache, unless already there."""
        await fetch_jars(self.config, kafka_artifact(self.config), self.install_dir)

    def _write_configs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.home / "server.properties").write_text(server_properties(self.config, self.data_dir))
        (self.home / "log4j2.properties").write_text(_LOG4J2)

    async def _format_storage(self) -> None:
        """Format the log directory for a new single-node cluster, unless kept from a last run."""
        if (self.data_dir / "meta.properties").is_file():
            return
        try:
            await run_command(
                "kafka-storage",
                self._java(
                    "kafka.tools.StorageTool", "format", "--standalone",
                    f"--cluster-id={random_cluster_id()}", "-c", str(self.home / "server.properties"),
                    heap="256m", quick=True,
                ),
                log_path=self.config.log_path("kafka-storage"),
                timeout=120,
            )  # fmt: skip
        except BaseException:
            self._publish_archives(None)
            raise
        self._publish_archives(0)

    async def create_acls(self, acls: Sequence[Acl] | None = None) -> None:
        """Grant every principal its rights (bookpay_shared.kafka_acls), as the super user."""
        properties = self.home / "admin-client.properties"
        properties.write_text(client_properties(self.config))
        rules = self.home / "acls.tsv"
        rules.write_text(acl_lines(all_acls() if acls is None else acls))
        await run_command(
            "kafka-acls",
            [
                "java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
                "-cp", f"{self.libs_dir}/*", str(_ACL_TOOL), str(properties), str(rules),
            ],
            log_path=self.config.log_path("kafka-acls"),
            timeout=120,
        )  # fmt: skip

    def _java(self, main_class: str, *args: str, heap: str, quick: bool = False) -> list[str]:
        # A short-lived tool starts faster with the client compiler and the serial collector.
        jvm_mode = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"] if quick else ["-XX:+UseG1GC"]
        return [
            "java",
            f"-Xmx{heap}",
            "-Xms64m",
            *jvm_mode,
            *self._class_data_sharing(main_class),
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            f"{self.libs_dir}/*",
            main_class,
            *args,
        ]

    def _class_data_sharing(self, main_class: str) -> list[str]:
        """JVM options that load classes from the cached archive of `main_class`'s JVM, which
        takes seconds off a start; without one yet, this JVM records it when it exits."""
        archive = self.install_dir / f"{main_class}.jsa"
        if archive.is_file():
            return [f"-XX:SharedArchiveFile={archive}"]
        recording = archive.with_name(f"{archive.name}.{os.getpid()}.tmp")
        self._recording_archives.append((recording, archive))
        return [f"-XX:ArchiveClassesAtExit={recording}"]

    def _publish_archives(self, exit_code: int | None) -> None:
        """Move archives recorded by a JVM that exited normally into place; drop the rest."""
        for recording, archive in self._recording_archives:
            if exit_code in _CLEAN_JVM_EXITS and recording.is_file():
                recording.replace(archive)
            recording.unlink(missing_ok=True)
        self._recording_archives.clear()

    @contextlib.asynccontextmanager
    async def admin(self) -> AsyncIterator[AIOKafkaAdminClient]:
        client = AIOKafkaAdminClient(
            **self.config.kafka_connection(ADMIN).client_args(), request_timeout_ms=10_000
        )
        await client.start()
        try:
            yield client
        finally:
            await client.close()

    async def wait_ready(self, timeout: float) -> None:
        """Wait until the broker answers a metadata request."""

        async def probe() -> bool:
            try:
                async with self.admin() as client:
                    await client.list_topics()
            except (KafkaError, OSError):
                return False
            return True

        await wait_until(probe, timeout, "kafka metadata", process=self.process)

    async def create_topics(self) -> None:
        """Create every topic (already existing ones are fine), then wait for their leaders."""
        new = [
            NewTopic(t.name, num_partitions=t.partitions, replication_factor=1,
                     topic_configs=dict(t.config))
            for t in self.topics
        ]  # fmt: skip
        async with self.admin() as client:
            response = await client.create_topics(new)
            for topic, code, *_ in response.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise for_code(code)(f"creating topic {topic}")
        await self.wait_topics_led(self.config.start_timeout)

    async def wait_topics_led(self, timeout: float) -> None:
        names = [t.name for t in self.topics]

        async def probe() -> bool:
            async with self.admin() as client:
                described = await client.describe_topics(names)
            return all(
                d["error_code"] == 0 and d["partitions"]
                and all(p["leader"] >= 0 for p in d["partitions"])
                for d in described
            )  # fmt: skip

        await wait_until(probe, timeout, "kafka topic leaders", process=self.process)
