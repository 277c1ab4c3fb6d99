"""HTTP safety of link-service: security headers on every response, a strict
Content-Security-Policy on the payment pages, a rate limit on /pay, and the pages' CSRF check.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from bookpay_shared.csp import API_CSP, security_headers, stripe_page_csp
from bookpay_shared.guards import client_address
from bookpay_shared.ratelimit import RateLimiter
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse

from link_service.settings import LinkSettings

PAGES_PREFIX = "/pay"
CSRF_COOKIE = "bookpay_pay_csrf"
CSRF_HEADER = "X-CSRF-Token"


def page_csp(settings: LinkSettings) -> str:
    """Our origin ('self') and Stripe.js's, nothing else; no framing, no inline script."""
    stripe = (settings.stripe_js_origin, *settings.stripe_csp_origins)
    # https: for the business's logo (an https URL, checked where it is set).
    return stripe_page_csp(stripe, images=("https:", *stripe))


def install(app: FastAPI, settings: LinkSettings, limiter: RateLimiter) -> None:
    csp = page_csp(settings)
    trusted = settings.trusted_networks
    https = settings.public_base_url.startswith("https://")

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        is_page = path == PAGES_PREFIX or path.startswith(PAGES_PREFIX + "/")
        client = client_address(request, trusted) if is_page else ""
        wait = limiter.allow(client) if is_page else 0.0
        if wait:
            response: Response = PlainTextResponse(
                "Too many requests. Please wait a moment and try again.",
                status_code=429,
                headers={"Retry-After": str(math.ceil(wait))},
            )
        else:
            response = await call_next(request)
        response.headers.update(
            security_headers(csp if is_page else API_CSP, page=is_page, https=https)
        )
        return response


def same_origin(request: Request, public_origin: str) -> bool:
    """A POST from the page itself: no Origin header (old browsers), or our public origin."""
    origin = request.headers.get("origin")
    return origin is None or origin == public_origin
