from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services

from .support import Bookpay

pytestmark = pytest.mark.e2e


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def bookpay(system: Services, stack: Stack) -> AsyncIterator[Bookpay]:
    client = Bookpay(system, stack)
    yield client
    await client.close()
