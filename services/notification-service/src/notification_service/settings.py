from __future__ import annotations

from email.headerregistry import Address
from email.utils import parseaddr

from bookpay_shared.settings import ServiceSettings, refuse_placeholder
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from notification_service.domain.notifications import RetryPolicy
from notification_service.emails.formats import safe_url


class NotificationSettings(ServiceSettings):
    """notification-service settings, from NOTIFICATION_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="NOTIFICATION_", extra="ignore", frozen=True)

    http_port: int = 8004

    # SMTP server (the local sink by default).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    """Upgrade the connection with STARTTLS (and refuse a server that cannot)."""
    smtp_use_tls: bool = False
    """Connect with implicit TLS (port 465 style). Outside development and test, one of the
    two is required: emails carry payment links and the login would cross in the clear."""
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    """The longest one send may take, from connecting to the server's reply to DATA."""
    mail_from: str = "bookpay <payments@bookpay.local>"

    # The delivery loop.
    send_batch_size: int = Field(default=10, ge=1, le=100)
    """Emails claimed and sent at once (one SMTP connection each)."""
    send_poll_seconds: float = Field(default=1.0, gt=0)
    send_lease_seconds: float = Field(default=120.0, gt=0)
    """How long a claimed email stays `sending` before another sender may send it again."""
    retry_base_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=600.0, gt=0)
    send_max_attempts: int = Field(default=25, ge=1)

    # Waiting for data that arrives through other topics.
    projection_wait_seconds: float = Field(default=600.0, ge=0)
    """How long an event whose account, customer or bookings are not known yet is retried
    before it is dead-lettered."""
    admin_email_settle_seconds: float = Field(default=300.0, ge=0)
    """How long the administrators' email waits for the bookings' BookingCharged events before
    it is sent with what is known."""

    payment_page_base_url: str = "http://127.0.0.1:8003"
    """bookpay's payment pages (link-service's public base URL): a PaymentLinkCreated whose
    `url` is not `<this>/pay/...` is dead-lettered, never emailed."""
    charge_service_base_url: str = "http://127.0.0.1:8002"
    """charge-service's staff API as staff reach it: the administrators' email links to the
    charge at `<this>/v1/accounts/{account_id}/charges/{charge_id}`."""
    receipt_retry_seconds: float = Field(default=5.0, gt=0)
    """How often receipts waiting for their account, customer or bookings are tried again."""
    preview_link_url: str = "https://pay.bookpay.invalid/pay/preview"
    """Stands in a preview for the link's URL, which only exists once the link is made."""

    @field_validator("charge_service_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            return safe_url(value)
        except ValueError as exc:
            raise ValueError(f"charge_service_base_url: {exc}") from exc

    @field_validator("mail_from")
    @classmethod
    def _parseable_sender(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address:
            raise ValueError(
                "mail_from must hold an address, e.g. 'bookpay <payments@example.com>'"
            )
        Address(addr_spec=address)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> NotificationSettings:
        if self.smtp_starttls and self.smtp_use_tls:
            raise ValueError("choose smtp_starttls or smtp_use_tls, not both")
        if self.environment not in ("development", "test") and not (
            self.smtp_starttls or self.smtp_use_tls
        ):
            raise ValueError(
                "SMTP needs TLS outside development and test: set smtp_starttls or smtp_use_tls"
            )
        if self.smtp_password is not None:
            refuse_placeholder(self.smtp_password, "smtp_password", self.environment, min_length=8)
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("set both smtp_username and smtp_password, or neither")
        if self.send_lease_seconds < 2 * self.smtp_timeout_seconds:
            raise ValueError("send_lease_seconds must be at least twice smtp_timeout_seconds")
        if self.retry_max_seconds < self.retry_base_seconds:
            raise ValueError("retry_max_seconds must not be below retry_base_seconds")
        return self

    @property
    def sender_address(self) -> str:
        return parseaddr(self.mail_from)[1]

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            base_seconds=self.retry_base_seconds,
            max_seconds=self.retry_max_seconds,
            max_attempts=self.send_max_attempts,
        )
