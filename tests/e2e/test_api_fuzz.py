"""Every service's staff API fuzzed from its OpenAPI document by Schemathesis, with all its
checks: schema-valid and schema-invalid requests (examples, coverage, fuzzing phases), no 5xx,
every status code and body as documented, invalid data refused (schemathesis.toml says which
answers count for valid data a business rule refuses). Seeded and bounded in time; the
platform key lets it reach every route. A failure prints Schemathesis' report, with a `curl`
to reproduce each case."""

import asyncio
import sys
from pathlib import Path

import pytest
from bookpay_devstack.config import find_repo_root
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services
from bookpay_ops.config import SERVICES

pytestmark = pytest.mark.asyncio(loop_scope="session")

SEED = 20261207
SECONDS_PER_SERVICE = 25
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.mark.parametrize("service", SERVICES)
async def test_the_staff_api_holds_up_to_generated_requests(
    service: str, system: Services, stack: Stack
) -> None:
    url = system.url(service)
    run = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        str(SEED),
        "--max-examples",
        "15",
        "--max-time",
        str(SECONDS_PER_SERVICE),
        "--generation-database",
        "none",
        "--header",
        f"Authorization: Bearer {stack.config.platform_key}",
        "--no-color",
        cwd=find_repo_root(),  # its schemathesis.toml
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(run.communicate(), timeout=SECONDS_PER_SERVICE * 4)
    report = output.decode(errors="replace")
    assert run.returncode == 0, report[-12_000:]
    assert " passed" in report and "generated" in report, report[-2_000:]
