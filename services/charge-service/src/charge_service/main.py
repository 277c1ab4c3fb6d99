"""charge-service entrypoint: read settings once, wire the pieces, serve."""

from __future__ import annotations

from importlib import resources

from bookpay_shared.http import install_error_handlers
from bookpay_shared.metrics import Metrics
from bookpay_shared.ratelimit import RateLimiter
from bookpay_shared.runtime import ServiceRuntime, run_service
from fastapi import FastAPI

from charge_service.adapters.charge_metrics import charge_outcomes
from charge_service.adapters.memory_stripe import MemoryStripeGateway
from charge_service.adapters.stripe_gateway import StripeApiGateway
from charge_service.entrypoints import charge_lists, consumers, pages, routes, tasks
from charge_service.settings import ChargeSettings
from charge_service.usecases.deps import Deps
from charge_service.usecases.stripe_types import StripeGateway

SERVICE = "charge-service"


def create_app(
    settings: ChargeSettings, stripe: StripeGateway | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    runtime = ServiceRuntime(
        SERVICE, settings, resources.files("charge_service") / "migrations", uses_projections=True
    )
    deps = Deps(
        stripe=stripe or _stripe_gateway(settings, runtime.metrics),
        faults=runtime.faults,
        stripe_max_attempts=settings.stripe_max_attempts,
        webhook_secret=settings.stripe_webhook_secret.get_secret_value(),
        webhook_tolerance_seconds=settings.stripe_webhook_tolerance_seconds,
        max_attempts_per_charge=settings.max_attempts_per_charge,
    )
    consumers.register(runtime, deps)
    runtime.add_publish_listener(charge_outcomes(runtime.metrics))
    tasks.register(
        runtime,
        deps,
        idle_seconds=settings.reconcile_idle_seconds,
        every_seconds=settings.reconcile_every_seconds,
    )
    app = runtime.http_app(title="bookpay charge-service", version="1")
    app.state.runtime = runtime
    app.state.deps = deps
    app.state.pool = runtime.db
    app.state.settings = settings
    app.state.trusted_proxies = settings.trusted_networks
    app.state.attempt_limiter = RateLimiter(
        settings.attempt_rate_limit_per_second, settings.attempt_rate_limit_burst
    )
    install_error_handlers(app, routes.ERROR_ANSWERS)
    app.include_router(routes.router)
    app.include_router(charge_lists.router)
    app.include_router(pages.router)
    # Stripe's webhook is public: its own app and port, with nothing of the staff API.
    webhooks = runtime.public_app(
        title="bookpay charge-service webhooks",
        port=settings.webhook_http_port,
        max_body_bytes=settings.webhook_max_body_bytes,
    )
    webhooks.state.deps = deps
    webhooks.state.pool = runtime.db
    install_error_handlers(webhooks, routes.ERROR_ANSWERS)
    webhooks.include_router(routes.webhook_router)
    return runtime, app


def _stripe_gateway(settings: ChargeSettings, metrics: Metrics | None = None) -> StripeGateway:
    key = settings.stripe_secret_key.get_secret_value()
    if settings.stripe_stand_in == "memory":
        return MemoryStripeGateway(
            latency_ms=settings.stripe_latency_ms,
            max_concurrent=settings.stripe_max_concurrent,
        )
    if settings.stripe_stand_in == "localstripe":
        assert settings.stripe_api_base, "CHARGE_STRIPE_API_BASE must name the localstripe server"
        return StripeApiGateway.for_localstripe(settings.stripe_api_base, key, metrics=metrics)
    return StripeApiGateway(key, api_base=settings.stripe_api_base, metrics=metrics)


def run() -> None:
    run_service(SERVICE, ChargeSettings, create_app)


if __name__ == "__main__":
    run()
