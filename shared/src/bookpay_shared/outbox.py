"""Transactional outbox: `enqueue` inside the business transaction, `OutboxRelay` publishes.

The relay publishes unpublished rows in id order with an idempotent producer, waits for the
broker's acknowledgement of the whole batch, then marks them published. A crash between the two
publishes a batch again (at-least-once); consumers deduplicate by event_id. A transaction-level
advisory lock keeps one relay at a time per database, so per-key order holds with many instances.

Each row keeps the trace context active when it was enqueued (`tracing.current_carrier`), and
the relay sends it as the record's `traceparent`/`tracestate` headers next to event_type,
event_id and correlation_id: the consumer's span continues the trace of the request or event
that caused this one.

Metrics (`bookpay_shared.metrics`): each event published is counted per topic once the broker
acknowledged it and it is marked published, with its relay latency (from the row's `created_at` to the acknowledgement,
measured on the database's clock and this process's, never across the two); listeners given
`on_published` see every published batch (charge-service counts charge outcomes from its
events: committed facts, never a transaction that may still roll back). `OutboxBacklog`
refreshes the backlog gauges every few seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import asyncpg
from asyncpg import Record

from bookpay_shared.db import Connection, Pool
from bookpay_shared.events import Event
from bookpay_shared.kafka import OutgoingMessage, Producer
from bookpay_shared.metrics import Metrics
from bookpay_shared.tracing import current_carrier
from bookpay_shared.wakeup import Wakeup

log = logging.getLogger(__name__)

_RELAY_LOCK = 0x0B_0C_57  # one relay per database at a time


async def enqueue(conn: Connection, *events: Event) -> None:
    """Write events to the outbox; call inside the transaction that makes the change."""
    carrier = current_carrier()
    trace_context = json.dumps(carrier) if carrier else None
    await conn.executemany(
        """INSERT INTO outbox
               (event_id, event_type, topic, message_key, payload, correlation_id, trace_context)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) ON CONFLICT (event_id) DO NOTHING""",
        [
            (
                e.event_id,
                e.event_type,
                e.TOPIC,
                e.key(),
                e.model_dump_json(),
                e.correlation_id,
                trace_context,
            )
            for e in events
        ],
    )


def _headers(row: asyncpg.Record) -> dict[str, str]:
    headers = {
        "event_type": row["event_type"],
        "event_id": str(row["event_id"]),
        "correlation_id": str(row["correlation_id"]),
    }
    if row["trace_context"] is not None:
        headers |= json.loads(row["trace_context"])
    return headers


@dataclass(frozen=True)
class PublishedEvent:
    """An outbox row the broker acknowledged."""

    topic: str
    event_type: str
    payload: str


PublishListener = Callable[[Sequence[PublishedEvent]], None]


@dataclass
class OutboxRelay:
    pool: Pool
    producer: Producer
    batch_size: int = 500
    idle_poll_seconds: float = 1.0
    metrics: Metrics | None = None
    on_published: Sequence[PublishListener] = field(default_factory=tuple)

    async def run(self) -> None:
        """Relay forever: on every outbox insert (LISTEN/NOTIFY) and at least once a second."""
        wakeup = Wakeup(self.pool, "outbox", poll_seconds=self.idle_poll_seconds)
        await wakeup.run(self._relay_until_empty)

    async def _relay_until_empty(self) -> None:
        while True:
            try:
                relayed = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(1.0)
                continue
            if relayed < self.batch_size:
                return

    async def relay_once(self) -> int:
        """Publish one batch; return how many rows it held."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RELAY_LOCK):
                return 0
            rows = await conn.fetch(
                """SELECT id, event_id, event_type, topic, message_key, payload, correlation_id,
                          trace_context,
                          extract(epoch FROM clock_timestamp() - created_at)::float8 AS age
                   FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1""",
                self.batch_size,
            )
            if not rows:
                return 0
            read_at = time.monotonic()
            await self.producer.send_batch(
                [
                    OutgoingMessage(
                        topic=row["topic"],
                        key=row["message_key"].encode(),
                        value=row["payload"].encode(),
                        headers=_headers(row),
                    )
                    for row in rows
                ]
            )
            acknowledged_in = time.monotonic() - read_at
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
        self._count(rows, acknowledged_in)
        log.debug("relayed %d events", len(rows))
        return len(rows)

    def _count(self, rows: Sequence[Record], sending_seconds: float) -> None:
        """Count a batch once it is acknowledged and marked published (committed): a batch
        published again after a crash or a failed commit is counted once."""
        if self.metrics is not None:
            for row in rows:
                self.metrics.published(row["topic"], row["age"] + sending_seconds)
        if self.on_published:
            published = [PublishedEvent(r["topic"], r["event_type"], r["payload"]) for r in rows]
            for listener in self.on_published:
                try:
                    listener(published)
                except Exception:  # a listener's bug must never stop the relay
                    log.exception("outbox listener %r failed", listener)


@dataclass
class OutboxBacklog:
    """Refreshes `bookpay_outbox_unpublished_events` and
    `bookpay_outbox_oldest_unpublished_age_seconds` every `every` seconds.

    One query over the rows with `published_at IS NULL`, which the partial index
    `outbox_unpublished` (shared migration 001) holds alone: its cost follows the backlog, not
    the published rows the table keeps. Every instance of a service reports the same
    database's backlog (dashboards take the max per service)."""

    pool: Pool
    metrics: Metrics
    every: float = 5.0

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: the gauges keep their last value
                log.warning("outbox backlog not measured: %r", exc)
            await asyncio.sleep(self.every)

    async def refresh(self) -> None:
        row = await self.pool.fetchrow(
            """SELECT count(*) AS unpublished,
                      coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0)::float8
                          AS oldest_age
               FROM outbox WHERE published_at IS NULL"""
        )
        assert row is not None
        self.metrics.set_outbox_backlog(row["unpublished"], max(0.0, row["oldest_age"]))
