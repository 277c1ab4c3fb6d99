"""notification-service entrypoint: read settings once, wire the pieces, serve."""

from __future__ import annotations

import asyncio
from importlib import resources

from bookpay_shared.http import install_error_handlers
from bookpay_shared.logs import configure
from bookpay_shared.runtime import ServiceRuntime
from fastapi import FastAPI

from notification_service.settings import NotificationSettings

SERVICE = "notification-service"


def create_app(settings: NotificationSettings) -> tuple[ServiceRuntime, FastAPI]:
    runtime = ServiceRuntime(
        SERVICE,
        settings,
        resources.files("notification_service") / "migrations",
        uses_projections=True,
    )
    app = runtime.http_app(title="bookpay notification-service", version="1")
    app.state.runtime = runtime
    install_error_handlers(app)
    return runtime, app


async def serve(settings: NotificationSettings) -> None:
    runtime, app = create_app(settings)
    await runtime.serve(app)


def run() -> None:
    settings = NotificationSettings()
    configure(SERVICE, settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    run()
