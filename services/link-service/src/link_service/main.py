"""link-service entrypoint: read settings once, wire the pieces, serve."""

from __future__ import annotations

from importlib import resources

from bookpay_shared.http import install_error_handlers
from bookpay_shared.metrics import Metrics
from bookpay_shared.ratelimit import RateLimiter
from bookpay_shared.runtime import ServiceRuntime, run_service
from fastapi import FastAPI

from link_service.adapters.stripe_gateway import StripeApiGateway
from link_service.entrypoints import consumers, pages, routes, security, tasks
from link_service.entrypoints.views import StripeJs
from link_service.settings import LinkSettings
from link_service.usecases.links import SERVICE, Deps
from link_service.usecases.ports import StripeGateway


def create_app(
    settings: LinkSettings, stripe: StripeGateway | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    runtime = ServiceRuntime(
        SERVICE, settings, resources.files("link_service") / "migrations", uses_projections=True
    )
    deps = Deps(
        pool=runtime.db,
        stripe=stripe or _stripe_gateway(settings, runtime.metrics),
        public_base_url=settings.public_base_url,
        default_expiry_hours=settings.default_expiry_hours,
    )
    consumers.register(runtime, deps)

    tasks.register(runtime, deps, every_seconds=settings.sweep_interval_seconds)
    app = runtime.http_app(title="bookpay link-service", version="1")
    app.state.runtime = runtime
    app.state.deps = deps
    app.state.page_config = pages.PageConfig(
        stripe_js=StripeJs(settings.stripe_js_url, settings.stripe_publishable_key),
        csrf_secret=settings.csrf_secret.get_secret_value().encode(),
        public_origin=settings.public_origin,
        secure_cookies=settings.public_base_url.startswith("https://"),
    )
    app.state.trusted_proxies = settings.trusted_networks
    app.state.resend_limiter = RateLimiter(
        settings.resend_rate_limit_per_second, settings.resend_rate_limit_burst
    )
    install_error_handlers(app, routes.ERROR_ANSWERS)
    page_limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    security.install(app, settings, page_limiter)
    app.include_router(routes.router)
    # The payment pages are public: their own app and port, with nothing of the staff API.
    public = runtime.public_app(title="bookpay payment pages", port=settings.public_http_port)
    public.state.deps = deps
    public.state.page_config = app.state.page_config
    install_error_handlers(public)
    security.install(public, settings, page_limiter)
    public.include_router(pages.router)
    return runtime, app


def _stripe_gateway(settings: LinkSettings, metrics: Metrics) -> StripeGateway:
    key = settings.stripe_secret_key.get_secret_value()
    if settings.stripe_stand_in == "localstripe":
        assert settings.stripe_api_base, "LINK_STRIPE_API_BASE must name the localstripe server"
        return StripeApiGateway.for_localstripe(settings.stripe_api_base, key, metrics=metrics)
    return StripeApiGateway(key, api_base=settings.stripe_api_base, metrics=metrics)


def run() -> None:
    run_service(SERVICE, LinkSettings, create_app)


if __name__ == "__main__":
    run()
