"""Settings shared by every service. Each service subclasses `ServiceSettings` with its own env
prefix (CHARGE_, BOOKING_, LINK_, NOTIFICATION_); `main` reads them once and passes them down."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bookpay_shared.guards import IpNetwork, parse_networks
from bookpay_shared.kafka import KafkaConnection, SaslMechanism, SecurityProtocol
from bookpay_shared.logs import LogFormat
from bookpay_shared.oidc import DEFAULT_ACCOUNT_CLAIM, DEFAULT_ROLES_CLAIM, OidcConfig


class ServiceSettings(BaseSettings):
    # A refused setting's error never quotes the input: it may hold a secret.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

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
    log_format: LogFormat = "text"
    """`text`: `time level service logger: message`, then the handled event and the trace id;
    `json`: one object per line with the same fields (docs/ops.md, "Traces and logs")."""
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
    oidc_issuer: str = ""
    """An identity provider whose bearer tokens are accepted besides API keys: the `iss` of its
    tokens. With oidc_audience and oidc_jwks_url; all three empty: no identity provider (see
    bookpay_shared.oidc)."""
    oidc_audience: str = ""
    """The `aud` a token must name: this deployment's API as the identity provider knows it."""
    oidc_jwks_url: str = ""
    """Where the identity provider publishes its signing keys (https; http outside production)."""
    oidc_account_claim: str = DEFAULT_ACCOUNT_CLAIM
    """The claim that holds the account id (a UUID) a token acts for."""
    oidc_platform_role: str = ""
    """The role that lets a token without an account act for every account (with the scopes of
    its `scope` claim); empty: every token must name an account."""
    oidc_roles_claim: str = DEFAULT_ROLES_CLAIM
    """The claim that lists a token's roles (a list, or space-separated)."""
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    """The largest request body any route takes; a larger one is answered 413 unread."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks (`10.0.0.0/8`) of the reverse proxies in front of the service.
    Only a request from one of them has its client address taken from X-Forwarded-For; with
    none, the connection's peer is the client (rate limits are per client address)."""
    fault_points: frozenset[str] = frozenset()
    """Test-only crash points (see bookpay_shared.faults); refused in production."""

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        parse_networks(value)  # a typo is refused at start-up, not ignored
        return value

    @property
    def trusted_networks(self) -> tuple[IpNetwork, ...]:
        return parse_networks(self.trusted_proxies)

    @model_validator(mode="after")
    def _no_faults_in_production(self) -> ServiceSettings:
        if self.environment == "production" and self.fault_points:
            raise ValueError("fault_points must be empty in production")
        if self.platform_key.get_secret_value():
            refuse_placeholder(
                self.platform_key, "platform_key", self.environment, min_length=PLATFORM_KEY_LENGTH
            )
        if self.kafka_password is not None:
            refuse_placeholder(self.kafka_password, "kafka_password", self.environment)
        refuse_placeholder_dsn(self.database_url, "database_url", self.environment)
        return self

    @model_validator(mode="after")
    def _kafka_credentials_when_sasl(self) -> ServiceSettings:
        self.kafka_connection()  # a SASL protocol without a username and password is refused
        if self.environment == "production" and self.kafka_security_protocol == "PLAINTEXT":
            raise ValueError(
                "kafka_security_protocol PLAINTEXT (no credentials) is refused in production: "
                "use SASL_SSL (or SASL_PLAINTEXT on a private network) with the service's principal"
            )
        return self

    @model_validator(mode="after")
    def _identity_provider_whole_or_none(self) -> ServiceSettings:
        self.oidc_config()  # a partial identity provider is refused at start, not half-used
        return self

    def oidc_config(self) -> OidcConfig | None:
        """The identity provider whose tokens are accepted, or None when none is configured."""
        prefix = str(self.model_config.get("env_prefix", "")).upper()
        required = {
            "oidc_issuer": self.oidc_issuer,
            "oidc_audience": self.oidc_audience,
            "oidc_jwks_url": self.oidc_jwks_url,
        }
        missing = [f"{prefix}{name.upper()}" for name, value in required.items() if not value]
        if len(missing) == len(required):
            if self.oidc_platform_role:
                raise ValueError(
                    f"{prefix}OIDC_PLATFORM_ROLE is set without an identity provider: set "
                    f"{', '.join(missing)} too, or leave it empty"
                )
            return None
        if missing:
            raise ValueError(
                "an identity provider needs its issuer, audience and JWKS URL together: "
                f"{', '.join(missing)} not set (or leave all three empty for none)"
            )
        schemes = ("https",) if self.environment == "production" else ("https", "http")
        if urlsplit(self.oidc_jwks_url).scheme not in schemes:
            raise ValueError(f"{prefix}OIDC_JWKS_URL must be an {' or '.join(schemes)} URL")
        if not self.oidc_account_claim or not self.oidc_roles_claim:
            raise ValueError(f"{prefix}OIDC_ACCOUNT_CLAIM and {prefix}OIDC_ROLES_CLAIM name claims")
        return OidcConfig(
            issuer=self.oidc_issuer,
            audience=self.oidc_audience,
            jwks_url=self.oidc_jwks_url,
            account_claim=self.oidc_account_claim,
            platform_role=self.oidc_platform_role,
            roles_claim=self.oidc_roles_claim,
        )

    def kafka_connection(self) -> KafkaConnection:
        return KafkaConnection(
            bootstrap_servers=self.kafka_bootstrap_servers,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_username,
            password=self.kafka_password,
        )


