"""The metrics count exactly what happened: messages through the real consuming path (a fake
producer takes the dead letters), HTTP requests by route template, and `/metrics` on the staff
app only, with a registry of each runtime's own."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from importlib import resources

import httpx
import pytest
from aiokafka import ConsumerRecord
from bookpay_shared.consuming import Consumers, RetryPolicy, TransientError
from bookpay_shared.events import NotificationFailed, utcnow
from bookpay_shared.guards import BodyLimit
from bookpay_shared.kafka import OutgoingMessage, Producer
from bookpay_shared.metrics import METRIC_NAMES, UNMATCHED_ROUTE, HttpMetrics, Metrics
from bookpay_shared.runtime import ServiceRuntime
from bookpay_shared.settings import ServiceSettings
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

TOPIC = NotificationFailed.TOPIC
GROUP = f"svc.{TOPIC}"
NO_WAIT = RetryPolicy(max_attempts_for_errors=3, attempts_before_redelivery=8, base_delay=0)


class FakeProducer(Producer):
    """Keeps what is sent (the dead letters) instead of talking to Kafka."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    async def send_batch(self, messages: list[OutgoingMessage]) -> None:
        self.sent.extend(messages)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    """The sum of the series `name` whose labels include `labels`, as `/metrics` shows them
    (0 when there is none yet)."""
    return sum(
        float(s.value)
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def event(**changes: object) -> NotificationFailed:
    fields: dict[str, object] = {
        "correlation_id": uuid.uuid4(),
        "notification_id": uuid.uuid4(),
        "account_id": uuid.uuid4(),
        "kind": "payment_link",
        "recipient": "ada@example.com",
        "reason": "mailbox unavailable",
    }
    return NotificationFailed.model_validate(fields | changes)


def record(value: bytes, offset: int = 0) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=TOPIC,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=value,
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=len(value),
        headers=[],
    )


Handler = Callable[[NotificationFailed], Awaitable[None]]


async def consume(handler: Handler, *values: bytes) -> tuple[Metrics, FakeProducer]:
    """Pass messages through a subscription's real record handler, as its consumer would."""
    metrics, producer = Metrics("svc"), FakeProducer()
    consumers = Consumers("127.0.0.1:1", "svc", producer, metrics=metrics)
    consumers.subscribe(NotificationFailed, handler, retry=NO_WAIT)
    [consumer] = consumers._consumers
    for offset, value in enumerate(values):
        await consumer._handler(record(value, offset))
    return metrics, producer


def consumed(metrics: Metrics, name: str, **labels: str) -> float:
    return sample(metrics, name, topic=TOPIC, group=GROUP, service="svc", **labels)


async def test_handled_messages_are_counted_and_timed() -> None:
    handled: list[NotificationFailed] = []

    async def handler(e: NotificationFailed) -> None:
        handled.append(e)

    metrics, producer = await consume(handler, event().to_json(), event().to_json())

    assert len(handled) == 2 and producer.sent == []
    assert consumed(metrics, "bookpay_messages_consumed_total") == 2
    assert consumed(metrics, "bookpay_message_handling_seconds_count") == 2
    assert consumed(metrics, "bookpay_message_failures_total") == 0
    assert consumed(metrics, "bookpay_messages_dead_lettered_total") == 0


async def test_a_message_that_is_not_an_event_is_dead_lettered_as_invalid() -> None:
    async def handler(e: NotificationFailed) -> None:
        raise AssertionError("never called")

    metrics, producer = await consume(handler, b"{not json", event().to_json()[:-5])

    assert [m.topic for m in producer.sent] == [f"{TOPIC}.dlq"] * 2
    assert consumed(metrics, "bookpay_messages_dead_lettered_total", cause="invalid") == 2
    assert consumed(metrics, "bookpay_messages_consumed_total") == 0
    assert consumed(metrics, "bookpay_message_handling_seconds_count") == 0


async def test_every_failed_attempt_counts_and_the_last_one_dead_letters() -> None:
    async def handler(e: NotificationFailed) -> None:
        raise ValueError("a bug")

    metrics, producer = await consume(handler, event().to_json())

    assert len(producer.sent) == 1
    assert consumed(metrics, "bookpay_message_failures_total") == NO_WAIT.max_attempts_for_errors
    assert consumed(metrics, "bookpay_messages_dead_lettered_total", cause="handler_error") == 1
    assert consumed(metrics, "bookpay_message_handling_seconds_count") == 3
    assert consumed(metrics, "bookpay_messages_consumed_total") == 0


async def test_transient_failures_are_retries_then_the_message_is_consumed() -> None:
    failures = [TransientError("database away"), OSError("connection reset")]

    async def handler(e: NotificationFailed) -> None:
        if failures:
            raise failures.pop(0)

    metrics, producer = await consume(handler, event().to_json())

    assert producer.sent == []
    assert consumed(metrics, "bookpay_message_retries_total") == 2
    assert consumed(metrics, "bookpay_message_failures_total") == 0
    assert consumed(metrics, "bookpay_messages_consumed_total") == 1


