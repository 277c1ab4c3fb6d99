"""Prometheus metrics: every series a service exports, defined once, on the process's own registry.

Each `ServiceRuntime` builds one `Metrics`, whose `CollectorRegistry` is its own (never
prometheus-client's global one): tests that build several runtimes in one process get fresh
counters each time, and no metric is registered twice. The runtime serves the registry at
`GET /metrics` on the staff app, and hands `Metrics` to what it wires: the consumers, the
outbox relay, the HTTP middleware (`HttpMetrics`), the services' Stripe gateways, the email
sender and charge-service's outcomes.

Every series carries the label `service` (the process's service name), so one Prometheus query
can span the four services. Hot paths bind their label values once (`ConsumerMetrics`, for a
subscription) or call `labels()` once per event; nothing looks a metric up by name at run time.
The names are the contract with dashboards and alert rules (`deploy/`): `METRIC_NAMES` lists
them, and a test checks that every name those files use is one of them. docs/ops.md#metrics
describes each.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CONTENT_TYPE_LATEST",
    "METRIC_NAMES",
    "METRIC_SERIES",
    "ConsumerMetrics",
    "HttpMetrics",
    "Metrics",
]

# Latency buckets in seconds: from a fast handler or route (ms) to a slow Stripe call (s).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# The outbox relay's latency: normally milliseconds, minutes while Kafka is away.
_RELAY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0)

UNMATCHED_ROUTE = "unmatched"
"""The `route` label of a request no route matches (a 404): never the raw path, which may hold a
payment token or be made up by anyone."""


@dataclass
class Metrics:
    """A service's metrics, registered on a registry of its own."""

    service: str
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        r = self.registry
        sub = ("service", "topic", "group")
        # --- consuming (consuming.py, ordered.py) ---
        self.messages_consumed = Counter(
            "bookpay_messages_consumed",
            "Messages whose handler finished (duplicates the handler ignored included).",
            sub,
            registry=r,
        )
        self.message_failures = Counter(
            "bookpay_message_failures",
            "Handler attempts that raised an unexpected error (each attempt counts).",
            sub,
            registry=r,
        )
        self.message_retries = Counter(
            "bookpay_message_retries",
            "Handler attempts that failed transiently and are retried (a dependency was away).",
            sub,
            registry=r,
        )
        self.messages_dead_lettered = Counter(
            "bookpay_messages_dead_lettered",
            "Messages sent to the topic's dead letters, by cause.",
            (*sub, "cause"),
            registry=r,
        )
        self.message_handling = Histogram(
            "bookpay_message_handling_seconds",
            "Duration of one handler attempt.",
            sub,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "bookpay_consumer_lag_messages",
            "Messages of a partition not yet finished by the group: the partition's high "
            "watermark minus the lowest offset not finished (the next commit point).",
            (*sub, "partition"),
            registry=r,
        )
        # --- outbox (outbox.py) ---
        self.outbox_unpublished = Gauge(
            "bookpay_outbox_unpublished_events",
            "Rows of this service's outbox not yet published.",
            ("service",),
            registry=r,
        )
        self.outbox_oldest_age = Gauge(
            "bookpay_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none).",
            ("service",),
            registry=r,
        )
        self.outbox_published = Counter(
            "bookpay_outbox_events_published",
            "Outbox events published to Kafka (the broker acknowledged them).",
            ("service", "topic"),
            registry=r,
        )
        self.outbox_relay_latency = Histogram(
            "bookpay_outbox_relay_latency_seconds",
            "Time from an outbox row's creation to the broker's acknowledgement of it.",
            ("service",),
            buckets=_RELAY_BUCKETS,
            registry=r,
        )
        # --- Stripe (the services' stripe_gateway.py) ---
        self.stripe_requests = Histogram(
            "bookpay_stripe_request_seconds",
            "Duration of one Stripe API call, whatever its outcome.",
            ("service", "operation"),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.stripe_errors = Counter(
            "bookpay_stripe_errors",
            "Stripe API calls that failed, by kind: card_rejected (a decline: the card's "
            "answer, not a fault), rejected (Stripe refused the request), unavailable.",
            ("service", "operation", "kind"),
            registry=r,
        )
        # --- emails (notification-service) ---
        self.emails = Counter(
            "bookpay_emails",
            "Email delivery attempts recorded, by outcome: sent, retried (a temporary "
            "failure, tried again later) or failed (given up).",
            ("service", "kind", "outcome"),
            registry=r,
        )
        # --- charges (charge-service) ---
        self.charges = Counter(
            "bookpay_charges",
            "Charge outcomes, counted as their event is published: accepted (a payment-link "
            "charge passed its checks), succeeded, failed (with its reason).",
            ("service", "method", "outcome", "reason"),
            registry=r,
        )
        # --- HTTP (every app) ---
        self.http_requests = Counter(
            "bookpay_http_requests",
            "HTTP requests answered, by route template (never the raw path) and status.",
            ("service", "method", "route", "status"),
            registry=r,
        )
        self.http_request_duration = Histogram(
            "bookpay_http_request_seconds",
            "Time to answer an HTTP request, by route template.",
            ("service", "method", "route"),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

    def series(self) -> dict[str, frozenset[str]]:
        """Every series name the exposition can show (what a Prometheus query may use: a
        counter's `<name>_total`, a gauge's `<name>`, a histogram's `<name>_bucket`, `_sum`
        and `_count`), with the label names it carries (`le` for buckets)."""
        found: dict[str, frozenset[str]] = {}
        for metric in vars(self).values():
            if not isinstance(metric, Counter | Gauge | Histogram):
                continue
            [family] = metric.describe()
            # prometheus-client keeps a metric's label names only in this attribute.
            labels = frozenset(metric._labelnames)
            if isinstance(metric, Counter):
                found[family.name + "_total"] = labels
            elif isinstance(metric, Gauge):
                found[family.name] = labels
            else:
                found[family.name + "_bucket"] = labels | {"le"}
                found[family.name + "_sum"] = found[family.name + "_count"] = labels
        return found

    def consumer(self, topic: str, group: str) -> ConsumerMetrics:
        """The series of one subscription, bound once."""
        return ConsumerMetrics(self, topic, group)

    def set_outbox_backlog(self, unpublished: int, oldest_age_seconds: float) -> None:
        self.outbox_unpublished.labels(self.service).set(unpublished)
        self.outbox_oldest_age.labels(self.service).set(oldest_age_seconds if unpublished else 0)

    def published(self, topic: str, latency_seconds: float) -> None:
        self.outbox_published.labels(self.service, topic).inc()
        self.outbox_relay_latency.labels(self.service).observe(latency_seconds)

    def stripe_call(self, operation: str, seconds: float, error_kind: str | None = None) -> None:
        """One Stripe call: its duration, and its failure's kind if it failed."""
        self.stripe_requests.labels(self.service, operation).observe(seconds)
        if error_kind is not None:
            self.stripe_errors.labels(self.service, operation, error_kind).inc()

    def email(self, kind: str, outcome: str) -> None:
        self.emails.labels(self.service, kind, outcome).inc()

    def charge(self, method: str, outcome: str, reason: str = "") -> None:
        self.charges.labels(self.service, method, outcome, reason).inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format (what `GET /metrics` answers)."""
        return generate_latest(self.registry)


class ConsumerMetrics:
    """One subscription's series (topic, group), bound when it subscribes."""

    def __init__(self, metrics: Metrics, topic: str, group: str) -> None:
        labels = (metrics.service, topic, group)
        self.consumed = metrics.messages_consumed.labels(*labels)
        self.failed = metrics.message_failures.labels(*labels)
        self.retried = metrics.message_retries.labels(*labels)
        self.handling = metrics.message_handling.labels(*labels)
        self._dead_lettered = metrics.messages_dead_lettered
        self._lag = metrics.consumer_lag
        self._labels = labels

    def dead_lettered(self, cause: str) -> None:
        self._dead_lettered.labels(*self._labels, cause).inc()

    def lag(self, partition: int, messages: int) -> None:
        self._lag.labels(*self._labels, str(partition)).set(max(0, messages))

    def forget_partition(self, partition: int) -> None:
        """A revoked partition: its lag is its new owner's to report."""
        with contextlib.suppress(KeyError):
            self._lag.remove(*self._labels, str(partition))


class HttpMetrics:
    """ASGI middleware: every request counted by method, route template and status, and timed.

    The route is the matched route's template (`/pay/{token}`, `/v1/accounts/{account_id}/…`),
    found after the app answered (a request refused before routing, such as a body over the
    limit, still counts under the route it was for); a request no route matches is
    `unmatched`. A raw path never becomes a label:
    it may carry a payment token, and anyone can make up new ones."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets when the app raises before answering
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            template = _route_template(scope)
            m = self.metrics
            method = str(scope.get("method", ""))
            m.http_requests.labels(m.service, method, template, str(status)).inc()
            m.http_request_duration.labels(m.service, method, template).observe(
                time.perf_counter() - started
            )


def _route_template(scope: Scope) -> str:
    """The template of the route that answered: the API's routes leave themselves in the scope
    (`scope["route"]`); plain routes (`/metrics`, `/docs`, `/openapi.json`, mounted files) do
    not with FastAPI's router, and are matched again here among the app's own routes."""
    route = scope.get("route")
    if route is None:
        for candidate in getattr(scope.get("app"), "routes", ()):
            match, _ = candidate.matches(scope)
            if match is not Match.NONE:
                route = candidate
                break
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


METRIC_SERIES: dict[str, frozenset[str]] = Metrics("names").series()
"""Every series bookpay exports, with its labels: alert rules and dashboards may use only
these (checked by tests/test_compose.py)."""
METRIC_NAMES: frozenset[str] = frozenset(METRIC_SERIES)
