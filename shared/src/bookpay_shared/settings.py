"""Settings shared by every service. Each service subclasses `ServiceSettings` with its own env
prefix (CHARGE_, BOOKING_, LINK_, NOTIFICATION_); `main` reads them once and passes them down."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bookpay_shared.kafka import KafkaConnection, SaslMechanism, SecurityProtocol


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    database_url: SecretStr = Field(description="postgresql://user:password@host:port/database")
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    """SASL_PLAINTEXT (or SASL_SSL) with the service's own principal where the brokers
    authenticate clients (they do in the local stack and in docker-compose)."""
    kafka_sasl_mechanism: SaslMechanism = "PLAIN"
    kafka_username: str | None = None
    """The service's Kafka principal (e.g. charge-service): the brokers' ACLs let it write only
    the topics it owns and read only those it consumes (docs/kafka-security.md)."""
    kafka_password: SecretStr | None = None
    http_host: str = "127.0.0.1"
    http_port: int
    log_level: str = "INFO"
    database_pool_size: int = Field(default=20, ge=1)
    """Connections this process keeps to its database (the server's max_connections bounds
    the sum over every instance of every service)."""
    consumer_max_in_flight: int = Field(default=256, ge=1)
    """Events one consumer (one topic) handles at once, across keys; 1 = one at a time."""
    consumer_grace_seconds: float = Field(default=10.0, ge=0)
    """How long events in flight may take to finish on a stop or a rebalance."""
    platform_key: SecretStr = SecretStr("")
    """The platform credential: acts for every account with every scope, and alone may create
    accounts (see bookpay_shared.auth). Empty: none. At least 32 characters, and no
    development placeholder, in production."""
    fault_points: frozenset[str] = frozenset()
    """Test-only crash points (see bookpay_shared.faults); refused in production."""

    @model_validator(mode="after")
    def _no_faults_in_production(self) -> ServiceSettings:
        if self.environment == "production" and self.fault_points:
            raise ValueError("fault_points must be empty in production")
        if self.platform_key.get_secret_value():
            refuse_placeholder(self.platform_key, "platform_key", self.environment)
            if self.environment == "production" and len(self.platform_key.get_secret_value()) < 32:
                raise ValueError("platform_key must be at least 32 characters in production")
        return self

    @model_validator(mode="after")
    def _kafka_credentials_when_sasl(self) -> ServiceSettings:
        self.kafka_connection()  # a SASL protocol without a username and password is refused
        return self

    def kafka_connection(self) -> KafkaConnection:
        return KafkaConnection(
            bootstrap_servers=self.kafka_bootstrap_servers,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_username,
            password=self.kafka_password,
        )


def refuse_placeholder(value: SecretStr, name: str, environment: str) -> None:
    """Refuse development placeholder secrets outside development and test."""
    if environment == "production" and (
        "dev" in value.get_secret_value() or not value.get_secret_value()
    ):
        raise ValueError(f"{name} holds a development placeholder; set a real secret in production")
