"""bookpay-ops outbox: the backlog read from a service's /metrics, and what the command makes
of each service (keeping up, behind, down, without /metrics)."""

from __future__ import annotations

import json

import httpx
from bookpay_ops.outbox import (
    Backlog,
    ServiceOutbox,
    State,
    as_json,
    backlog_of,
    exit_code,
    read_outboxes,
)
from bookpay_ops.services import StaffApi
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

EXPOSITION = """\
# HELP bookpay_outbox_unpublished_events Outbox rows not yet published to Kafka.
# TYPE bookpay_outbox_unpublished_events gauge
bookpay_outbox_unpublished_events{service="charge-service"} 7.0
# HELP bookpay_outbox_oldest_unpublished_age_seconds Age of the oldest unpublished outbox row.
# TYPE bookpay_outbox_oldest_unpublished_age_seconds gauge
bookpay_outbox_oldest_unpublished_age_seconds{service="charge-service"} 93.5
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 21.0
"""

EMPTY = """\
# TYPE bookpay_outbox_unpublished_events gauge
bookpay_outbox_unpublished_events 0.0
# TYPE bookpay_outbox_oldest_unpublished_age_seconds gauge
bookpay_outbox_oldest_unpublished_age_seconds NaN
"""

BY_TOPIC = """\
# TYPE bookpay_outbox_unpublished_events gauge
bookpay_outbox_unpublished_events{topic="payment-succeeded"} 2.0
bookpay_outbox_unpublished_events{topic="payment-failed"} 3.0
# TYPE bookpay_outbox_oldest_unpublished_age_seconds gauge
bookpay_outbox_oldest_unpublished_age_seconds{topic="payment-succeeded"} 4.0
bookpay_outbox_oldest_unpublished_age_seconds{topic="payment-failed"} 12.0
"""

WITHOUT_GAUGES = """\
# TYPE process_open_fds gauge
process_open_fds 21.0
"""


def parsed(text: str) -> Backlog | None:
    return backlog_of(text_string_to_metric_families(text))


def test_the_backlog_is_read_from_the_two_gauges() -> None:
    assert parsed(EXPOSITION) == Backlog(unpublished=7, oldest_age_seconds=93.5)


def test_an_empty_outbox_has_no_oldest_age() -> None:
    assert parsed(EMPTY) == Backlog(unpublished=0, oldest_age_seconds=None)


def test_gauges_under_several_labels_add_up_and_the_oldest_is_the_largest_age() -> None:
    assert parsed(BY_TOPIC) == Backlog(unpublished=5, oldest_age_seconds=12.0)


def test_metrics_without_the_gauges_tell_nothing() -> None:
    assert parsed(WITHOUT_GAUGES) is None


def deployment(request: httpx.Request) -> httpx.Response:
    """Four services as the command may find them, told apart by port."""
    assert request.headers["Authorization"] == "Bearer platform-key"
    assert request.url.path == "/metrics"
    match request.url.port:
        case 8001:
            return httpx.Response(200, text=EMPTY)
        case 8002:
            return httpx.Response(200, text=EXPOSITION)
        case 8003:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "nope"}})
        case _:
            raise httpx.ConnectError("connection refused", request=request)


URLS = {
    "booking-service": "http://127.0.0.1:8001",
    "charge-service": "http://127.0.0.1:8002",
    "link-service": "http://127.0.0.1:8003/",
    "notification-service": "http://127.0.0.1:8004",
}


async def outboxes(max_age: float, urls: dict[str, str] = URLS) -> list[ServiceOutbox]:
    transport = httpx.MockTransport(deployment)
    async with StaffApi(urls, SecretStr("platform-key"), transport=transport) as api:
        return list(await read_outboxes(api, list(urls), max_age))


async def test_each_service_is_keeping_up_behind_without_metrics_or_down() -> None:
    found = await outboxes(max_age=60)

    by_service = {o.service: o for o in found}
    assert {name: o.state for name, o in by_service.items()} == {
        "booking-service": State.OK,
        "charge-service": State.BEHIND,
        "link-service": State.NO_METRICS,
        "notification-service": State.DOWN,
    }
    charge = by_service["charge-service"]
    assert (charge.unpublished, charge.oldest_age_seconds) == (7, 93.5)
    assert by_service["link-service"].detail == "no /metrics at http://127.0.0.1:8003/metrics"
    down = by_service["notification-service"].detail or ""
    assert "service down" in down and "http://127.0.0.1:8004/metrics" in down
    assert exit_code(found) == 1


async def test_a_backlog_younger_than_the_limit_is_keeping_up() -> None:
    urls = {name: URLS[name] for name in ("booking-service", "charge-service")}

    found = await outboxes(max_age=120, urls=urls)

    assert [o.state for o in found] == [State.OK, State.OK]
    assert exit_code(found) == 0
    shown = json.loads(as_json(found, 120))
    assert shown["healthy"] is True
    assert shown["services"][1] == {
        "service": "charge-service",
        "url": "http://127.0.0.1:8002",
        "state": "ok",
        "unpublished": 7,
        "oldest_age_seconds": 93.5,
        "detail": None,
    }
