"""Where the services listen: instance n of a service serves its staff API, and its public app
if it has one, 10 * (n - 1) ports above the first instance's, and no two listeners share a port."""

from __future__ import annotations

import pytest
from bookpay_devstack.process import StartupError
from bookpay_devstack.system import SystemConfig


def test_instance_n_serves_the_staff_api_and_the_public_app_ten_ports_up_per_instance() -> None:
    system = SystemConfig(instances={"charge-service": 3, "link-service": 2})

    assert [system.port("charge-service", n) for n in (1, 2, 3)] == [8002, 8012, 8022]
    assert [system.public_port("charge-service", n) for n in (1, 2, 3)] == [8102, 8112, 8122]
    assert [system.public_port("link-service", n) for n in (1, 2)] == [8103, 8113]
    ports = system.all_ports()
    assert len(ports) == len(set(ports)) == 1 + 3 * 2 + 2 * 2 + 1


def test_services_without_a_public_app_have_no_public_port() -> None:
    with pytest.raises(LookupError):
        SystemConfig().public_port("booking-service")


def test_instances_whose_ports_would_meet_are_refused() -> None:
    # The 11th charge-service instance's staff port would be the first one's webhook port.
    with pytest.raises(StartupError, match="8102"):
        SystemConfig(instances={"charge-service": 11}).all_ports()
