"""Transactional outbox: `enqueue` inside the business transaction, `OutboxRelay` publishes.

The relay publishes unpublished rows in id order with an idempotent producer, waits for the
broker's acknowledgement of the whole batch, then marks them published. A crash between the two
publishes a batch again (at-least-once); consumers deduplicate by event_id. A transaction-level
advisory lock keeps one relay at a time per database, so per-key order holds with many instances.

Each row keeps the trace context active when it was enqueued (`tracing.current_carrier`), and
the relay sends it as the record's `traceparent`/`tracestate` headers next to event_type,
event_id and correlation_id: the consumer's span continues the trace of the request or event
that caused this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass

import asyncpg

from bookpay_shared.db import Connection, Pool
from bookpay_shared.events import Event
from bookpay_shared.kafka import OutgoingMessage, Producer
from bookpay_shared.tracing import current_carrier

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


@dataclass
class OutboxRelay:
    pool: Pool
    producer: Producer
    batch_size: int = 500
    idle_poll_seconds: float = 1.0

    def __post_init__(self) -> None:
        self._wakeup = asyncio.Event()

    async def run(self) -> None:
        """Relay forever: on every outbox insert (LISTEN/NOTIFY) and at least once a second."""
        async with self.pool.acquire() as listener:
            await listener.add_listener("outbox", self._on_notify)
            try:
                while True:
                    await self._relay_until_empty()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), self.idle_poll_seconds)
                    self._wakeup.clear()
            finally:
                await listener.remove_listener("outbox", self._on_notify)

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

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
                          trace_context
                   FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1""",
                self.batch_size,
            )
            if not rows:
                return 0
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
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
            log.debug("relayed %d events", len(rows))
            return len(rows)
