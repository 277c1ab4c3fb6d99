"""booking-service entrypoint: read settings once, wire the pieces, serve."""

from __future__ import annotations

from importlib import resources

from bookpay_shared.http import install_error_handlers
from bookpay_shared.runtime import ServiceRuntime, run_service
from fastapi import FastAPI

from booking_service.entrypoints import consumers, key_routes, routes
from booking_service.settings import BookingSettings
from booking_service.usecases import keys

SERVICE = "booking-service"


def create_app(settings: BookingSettings) -> tuple[ServiceRuntime, FastAPI]:
    runtime = ServiceRuntime(SERVICE, settings, resources.files("booking_service") / "migrations")
    runtime.keys = keys.OwnKeys(runtime.db)
    consumers.register(runtime)
    app = runtime.http_app(title="bookpay booking-service", version="1")
    app.state.runtime = runtime
    install_error_handlers(app, routes.ERROR_ANSWERS)
    app.include_router(routes.router)
    app.include_router(key_routes.router)
    return runtime, app


def run() -> None:
    run_service(SERVICE, BookingSettings, create_app)


if __name__ == "__main__":
    run()
