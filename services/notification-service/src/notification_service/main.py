"""notification-service entrypoint: read settings once, wire the pieces, serve."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources

from bookpay_shared.http import install_error_handlers
from bookpay_shared.runtime import ServiceRuntime, run_service
from fastapi import FastAPI

from notification_service.adapters.mailer import SmtpConfig, SmtpMailer
from notification_service.emails.rendering import compile_templates
from notification_service.entrypoints import consumers, routes, tasks
from notification_service.settings import NotificationSettings
from notification_service.usecases.delivery import Sender
from notification_service.usecases.deps import SERVICE, Deps
from notification_service.usecases.ports import Mailer


def create_app(
    settings: NotificationSettings, mailer: Mailer | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    runtime = ServiceRuntime(
        SERVICE,
        settings,
        resources.files("notification_service") / "migrations",
        uses_projections=True,
    )
    deps = Deps(
        pool=runtime.db,
        payment_page_base_url=settings.payment_page_base_url,
        charge_service_base_url=settings.charge_service_base_url,
        projection_wait=timedelta(seconds=settings.projection_wait_seconds),
        admin_email_settle=timedelta(seconds=settings.admin_email_settle_seconds),
    )
    compile_templates()
    consumers.register(runtime, deps)
    sender = _sender(settings, runtime, mailer or SmtpMailer(smtp_config(settings)))
    tasks.register(
        runtime,
        deps,
        sender,
        admin_email_flush_seconds=max(1.0, min(30.0, settings.admin_email_settle_seconds / 4)),
        receipt_retry_seconds=settings.receipt_retry_seconds,
    )
    app = runtime.http_app(title="bookpay notification-service", version="1")
    app.state.runtime = runtime
    app.state.preview_link_url = settings.preview_link_url
    install_error_handlers(app, routes.ERROR_ANSWERS)
    app.include_router(routes.router)
    return runtime, app


def smtp_config(settings: NotificationSettings) -> SmtpConfig:
    password = settings.smtp_password
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        mail_from=settings.mail_from,
        username=settings.smtp_username,
        password=None if password is None else password.get_secret_value(),
        starttls=settings.smtp_starttls,
        use_tls=settings.smtp_use_tls,
        timeout_seconds=settings.smtp_timeout_seconds,
    )


def _sender(settings: NotificationSettings, runtime: ServiceRuntime, mailer: Mailer) -> Sender:
    return Sender(
        pool=runtime.db,
        mailer=mailer,
        policy=settings.retry_policy,
        batch_size=settings.send_batch_size,
        lease_seconds=settings.send_lease_seconds,
        poll_seconds=settings.send_poll_seconds,
        faults=runtime.faults,
        metrics=runtime.metrics,
    )


def run() -> None:
    run_service(SERVICE, NotificationSettings, create_app)


if __name__ == "__main__":
    run()
