"""charge-service entrypoint: read settings once, wire the pieces, serve."""

from __future__ import annotations

import asyncio
from importlib import resources

from bookpay_shared.http import install_error_handlers
from bookpay_shared.logs import configure
from bookpay_shared.runtime import ServiceRuntime
from fastapi import FastAPI

from charge_service import consumers, handlers, routes
from charge_service.settings import ChargeSettings
from charge_service.stripe_gateway import StripeApiGateway, StripeGateway

SERVICE = "charge-service"


def create_app(
    settings: ChargeSettings, stripe: StripeGateway | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    runtime = ServiceRuntime(
        SERVICE, settings, resources.files("charge_service") / "migrations", uses_projections=True
    )
    gateway = stripe or StripeApiGateway(
        settings.stripe_secret_key.get_secret_value(),
        api_base=settings.stripe_api_base,
        supports_setup_future_usage=settings.stripe_supports_setup_future_usage,
    )
    deps = handlers.Deps(
        pool=runtime.db,
        stripe=gateway,
        faults=runtime.faults,
        stripe_max_attempts=settings.stripe_max_attempts,
    )
    consumers.register(runtime, deps)
    app = runtime.http_app(title="bookpay charge-service", version="1")
    app.state.runtime = runtime
    app.state.deps = deps
    install_error_handlers(app)
    app.include_router(routes.router)
    return runtime, app


async def serve(settings: ChargeSettings) -> None:
    runtime, app = create_app(settings)
    await runtime.serve(app)


def run() -> None:
    settings = ChargeSettings()
    configure(SERVICE, settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    run()
