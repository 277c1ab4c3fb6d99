from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from bookpay_shared.settings import ServiceSettings, refuse_placeholder
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

REAL_STRIPE_JS = "https://js.stripe.com/v3/"
# Stripe.js itself talks to these origins (its API and its 3-D Secure frames): Stripe's own
# Content-Security-Policy guidance.
REAL_STRIPE_ORIGINS = ("https://api.stripe.com", "https://hooks.stripe.com")


class LinkSettings(ServiceSettings):
    """link-service settings, from LINK_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="LINK_", extra="ignore", frozen=True)

    http_port: int = 8003
    """The staff API (and its /docs)."""
    public_http_port: int = 8103
    """The payment pages (`/pay/...`, their assets and POSTs) alone: the port customers reach,
    through `public_base_url`."""
    public_base_url: str = "http://127.0.0.1:8103"
    """Where customers reach the payment pages; links are `<public_base_url>/pay/<token>`."""
    default_expiry_hours: int = Field(default=24 * 7, ge=1, le=24 * 90)

    stripe_secret_key: SecretStr
    stripe_api_base: str | None = None
    """None for real Stripe; http://127.0.0.1:8420 for localstripe."""
    stripe_stand_in: Literal["none", "localstripe"] = "none"
    stripe_js_url: str = REAL_STRIPE_JS
    """The Stripe.js script the payment page loads (a test stand-in in the local stack)."""
    stripe_publishable_key: str = Field(pattern=r"^pk_(test|live)_[A-Za-z0-9_]+$")
    stripe_csp_origins: tuple[str, ...] = REAL_STRIPE_ORIGINS
    """Origins Stripe.js needs besides its own, allowed by the page's CSP (empty for a stand-in
    that serves everything from the Stripe.js origin)."""

    csrf_secret: SecretStr = SecretStr("dev-only-link-csrf-secret")
    """HMAC key of the payment page's CSRF tokens."""
    rate_limit_per_second: float = Field(default=1.0, gt=0)
    rate_limit_burst: int = Field(default=30, ge=1)
    """Requests to /pay per client address: `burst` at once, refilled at `per_second`."""
    resend_rate_limit_per_second: float = Field(default=0.05, gt=0)
    resend_rate_limit_burst: int = Field(default=5, ge=1)
    """Link resends (each one an email) per account and per client address."""
    sweep_interval_seconds: float = Field(default=30.0, gt=0)

    @field_validator("public_base_url", "stripe_js_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return value

    @model_validator(mode="after")
    def _real_secrets_in_production(self) -> LinkSettings:
        refuse_placeholder(self.stripe_secret_key, "stripe_secret_key", self.environment)
        refuse_placeholder(self.csrf_secret, "csrf_secret", self.environment)
        if self.environment == "production" and not self.public_base_url.startswith("https://"):
            raise ValueError("public_base_url must be https in production")
        if self.environment == "production" and self.public_http_port == self.http_port:
            raise ValueError("public_http_port must differ from http_port")
        return self

    @property
    def public_origin(self) -> str:
        return origin_of(self.public_base_url)

    @property
    def stripe_js_origin(self) -> str:
        return origin_of(self.stripe_js_url)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
