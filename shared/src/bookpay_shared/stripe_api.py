"""What every service that talks to Stripe shares: the pinned API version, how the client is
built, and which Stripe errors are worth trying again.

Installed with the `stripe` extra (`bookpay-shared[stripe]`): only charge-service and
link-service call Stripe, the other services never import stripe-python.

A Stripe error is *transient* when the same request may succeed later unchanged: the network
(APIConnectionError), rate limiting (429), Stripe's own failures (5xx, an APIError without an
HTTP status), a lock on the object (`lock_timeout`) and a concurrent request with the same
idempotency key (409). Every other error (a declined card, an invalid request, a missing
object, a bad key) is an answer: trying again gives the same one.
"""

from __future__ import annotations

import logging

import stripe

STRIPE_API_VERSION = "2026-10-28.endive"
"""The Stripe API version every request pins (the one stripe-python 16.1 is generated for)."""

# stripe-python logs every response body at DEBUG, client secrets included: whatever a
# service's log level, stripe-python's records stop at INFO (the method, path and status of
# each call).
logging.getLogger("stripe").setLevel(logging.INFO)


def new_client(
    secret_key: str,
    api_base: str | None = None,
    *,
    timeout_seconds: float,
    max_network_retries: int,
    http_client: stripe.HTTPClient | None = None,
) -> tuple[stripe.StripeClient, stripe.HTTPClient]:
    """A client pinned to `STRIPE_API_VERSION` on stripe-python's async httpx transport (or
    `http_client`), and that transport, to close when done. `api_base` points it at a
    stand-in (localstripe) instead of api.stripe.com."""
    http = http_client or stripe.HTTPXClient(timeout=timeout_seconds)
    client = stripe.StripeClient(
        secret_key,
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": api_base} if api_base else None,
        http_client=http,
        max_network_retries=max_network_retries,
    )
    return client, http


def is_transient(exc: stripe.StripeError) -> bool:
    """Whether the request that raised `exc` may succeed if tried again (see the module)."""
    status = exc.http_status
    return (
        isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError)
        or exc.code == "lock_timeout"
        or status == 409
        or (status is not None and status >= 500)
        or (isinstance(exc, stripe.APIError) and status is None)
    )
