from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services

from .browser import browser, customer_browser  # noqa: F401  (fixtures)
from .links import Links
from .support import Bookpay


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.e2e)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def bookpay(system: Services, stack: Stack) -> AsyncIterator[Bookpay]:
    client = Bookpay(system, stack)
    yield client
    await client.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def kafka(stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    """A plain producer, as an internal service publishing events would use."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


# --- payment links and the payment page ----------------------------------------------------


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def link_service_url(system: Services) -> str:
    """The payment pages' origin: link-service's public app."""
    return system.public_url("link-service")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def links(system: Services, stack: Stack, kafka: AIOKafkaProducer) -> AsyncIterator[Links]:
    client = Links(system, stack, kafka)
    yield client
    await client.close()
