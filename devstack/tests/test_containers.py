"""Choosing where the tests' PostgreSQL comes from, and how a container is asked to run it."""

from __future__ import annotations

import pytest
from bookpay_devstack.config import StackConfig
from bookpay_devstack.containers import postgres_from, postgres_image, server_options


def test_the_embedded_server_is_the_default_and_docker_is_chosen_by_name() -> None:
    assert postgres_from({}) == "embedded"
    assert postgres_from({"BOOKPAY_TEST_POSTGRES": " Docker "}) == "docker"


def test_an_unknown_choice_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="BOOKPAY_TEST_POSTGRES='podman': expected one of"):
        postgres_from({"BOOKPAY_TEST_POSTGRES": "podman"})


def test_the_image_is_the_version_compose_runs() -> None:
    assert postgres_image({"POSTGRES_VERSION": "17"}) == "postgres:17"
    assert postgres_image({}).startswith("postgres:1")  # from .env


def test_the_container_runs_with_the_embedded_servers_settings() -> None:
    config = StackConfig(postgres_settings=(("fsync", "off"), ("max_connections", "400")))
    assert server_options(config) == "postgres -c fsync=off -c max_connections=400"
