from __future__ import annotations

from typing import Literal

from bookpay_shared.settings import ServiceSettings, refuse_placeholder
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict


class ChargeSettings(ServiceSettings):
    """charge-service settings, from CHARGE_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="CHARGE_", extra="ignore", frozen=True)

    http_port: int = 8002
    stripe_secret_key: SecretStr
    stripe_api_base: str | None = None
    """None for real Stripe; http://127.0.0.1:8420 for localstripe."""
    stripe_webhook_secret: SecretStr = SecretStr("")
    stripe_stand_in: Literal["none", "localstripe", "memory"] = "none"
    """"localstripe" leaves out the request parameters localstripe rejects (see
    docs/stripe-stand-in.md); "memory" is an in-memory Stripe inside the service, for
    benchmarks only (refused in production); "none" for real Stripe."""
    stripe_latency_ms: float = Field(default=0.0, ge=0)
    """"memory" only: how long each Stripe call takes."""
    stripe_max_concurrent: int = Field(default=0, ge=0)
    """"memory" only: at most this many Stripe calls at once (0: no cap)."""
    stripe_max_attempts: int = 4
    """Attempts of one Stripe call on transient errors before the event is retried later."""
    stripe_webhook_tolerance_seconds: int = 300
    stripe_publishable_key: str = ""
    """For Stripe.js on the staff card-entry page."""
    stripe_js_url: str = "https://js.stripe.com/v3/"
    reconcile_every_seconds: float = 10.0
    reconcile_idle_seconds: float = 30.0
    """A charge in flight this long without a change is looked at by the sweep."""

    @model_validator(mode="after")
    def _real_secrets_in_production(self) -> ChargeSettings:
        refuse_placeholder(self.stripe_secret_key, "stripe_secret_key", self.environment)
        if self.stripe_stand_in == "memory" and self.environment == "production":
            raise ValueError("stripe_stand_in=memory is for benchmarks; refused in production")
        return self
