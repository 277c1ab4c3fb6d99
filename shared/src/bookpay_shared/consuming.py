"""Consuming events at least once, idempotently, with dead letters, concurrently across keys.

`Consumers` holds a service's subscriptions: each wires one Kafka topic to one handler of one
event model, in the consumer group `<service>.<topic>` (one group per topic keeps a rebalance of
one topic from pausing the others), consumed by a `KeyOrderedConsumer` (see `ordered`):
- events with different keys are handled concurrently (up to the service's in-flight bound),
  events with the same key one after another, in order;
- the offset is committed only past events whose handler returned (their effect is durable);
- a message that cannot be parsed or validated (bad JSON, wrong schema, unknown version or
  event type) goes to `<topic>.dlq` with the reason, and the consumer moves on; so does an
  event that claims to have happened in the future (`occurred_at` later than now plus
  `MAX_CLOCK_SKEW`): no handler acts on a fact dated ahead of time;
- a transient failure (database or Stripe unavailable, ...) is retried with backoff for as long
  as it lasts: the event's key waits, other keys go on, nothing is skipped;
- any other failure is retried a few times, then dead-lettered: a bug never blocks a
  customer's events for good, and the message stays replayable from the dead letters.
Handlers must be idempotent (see `inbox.claim`): redelivery is normal.

Each record is handled in a consumer span, the child of the trace context its headers carry
(`tracing.consumer_span`), so what the handler enqueues continues the same trace; and every
line logged meanwhile, this module's retries and dead letters included, names the record and
its event (`logs.handling`).

Each subscription counts what happens to its messages (`metrics.ConsumerMetrics`, bound once):
consumed, failed attempts, transient retries, dead letters by cause, and each attempt's time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import asyncpg
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from bookpay_shared.backoff import Backoff
from bookpay_shared.events import RECEIVED, Event, utcnow
from bookpay_shared.kafka import KafkaConnection, OutgoingMessage, Producer
from bookpay_shared.logs import EventContext, handling
from bookpay_shared.metrics import ConsumerMetrics, Metrics
from bookpay_shared.ordered import ConsumerOptions, KeyOrderedConsumer
from bookpay_shared.topics import dlq
from bookpay_shared.tracing import consumer_span

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[E], Awaitable[None]]
Clock = Callable[[], datetime]

MAX_CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future an event's `occurred_at` may be (clocks differ a little) before the
event is refused."""


def consumer_group(service: str, topic: str) -> str:
    """The consumer group of one service on one topic."""
    return f"{service}.{topic}"


class TransientError(Exception):
    """A failure that goes away by itself (a dependency is down): retry, never dead-letter."""


class UnprocessableEvent(Exception):
    """A well-formed event that can never be processed: dead-letter it with this reason."""


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.CannotConnectNowError,
)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts_for_errors: int = 5
    """Attempts before an unexpected (non-transient) failure is dead-lettered."""
    attempts_before_redelivery: int = 8
    """Transient-failure attempts before the event waits `max_delay` and starts over."""
    base_delay: float = 0.2
    max_delay: float = 15.0

    def delay(self, attempt: int) -> float:
        return Backoff(self.base_delay, cap=self.max_delay).delay(attempt)