DEVELOPMENT_SECRETS = frozenset(
    {
        # devstack (make run, the tests) and docker-compose.yml
        "sk_test_bookpay_local_only",
        "pk_test_bookpay_local_only",
        "whsec_dev_bookpay_local_only",
        "bookpay_dev_only",
        "sk_test_compose_local_only",
        "pk_test_compose_local_only",
        "whsec_compose_local_only",
        "bookpay_compose_local_only",
        "bp_platform_dev_local_only_5f1c0e9a7d3b4e21",
        "bp_platform_compose_local_only",
        # the services' own defaults and the API documents' placeholders
        "dev-only-link-csrf-secret",
        "sk_test_docs_only",
        "pk_test_docs_only",
    }
)
"""Secrets that are known because the repository holds them: never good in production."""

PLACEHOLDER_MARKERS = (
    "dev",
    "local_only",
    "local-only",
    "docs_only",
    "changeme",
    "change-me",
    "change_me",
    "placeholder",
    "example",
    "secret",
    "password",
    "xxxx",
)
"""Text that marks a value as made up, whichever the secret."""

MIN_SECRET_LENGTH = 16
PLATFORM_KEY_LENGTH = 32
"""The platform key acts for every account: it needs more than the other secrets."""


def placeholder_problem(secret: str, *, min_length: int = MIN_SECRET_LENGTH) -> str | None:
    """Why `secret` is not a real secret (None when nothing says it is not)."""
    if not secret.strip():
        return "is empty"
    if secret in DEVELOPMENT_SECRETS:
        return "is a development value from this repository"
    lowered = secret.lower()
    if any(marker in lowered for marker in PLACEHOLDER_MARKERS):
        return "looks like a placeholder"
    if len(secret) < min_length:
        return f"is shorter than {min_length} characters"
    return None


def refuse_placeholder(
    value: SecretStr | None, name: str, environment: str, *, min_length: int = MIN_SECRET_LENGTH
) -> None:
    """In production, refuse a secret that is missing, empty, too short, one of the repository's
    development values, or text that marks a placeholder ("dev", "changeme", ...). The error
    names the setting, never its value."""
    if environment != "production":
        return
    problem = (
        "is not set"
        if value is None
        else placeholder_problem(value.get_secret_value(), min_length=min_length)
    )
    if problem is not None:
        raise ValueError(f"{name} {problem}; set a real secret in production")


def refuse_placeholder_dsn(value: SecretStr, name: str, environment: str) -> None:
    """In production, refuse a database URL whose password is a development value."""
    if environment != "production":
        return
    password = urlsplit(value.get_secret_value()).password
    if password is not None and (
        password in DEVELOPMENT_SECRETS or placeholder_problem(password, min_length=1)
    ):
        raise ValueError(f"{name} holds a development password; set a real one in production")
