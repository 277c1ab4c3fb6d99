"""Where the services listen: instance n of a service serves its staff API, and its public app
if it has one, 10 * (n - 1) ports above the first instance's, and no two listeners share a port;
and a service that exits is restarted."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import pytest
from bookpay_devstack.process import ManagedProcess, StartupError
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import RestartPolicy, Services, SystemConfig, process_label


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


class _FlakyServices(Services):
    """Services whose "processes" are small Python commands: each start runs the next one."""

    def __init__(self, commands: list[str], logs: Path) -> None:
        super().__init__(cast(Stack, None), SystemConfig())
        self.commands = commands
        self.logs = logs
        self.starts = 0

    def instances(self) -> list[tuple[str, int]]:
        return [("booking-service", 1)]

    def start(
        self, name: str, overrides: Mapping[str, str] | None = None, instance: int = 1
    ) -> ManagedProcess:
        command = self.commands[min(self.starts, len(self.commands) - 1)]
        self.starts += 1
        process = ManagedProcess(
            process_label(name, instance),
            [sys.executable, "-c", command],
            log_path=self.logs / "booking-service.log",
        )
        process.start()
        self.processes[process_label(name, instance)] = process
        return process


async def test_a_service_that_exits_is_reported_and_restarted_with_growing_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    services = _FlakyServices(
        ["raise SystemExit(3)", "raise SystemExit(4)", "import time; time.sleep(60)"], tmp_path
    )
    services.start("booking-service")
    policy = RestartPolicy(first_delay=0.1, max_delay=1.0, healthy_after=30.0)
    assert [policy.delay(n) for n in (1, 2, 3, 5, 9)] == [0.1, 0.2, 0.4, 1.0, 1.0]
    supervisor = asyncio.create_task(services.supervise(policy))
    try:
        for _ in range(100):
            if services.starts == 3 and services.processes["booking-service"].running:
                break
            await asyncio.sleep(0.1)
        assert services.starts == 3
        assert services.processes["booking-service"].running
        exits = [r.getMessage() for r in caplog.records if "exited with code" in r.getMessage()]
        assert [m.split(" after")[0] for m in exits] == [
            "booking-service exited with code 3",
            "booking-service exited with code 4",
        ]
        assert "restarting it in 0 s" in exits[0]  # 0.1 s, rounded in the message
    finally:
        supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
        await services.stop_all()
