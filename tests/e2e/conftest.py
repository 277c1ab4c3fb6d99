from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services
from bookpay_shared.kafka_acls import INTERNAL_PUBLISHER

from .browser import browser, customer_browser  # noqa: F401  (fixtures)
from .links import Links
from .notifications_support import Notifications
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
    """A plain producer as Kafka's super user, for tests that stand in for any producer (a
    service's events, forged or broken messages)."""
    producer = AIOKafkaProducer(**stack.kafka_client_args(), acks="all")
    await producer.start()
    yield producer
    await producer.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def internal_publisher(stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    """A plain producer as an internal service publishing ChargeRequested uses: its own
    principal, `internal-publisher`, which may write charge-requested only."""
    producer = AIOKafkaProducer(**stack.kafka_client_args(INTERNAL_PUBLISHER), acks="all")
    await producer.start()
    yield producer
    await producer.stop()


# --- payment links and the payment page ----------------------------------------------------


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def link_service_url(system: Services) -> str:
    """The payment pages' origin: link-service's public app."""
    return system.public_url("link-service")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def links(
    system: Services, stack: Stack, internal_publisher: AIOKafkaProducer, bookpay: Bookpay
) -> AsyncIterator[Links]:
    client = Links(system, stack, internal_publisher, bookpay.keys)
    yield client
    await client.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def notifications(system: Services, bookpay: Bookpay) -> AsyncIterator[Notifications]:
    """notification-service's staff API, with the test accounts' keys."""
    client = Notifications(system, bookpay.keys)
    yield client
    await client.close()
