"""Configuration of the local stack: directories, ports, credentials, versions.

Every address the stack uses comes from here, so two stacks (`make run` and `make test`) can run
side by side on different ports and runtime directories while sharing one download cache.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bookpay_shared.kafka import KafkaConnection
from bookpay_shared.kafka_acls import ADMIN
from pydantic import SecretStr

from bookpay_devstack.versions import version

DATABASES = ("booking", "charge", "link", "notification")


def find_repo_root() -> Path:
    """The uv workspace root holding this package (or the current directory's), else cwd."""
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            pyproject = folder / "pyproject.toml"
            if pyproject.is_file() and "[tool.uv.workspace]" in pyproject.read_text():
                return folder
    return Path.cwd()


def _default_cache_dir() -> Path:
    return find_repo_root() / ".cache" / "devstack"


def _default_runtime_dir() -> Path:
    return find_repo_root() / "var" / "devstack"


@dataclass(frozen=True)
class StackConfig:
    # Downloads (Kafka jars); kept between runs and shared by every stack on the machine.
    cache_dir: Path = field(default_factory=_default_cache_dir)
    # Data, configs and logs of one stack; wiped at start unless keep_data.
    runtime_dir: Path = field(default_factory=_default_runtime_dir)
    keep_data: bool = False

    host: str = "127.0.0.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    postgres_port: int = 5433
    stripe_port: int = 8420
    smtp_port: int = 1025
    smtp_api_port: int = 1080

    # Kafka, from Maven Central, at the version of the repository's .env (docker compose's too).
    kafka_version: str = field(default_factory=lambda: version("KAFKA_VERSION", find_repo_root()))
    scala_binary_version: str = "2.13"
    log4j_version: str = "2.25.3"
    slf4j_version: str = "2.0.17"
    kafka_heap: str = "512m"
    # Every client authenticates (SASL PLAIN) as its own principal (bookpay_shared.kafka_acls);
    # a principal's development password is `<principal><kafka_password_suffix>`.
    kafka_password_suffix: str = "-dev-only-password"

    # PostgreSQL: embedded by default, or an existing server given by a base DSN.
    databases: tuple[str, ...] = DATABASES
    postgres_user: str = "bookpay"
    postgres_password: str = "bookpay_dev_only"
    external_postgres_url: str | None = None
    # Dev-only server settings: durability is traded for speed (data is thrown away anyway).
    postgres_settings: tuple[tuple[str, str], ...] = (
        ("fsync", "off"),
        ("synchronous_commit", "off"),
        ("full_page_writes", "off"),
        ("max_connections", "400"),
    )

    # localstripe: any key starting with sk_ is accepted; webhooks go to the charge service.
    stripe_api_key: str = "sk_test_bookpay_local_only"
    stripe_publishable_key: str = "pk_test_bookpay_local_only"
    stripe_webhook_url: str = "http://127.0.0.1:8102/v1/stripe/webhooks"
    """charge-service's webhook app (its own port, apart from the staff API)."""
    stripe_webhook_secret: str = "whsec_dev_bookpay_local_only"
    stripe_persist_state: bool = True
    """Save localstripe's state to the runtime directory after every change (so `--keep-data`
    finds it). It pickles the whole store each time, which grows slow with thousands of
    objects: a long run that never restarts localstripe (the chaos run) turns it off."""

    # Every service's platform key (<PREFIX>_PLATFORM_KEY): acts for every account, creates
    # accounts and their API keys. A development value, refused in production.
    platform_key: str = "bp_platform_dev_local_only_5f1c0e9a7d3b4e21"

    start_timeout: float = 120.0
    stop_timeout: float = 20.0
    # Also print every component's output to the console, each line prefixed with its name.
    echo_logs: bool = False

    def replace(self, **changes: Any) -> StackConfig:
        return dataclasses.replace(self, **changes)

    @property
    def logs_dir(self) -> Path:
        return self.runtime_dir / "logs"

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    @property
    def kafka_bootstrap_servers(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    def kafka_password(self, principal: str) -> str:
        return principal + self.kafka_password_suffix

    def kafka_connection(self, principal: str = ADMIN) -> KafkaConnection:
        """How `principal` connects to the stack's broker."""
        return KafkaConnection(
            bootstrap_servers=self.kafka_bootstrap_servers,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            username=principal,
            password=SecretStr(self.kafka_password(principal)),
        )

    @property
    def stripe_url(self) -> str:
        return f"http://{self.host}:{self.stripe_port}"

    @property
    def smtp_api_url(self) -> str:
        return f"http://{self.host}:{self.smtp_api_port}"

    @property
    def postgres_server_url(self) -> str:
        """A DSN to the server's maintenance database (`postgres`)."""
        if self.external_postgres_url:
            return self.external_postgres_url
        return (
            f"postgresql://{self.postgres_user}:{self.postgres_password}"
            f"@{self.host}:{self.postgres_port}/postgres"
        )

    def postgres_dsn(self, database: str) -> str:
        """The DSN of one database on the (embedded or external) server."""
        return with_database(self.postgres_server_url, database)

    def python_env(self) -> dict[str, str]:
        """The environment for Python children: unbuffered, so logs appear as they happen."""
        return {**os.environ, "PYTHONUNBUFFERED": "1"}


def with_database(dsn: str, database: str) -> str:
    """`dsn` with its database (URL path) replaced by `database`."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))