async def test_an_event_from_the_future_is_dead_lettered_as_unprocessable() -> None:
    async def handler(e: NotificationFailed) -> None:
        raise AssertionError("never called")

    future = event(occurred_at=utcnow() + timedelta(hours=1)).to_json()
    metrics, producer = await consume(handler, future)

    assert len(producer.sent) == 1
    assert producer.sent[0].headers["dlq.reason"].startswith("unprocessable")
    assert consumed(metrics, "bookpay_messages_dead_lettered_total", cause="unprocessable") == 1


# --- HTTP ----------------------------------------------------------------------------------


def http_app(metrics: Metrics) -> FastAPI:
    app = FastAPI()

    @app.get("/pay/{token}")
    async def page(token: str) -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/v1/things")
    async def create() -> None:
        raise RuntimeError("a bug")

    app.add_middleware(BodyLimit, max_bytes=1024)
    app.add_middleware(HttpMetrics, metrics=metrics)
    return app


async def test_requests_are_counted_by_route_template_and_status_never_by_raw_path() -> None:
    metrics = Metrics("svc")
    transport = httpx.ASGITransport(app=http_app(metrics), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for token in ("tok_secret_1", "tok_secret_2"):
            assert (await client.get(f"/pay/{token}")).status_code == 200
        assert (await client.get("/nowhere/tok_secret_3")).status_code == 404
        assert (await client.post("/v1/things", content=b"x" * 2048)).status_code == 413
        assert (await client.post("/v1/things")).status_code == 500

    def requests(method: str, route: str, status: str) -> float:
        return sample(
            metrics, "bookpay_http_requests_total", method=method, route=route, status=status
        )

    assert requests("GET", "/pay/{token}", "200") == 2
    assert requests("GET", UNMATCHED_ROUTE, "404") == 1
    assert requests("POST", "/v1/things", "413") == 1  # refused before routing, still its route
    assert requests("POST", "/v1/things", "500") == 1
    exposition = metrics.exposition().decode()
    assert "tok_secret" not in exposition and "/nowhere" not in exposition
    duration = "bookpay_http_request_seconds_count"
    assert sample(metrics, duration, method="GET", route="/pay/{token}") == 2


# --- the runtime ---------------------------------------------------------------------------


def runtime() -> ServiceRuntime:
    settings = ServiceSettings(database_url=SecretStr("postgresql://x"), http_port=1)
    return ServiceRuntime("svc", settings, resources.files("bookpay_shared") / "migrations")


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


async def test_the_staff_app_serves_metrics_without_a_credential_and_public_apps_do_not() -> None:
    service = runtime()
    staff = service.http_app(title="staff")
    public = service.public_app(title="public", port=2)

    answer = await get(staff, "/metrics")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert (await get(public, "/metrics")).status_code == 404
    assert "/metrics" not in (await get(staff, "/openapi.json")).text
    # The public app's 404 above is counted in the same process's registry.
    counted = sample(service.metrics, "bookpay_http_requests_total", route=UNMATCHED_ROUTE)
    assert counted == 1
    names = {f.name for f in text_string_to_metric_families((await get(staff, "/metrics")).text)}
    assert "bookpay_http_requests" in names


async def test_each_runtime_counts_on_a_registry_of_its_own() -> None:
    first, second = runtime(), runtime()
    app = first.http_app(title="one")
    second.http_app(title="two")  # would raise on a shared registry (duplicate series)

    await get(app, "/healthz")

    label = {"route": "/healthz", "status": "200"}
    assert sample(first.metrics, "bookpay_http_requests_total", **label) == 1
    assert sample(second.metrics, "bookpay_http_requests_total", **label) == 0


@pytest.mark.parametrize(
    "name",
    [
        "bookpay_outbox_unpublished_events",
        "bookpay_outbox_oldest_unpublished_age_seconds",
        "bookpay_consumer_lag_messages",
        "bookpay_messages_dead_lettered_total",
        "bookpay_stripe_request_seconds_bucket",
    ],
)
def test_the_names_tools_rely_on_are_exported(name: str) -> None:
    assert name in METRIC_NAMES


def test_the_outbox_gauges_read_zero_age_when_nothing_waits() -> None:
    metrics = Metrics("svc")
    metrics.set_outbox_backlog(3, 12.5)
    assert sample(metrics, "bookpay_outbox_oldest_unpublished_age_seconds") == 12.5
    metrics.set_outbox_backlog(0, 99.0)
    assert sample(metrics, "bookpay_outbox_unpublished_events") == 0
    assert sample(metrics, "bookpay_outbox_oldest_unpublished_age_seconds") == 0
