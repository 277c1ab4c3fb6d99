"""Fixtures of charge-service's unit tests."""

import pytest
from charge_service.adapters.testing import World


@pytest.fixture
def world() -> World:
    return World()
