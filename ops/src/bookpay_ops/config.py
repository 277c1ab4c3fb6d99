"""Where the deployment is and who bookpay-ops is, read once from options or the environment.

Every command takes the same connection: Kafka's brokers and a principal allowed to read every
topic and describe every group (`admin` by default, the super user of `make run`'s stack), and
each service's staff URL with the platform key (for what only a service knows: a charge's
history, a link, the emails, outbox backlogs). The defaults are `make run`'s stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from bookpay_shared.kafka import KafkaConnection, SaslMechanism, SecurityProtocol
from pydantic import SecretStr

SERVICES = ("booking-service", "charge-service", "link-service", "notification-service")
DEFAULT_URLS = {
    "booking-service": "http://127.0.0.1:8001",
    "charge-service": "http://127.0.0.1:8002",
    "link-service": "http://127.0.0.1:8003",
    "notification-service": "http://127.0.0.1:8004",
}
DEV_PLATFORM_KEY = "bp_platform_dev_local_only_5f1c0e9a7d3b4e21"
"""`make run`'s development platform key (refused by services in production)."""


@dataclass(frozen=True)
class Target:
    """One bookpay deployment, as bookpay-ops reaches it."""

    kafka: KafkaConnection
    service_urls: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_URLS))
    platform_key: SecretStr = field(default=SecretStr(DEV_PLATFORM_KEY), repr=False)

    def url(self, service: str) -> str:
        return self.service_urls[service].rstrip("/")


BootstrapOption = Annotated[
    str,
    typer.Option(
        "--bootstrap-server",
        envvar="BOOKPAY_KAFKA_BOOTSTRAP_SERVERS",
        help="Kafka brokers, host:port[,host:port...]",
        rich_help_panel="Connection",
    ),
]
UsernameOption = Annotated[
    str,
    typer.Option(
        "--username",
        envvar="BOOKPAY_KAFKA_USERNAME",
        help="Kafka principal (must read every topic and describe every group)",
        rich_help_panel="Connection",
    ),
]
PasswordOption = Annotated[
    str | None,
    typer.Option(
        "--password",
        envvar="BOOKPAY_KAFKA_PASSWORD",
        help="its password (default: the dev stack's, <username>-dev-only-password)",
        show_default=False,
        rich_help_panel="Connection",
    ),
]
ProtocolOption = Annotated[
    str,
    typer.Option(
        "--security-protocol",
        envvar="BOOKPAY_KAFKA_SECURITY_PROTOCOL",
        help="PLAINTEXT, SASL_PLAINTEXT or SASL_SSL",
        rich_help_panel="Connection",
    ),
]
MechanismOption = Annotated[
    str,
    typer.Option(
        "--sasl-mechanism",
        envvar="BOOKPAY_KAFKA_SASL_MECHANISM",
        help="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
        rich_help_panel="Connection",
    ),
]


def _service_option(service: str) -> Any:
    env = "BOOKPAY_OPS_" + service.split("-")[0].upper() + "_URL"
    return typer.Option(
        f"--{service.split('-')[0]}-url",
        envvar=env,
        help=f"{service}'s staff URL",
        rich_help_panel="Connection",
    )


PlatformKeyOption = Annotated[
    str,
    typer.Option(
        "--platform-key",
        envvar="BOOKPAY_PLATFORM_KEY",
        help="the services' platform key (default: the dev stack's)",
        show_default=False,
        rich_help_panel="Connection",
    ),
]
BookingUrl = Annotated[str, _service_option("booking-service")]
ChargeUrl = Annotated[str, _service_option("charge-service")]
LinkUrl = Annotated[str, _service_option("link-service")]
NotificationUrl = Annotated[str, _service_option("notification-service")]


def build_target(
    *,
    bootstrap_server: str,
    username: str,
    password: str | None,
    security_protocol: str,
    sasl_mechanism: str,
    booking_url: str,
    charge_url: str,
    link_url: str,
    notification_url: str,
    platform_key: str,
) -> Target:
    protocol: SecurityProtocol
    if security_protocol not in ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"):
        raise typer.BadParameter(f"unknown security protocol {security_protocol!r}")
    protocol = security_protocol  # type: ignore[assignment]
    mechanism: SaslMechanism
    if sasl_mechanism not in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        raise typer.BadParameter(f"unknown SASL mechanism {sasl_mechanism!r}")
    mechanism = sasl_mechanism  # type: ignore[assignment]
    sasl = protocol.startswith("SASL")
    kafka = KafkaConnection(
        bootstrap_server,
        security_protocol=protocol,
        sasl_mechanism=mechanism,
        username=username if sasl else None,
        password=SecretStr(password or f"{username}-dev-only-password") if sasl else None,
    )
    return Target(
        kafka=kafka,
        service_urls={
            "booking-service": booking_url,
            "charge-service": charge_url,
            "link-service": link_url,
            "notification-service": notification_url,
        },
        platform_key=SecretStr(platform_key),
    )
