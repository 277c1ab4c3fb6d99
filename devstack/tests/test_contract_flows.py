"""The contract's table of consumers (bookpay_shared.flows.FLOWS, published in docs/events.md
and docs/asyncapi.yaml) is what the services really subscribe to."""

from __future__ import annotations

import asyncio
import importlib

import pytest
from bookpay_devstack.placeholders import placeholder_settings
from bookpay_devstack.system import ServiceSpec, SystemConfig
from bookpay_shared.consuming import consumer_group
from bookpay_shared.events import ALL_EVENTS
from bookpay_shared.flows import flow_of


def subscribed_groups(spec: ServiceSpec) -> set[str]:
    """The consumer groups of the service's Kafka subscribers, as its app wires them."""

    async def build() -> set[str]:
        main = importlib.import_module(f"{spec.package}.main")
        runtime, _ = main.create_app(placeholder_settings(spec))
        return set(runtime.consumers.groups)

    return asyncio.run(build())


@pytest.mark.parametrize("spec", SystemConfig().specs(), ids=lambda s: s.name)
def test_documented_consumers_are_the_subscriptions(spec: ServiceSpec) -> None:
    documented = {
        consumer_group(spec.name, event.TOPIC)
        for event in ALL_EVENTS
        if spec.name in flow_of(event).consumers
    }
    assert subscribed_groups(spec) == documented, (
        "update FLOWS in bookpay_shared/flows.py, then run `make docs`"
    )
