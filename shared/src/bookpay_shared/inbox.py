"""Idempotent consumers: remember which events a consumer has processed.

Call `claim` inside the transaction that applies the event's effect: it returns False for an
event this consumer has already processed, and the caller then does nothing.
"""

from __future__ import annotations

import uuid

from bookpay_shared.db import Connection


async def claim(conn: Connection, consumer: str, event_id: uuid.UUID) -> bool:
    """Record (consumer, event_id); True when it is new, False when it was processed before."""
    inserted = await conn.fetchval(
        """INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)
           ON CONFLICT DO NOTHING RETURNING true""",
        consumer,
        event_id,
    )
    return bool(inserted)
