"""One access log line and one server span per HTTP request (a pure ASGI middleware).

The span continues the trace of the request's `traceparent`/`tracestate` headers (a new trace
without them), so everything the request logs and every event it enqueues carries its trace id.
The line, on the `bookpay.access` logger, once the response is sent:

    POST /v1/accounts/{account_id}/charges 202 in 12 ms from 127.0.0.1

It names the route's template, never the path as requested: a path may hold a payment link's
token (`/pay/{token}`) or other ids better left out. A request that matched no route (a 404, a
413 refused before routing) is named by its path, through `logs.redact`; the query string is
never logged. The client's address is `guards.client_address`'s (X-Forwarded-For from trusted
proxies only). Health probes (`/healthz`, `/readyz`), asked every few seconds by orchestrators,
log at DEBUG.
"""

from __future__ import annotations

import logging
import time

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bookpay_shared.guards import IpNetwork, client_address
from bookpay_shared.logs import redact
from bookpay_shared.tracing import extract_from_http, tracer

log = logging.getLogger("bookpay.access")

_PROPAGATION_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})
_PROBES = frozenset({"/healthz", "/readyz"})
_MAX_PATH = 200


class AccessLog:
    def __init__(self, app: ASGIApp, trusted: tuple[IpNetwork, ...] = ()) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _PROPAGATION_HEADERS
        }
        method: str = scope["method"]
        # Named by the route once it is known (the path may hold a secret).
        span = tracer().start_span(method, context=extract_from_http(carrier), kind=SpanKind.SERVER)
        status = 500  # what the client gets when the app fails before answering
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with trace.use_span(span, end_on_exit=True):
            try:
                await self.app(scope, receive, recording_send)
            finally:
                self._done(scope, span, method, status, time.perf_counter() - started)

    def _done(
        self, scope: Scope, span: trace.Span, method: str, status: int, seconds: float
    ) -> None:
        route = route_of(scope)
        client = client_address(scope, self.trusted)
        if span.is_recording():
            span.update_name(f"{method} {route}")
            span.set_attributes(
                {
                    "http.request.method": method,
                    "http.route": route,
                    "http.response.status_code": status,
                    "client.address": client,
                }
            )
            if status >= 500:
                span.set_status(StatusCode.ERROR)
        log.log(
            logging.DEBUG if route in _PROBES else logging.INFO,
            "%s %s %d in %.0f ms from %s",
            method,
            route,
            status,
            seconds * 1000,
            client,
            extra={
                "http_method": method,
                "http_route": route,
                "http_status": status,
                "duration_ms": round(seconds * 1000, 1),
                "client_address": client,
            },
        )


def route_of(scope: Scope) -> str:
    """The template of the route that served the request (`/pay/{token}`), or, when none did,
    its path with any secret redacted, cut to 200 characters."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(template, str):
        return str(scope.get("root_path", "")) + template
    path: str = scope.get("path", "")
    return redact(path)[:_MAX_PATH]
