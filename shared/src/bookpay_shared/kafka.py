"""Kafka producing: one idempotent producer per process (acks=all), used by the outbox relay
and the dead-letter path, and the broker health check; and how a client connects and
authenticates (`KafkaConnection`), for producers and consumers alike."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from aiokafka import AIOKafkaProducer
from aiokafka.helpers import create_ssl_context
from pydantic import SecretStr

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are and who this client is: its principal's SASL username and
    password (the broker's ACLs decide what that principal may read and write)."""

    bootstrap_servers: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "PLAIN"
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.security_protocol.startswith("SASL") and not (self.username and self.password):
            raise ValueError(f"{self.security_protocol} needs a Kafka username and password")

    def client_args(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
        args: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL"):
            assert self.password is not None
            args |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password.get_secret_value(),
            }
        if self.security_protocol == "SASL_SSL":
            args["ssl_context"] = create_ssl_context()
        return args


@dataclass(frozen=True)
class OutgoingMessage:
    topic: str
    key: bytes
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Producer:
    """An idempotent producer: per-partition order and no duplicates from producer retries."""

    def __init__(self, kafka: KafkaConnection | str, client_id: str) -> None:
        if isinstance(kafka, str):
            kafka = KafkaConnection(kafka)
        self._producer = AIOKafkaProducer(
            **kafka.client_args(),
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
