from __future__ import annotations

from bookpay_shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class LinkSettings(ServiceSettings):
    """link-service settings, from LINK_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="LINK_", extra="ignore", frozen=True)

    http_port: int = 8003
