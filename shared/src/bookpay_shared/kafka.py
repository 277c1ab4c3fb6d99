"""Kafka producing: one idempotent producer per process (acks=all), used by the outbox relay
and the dead-letter path, and the broker health check."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer


@dataclass(frozen=True)
class OutgoingMessage:
    topic: str
    key: bytes
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Producer:
    """An idempotent producer: per-partition order and no duplicates from producer retries."""

    def __init__(self, bootstrap_servers: str, client_id: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            request_timeout_ms=15_000,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_batch(self, messages: list[OutgoingMessage]) -> None:
        """Send in order and return once the broker acknowledged every message."""
        pending = [
            await self._producer.send(
                m.topic,
                value=m.value,
                key=m.key,
                headers=[(k, v.encode()) for k, v in m.headers.items()],
            )
            for m in messages
        ]
        await asyncio.gather(*pending)

    async def send(self, message: OutgoingMessage) -> None:
        await self.send_batch([message])

    async def is_healthy(self, timeout: float = 2.0) -> bool:
        """True when the broker answers a metadata request."""
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout)
        except Exception:
            return False
        return True
