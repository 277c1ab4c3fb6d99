from __future__ import annotations

from bookpay_shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class BookingSettings(ServiceSettings):
    """booking-service settings, from BOOKING_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="BOOKING_", extra="ignore", frozen=True)

    http_port: int = 8001
