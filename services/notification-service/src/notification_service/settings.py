from __future__ import annotations

from bookpay_shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class NotificationSettings(ServiceSettings):
    """notification-service settings, from NOTIFICATION_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="NOTIFICATION_", extra="ignore", frozen=True)

    http_port: int = 8004