@dataclass
class Consumers:
    """A service's Kafka subscriptions, started and stopped together."""

    kafka: KafkaConnection | str
    service: str
    producer: Producer
    options: ConsumerOptions = field(default_factory=ConsumerOptions)
    clock: Clock = utcnow
    metrics: Metrics | None = None
    """Where consumption is counted (the runtime's); a registry of its own when not given."""
    _consumers: list[KeyOrderedConsumer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._metrics = self.metrics or Metrics(self.service)

    def subscribe(
        self,
        model: type[E],
        handler: Handler[E],
        *,
        topic: str | None = None,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        """Pass each valid `model` read from `topic` (the model's own by default) to `handler`."""
        topic = topic or model.TOPIC
        group_id = consumer_group(self.service, topic)
        metrics = self._metrics.consumer(topic, group_id)
        dead_letters = DeadLetters(self.producer, consumer=group_id, metrics=metrics)
        checked = _refusing_future_events(handler, self.clock)

        async def on_record(record: ConsumerRecord[bytes, bytes]) -> None:
            await handle_record(record, model, checked, dead_letters, retry)

        self._consumers.append(
            KeyOrderedConsumer(
                kafka=self.kafka,
                topic=topic,
                group_id=group_id,
                handler=on_record,
                options=self.options,
                client_id=f"{self.service}.{topic}",
                metrics=metrics,
            )
        )

    @property
    def groups(self) -> list[str]:
        return [c.group_id for c in self._consumers]

    def readiness(self) -> dict[str, bool]:
        """Per consumer group: joined and fetching."""
        return {c.group_id: c.ready for c in self._consumers}

    async def start(self) -> None:
        for consumer in self._consumers:
            await consumer.start()

    async def stop(self) -> None:
        await asyncio.gather(*(c.stop() for c in self._consumers), return_exceptions=True)


def _refusing_future_events(handler: Handler[E], clock: Clock) -> Handler[E]:
    """`handler`, for events dated no later than now plus MAX_CLOCK_SKEW; a later one is
    unprocessable (a forged or broken clock's event is dead-lettered, never acted on)."""

    async def checked(event: E) -> None:
        ahead = event.occurred_at - clock()
        if ahead > MAX_CLOCK_SKEW:
            raise UnprocessableEvent(
                f"occurred_at {event.occurred_at.isoformat()} is {ahead} in the future "
                f"(more than the {MAX_CLOCK_SKEW} allowed for clock skew)"
            )
        await handler(event)

    return checked


async def handle_record(
    record: ConsumerRecord[bytes, bytes],
    model: type[E],
    handler: Handler[E],
    dead_letters: DeadLetters,
    retry: RetryPolicy,
) -> None:
    """Handle one record until it is done with (handled or dead-lettered), in a consumer span
    that continues the record's trace, every line logged meanwhile naming the record."""
    with (
        handling(_record_context(record)),
        consumer_span(record.topic, record.partition, record.offset, record.headers),
    ):
        while not await _process_safely(record, model, handler, dead_letters, retry):
            pass  # handed back after a pause: tried again, never skipped


async def _process_safely(
    record: ConsumerRecord[bytes, bytes],
    model: type[E],
    handler: Handler[E],
    dead_letters: DeadLetters,
    retry: RetryPolicy,
) -> bool:
    try:
        return await _process(record.value or b"", record, model, handler, dead_letters, retry)
    except Exception:  # e.g. the dead-letter topic could not be written: never skip it
        log.exception("%s could not be processed; trying it again", _where(record))
        await asyncio.sleep(retry.max_delay)
        return False


async def _process(
    body: bytes,
    record: ConsumerRecord[bytes, bytes],
    model: type[E],
    handler: Handler[E],
    dead_letters: DeadLetters,
    retry: RetryPolicy,
) -> bool:
    """True when the message is done with: handled, or dead-lettered with the reason."""
    try:
        event = model.model_validate_json(body, context=RECEIVED)
    except ValidationError as exc:
        await dead_letters.send(record, _describe(exc), cause="invalid")
        return True
    with handling(_event_context(record, event)):
        return await _handle_with_retries(event, handler, record, dead_letters, retry)


_CONTEXT_HEADERS = ("event_type", "event_id", "correlation_id")


def _record_context(record: ConsumerRecord[bytes, bytes]) -> EventContext:
    """What the record's headers say about its event (the outbox relay sets all three)."""
    found = {
        name: value.decode(errors="replace")
        for name, value in record.headers
        if name in _CONTEXT_HEADERS
    }
    return EventContext(
        record.topic,
        record.partition,
        record.offset,
        event_type=found.get("event_type"),
        event_id=found.get("event_id"),
        correlation_id=found.get("correlation_id"),
    )


def _event_context(record: ConsumerRecord[bytes, bytes], event: Event) -> EventContext:
    """The record's event as parsed: its own id, type and correlation id, whatever the
    headers said."""
    return EventContext(
        record.topic,
        record.partition,
        record.offset,
        event_type=event.event_type,
        event_id=str(event.event_id),
        correlation_id=str(event.correlation_id),
    )


async def _handle_with_retries(
    event: E,
    handler: Handler[E],
    record: ConsumerRecord[bytes, bytes],
    dead_letters: DeadLetters,
    retry: RetryPolicy,
) -> bool:
    """Run the handler; True when the message is done with (handled or dead-lettered)."""
    metrics = dead_letters.metrics
    attempt = 0
    while True:
        attempt += 1
        started = time.perf_counter()
        try:
            try:
                await handler(event)
            finally:
                metrics.handling.observe(time.perf_counter() - started)
            metrics.consumed.inc()
            return True
        except UnprocessableEvent as exc:
            await dead_letters.send(record, f"unprocessable: {exc}", cause="unprocessable")
            return True
        except TRANSIENT_ERRORS as exc:
            metrics.retried.inc()
            if attempt >= retry.attempts_before_redelivery:
                log.warning("%s still failing (%r); trying it again later", _where(record), exc)
                await asyncio.sleep(retry.max_delay)
                return False
            log.warning("%s transient failure (%r); retry %d", _where(record), exc, attempt)
        except Exception as exc:
            metrics.failed.inc()
            if attempt >= retry.max_attempts_for_errors:
                log.exception("%s failed %d times; dead-lettering", _where(record), attempt)
                await dead_letters.send(
                    record, f"handler error: {exc!r}"[:2000], cause="handler_error"
                )
                return True
            log.warning("%s failed (%r); retry %d", _where(record), exc, attempt, exc_info=True)
        await asyncio.sleep(retry.delay(attempt))


def _where(record: ConsumerRecord[bytes, bytes]) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}"


def _describe(exc: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}" for err in exc.errors()
    ]
    return ("invalid message: " + "; ".join(problems))[:2000]


@dataclass(frozen=True)
class DeadLetters:
    """Where a consumer group's unprocessable records go: `<topic>.dlq`, with every header of
    the record (its trace context included) and the reason."""

    producer: Producer
    consumer: str
    metrics: ConsumerMetrics

    async def send(self, record: ConsumerRecord[bytes, bytes], reason: str, *, cause: str) -> None:
        """Send the message to its topic's dead letters; `cause` (invalid, unprocessable,
        handler_error) labels the count."""
        log.error("dead-lettering %s: %s", _where(record), reason)
        headers = {k: v.decode(errors="replace") for k, v in record.headers}
        headers.update(
            {
                "dlq.reason": reason,
                "dlq.consumer": self.consumer,
                "dlq.original_topic": record.topic,
                "dlq.original_partition": str(record.partition),
                "dlq.original_offset": str(record.offset),
                "dlq.failed_at": datetime.now(UTC).isoformat(),
            }
        )
        await self.producer.send(
            OutgoingMessage(
                topic=dlq(record.topic),
                key=record.key or b"",
                value=record.value or b"",
                headers=headers,
            )
        )
        self.metrics.dead_lettered(cause)
