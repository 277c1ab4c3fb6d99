from __future__ import annotations

from typing import Literal

from bookpay_shared.settings import ServiceSettings, refuse_placeholder
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict


class ChargeSettings(ServiceSettings):
    """charge-service settings, from CHARGE_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="CHARGE_", extra="ignore", frozen=True)

    http_port: int = 8002
    """The staff API (and its /docs)."""
    webhook_http_port: int = 8102
    """Stripe's webhook alone, `POST /v1/stripe/webhooks`: the port to expose to Stripe."""
    webhook_max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=4 * 1024 * 1024)
    """The largest webhook body taken; Stripe's events are a few kilobytes."""
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
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1, le=600)
    """How old a webhook's signed timestamp may be (replays of older ones are refused)."""
    stripe_publishable_key: str = ""
    """For Stripe.js on the staff card-entry page."""
    stripe_js_url: str = "https://js.stripe.com/v3/"
    max_attempts_per_charge: int = Field(default=5, ge=1, le=20)
    """Attempts one charge may make, the first included: a new-card charge takes another card
    only this many times in all (card testing needs many)."""
    attempt_rate_limit_per_second: float = Field(default=0.1, gt=0)
    attempt_rate_limit_burst: int = Field(default=10, ge=1)
    """New-card attempts per account and per client address: `burst` at once, then refilled
    at `per_second`."""
    reconcile_every_seconds: float = 10.0
    reconcile_idle_seconds: float = 30.0
    """A charge in flight this long without a change is looked at by the sweep."""

    @model_validator(mode="after")
    def _real_secrets_in_production(self) -> ChargeSettings:
        if self.stripe_stand_in == "memory" and self.environment == "production":
            raise ValueError("stripe_stand_in=memory is for benchmarks; refused in production")
        refuse_placeholder(self.stripe_secret_key, "stripe_secret_key", self.environment)
        refuse_placeholder(self.stripe_webhook_secret, "stripe_webhook_secret", self.environment)
        if self.environment == "production" and self.webhook_http_port == self.http_port:
            raise ValueError("webhook_http_port must differ from http_port")
        return self
