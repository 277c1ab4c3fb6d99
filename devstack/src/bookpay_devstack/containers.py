"""PostgreSQL in a Docker container, for developers who have Docker.

The tests run on the embedded server by default (no Docker needed, the same on every
machine). With `BOOKPAY_TEST_POSTGRES=docker` they run on the official `postgres` image at the
version of the repository's `.env` (POSTGRES_VERSION, the one docker compose runs), started by
testcontainers for the test run and removed after it: the same server build as production
images, at the cost of needing a Docker engine.

    BOOKPAY_TEST_POSTGRES=docker make test

Kafka, the Stripe stand-in and the SMTP sink stay native either way (the broker needs the
SASL users and ACLs the stack sets up for each principal).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

from bookpay_devstack.config import StackConfig, find_repo_root
from bookpay_devstack.versions import version

POSTGRES_FROM = "BOOKPAY_TEST_POSTGRES"
"""`embedded` (the default) or `docker`."""
CHOICES = ("embedded", "docker")


def postgres_from(environ: Mapping[str, str] = os.environ) -> str:
    """Where the tests' PostgreSQL comes from; an unknown choice is refused by name."""
    choice = environ.get(POSTGRES_FROM, "").strip().lower() or "embedded"
    if choice not in CHOICES:
        raise ValueError(f"{POSTGRES_FROM}={choice!r}: expected one of {', '.join(CHOICES)}")
    return choice


def postgres_image(environ: Mapping[str, str] = os.environ) -> str:
    return f"postgres:{version('POSTGRES_VERSION', find_repo_root(), environ)}"


def server_options(config: StackConfig) -> str:
    """The embedded server's development settings, as the container's command line."""
    return "postgres " + " ".join(f"-c {name}={value}" for name, value in config.postgres_settings)


@contextlib.contextmanager
def postgres_container(config: StackConfig) -> Iterator[StackConfig]:
    """`config` pointed at a PostgreSQL container started for the duration of the block."""
    from testcontainers.community.postgres import PostgresContainer  # only with Docker

    container = PostgresContainer(
        postgres_image(),
        username=config.postgres_user,
        password=config.postgres_password,
        dbname="postgres",
        driver=None,
    ).with_command(server_options(config))
    with container:
        yield config.replace(external_postgres_url=container.get_connection_url())
