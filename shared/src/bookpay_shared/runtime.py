"""One way to run a service: the pieces every service has, wired in one place.

A service's `main` reads its settings, then, inside the event loop, builds a `ServiceRuntime`,
registers its consumers, routes and background tasks, and awaits `serve()`. Nothing connects
before the loop runs. HTTP is served at once; then the service connects, in order: database
(migrations applied), Kafka producer, outbox relay, consumers. A dependency that is not there
yet (PostgreSQL or Kafka down, or still starting) is waited for, retried with backoff for as
long as it takes, never a reason to exit; meanwhile every route but the probes answers 503
(`guards.UntilStarted`). `GET /healthz` says the process is alive (200 whenever it answers);
`GET /readyz` answers 200 only when the service has started, the database is reachable, the
Kafka producer is connected and every consumer has joined its group, else 503 naming what is
not ready (what an orchestrator's readiness probe and the dev stack wait for). Once started,
an outage of either is ridden out by the parts themselves (pool reconnects, producer and
consumers retry, consumers retry transient failures).

HTTP is served by one or more apps, each on its own port and each with its own uvicorn server
in the same process: the staff app (`http_app`: the `/v1/accounts/...` API and its `/docs`)
and, for a service that has one, public apps (`public_app`: what customers' browsers or Stripe
reach, with no staff route and no `/docs` or `/openapi.json`). Every app has `/healthz`, a
request body limit (`guards.BodyLimit`), limits on the URL and headers (414 and 431, answered
by the server's HTTP protocol, `http_limits`), a server span and an access log line per request
(`access.AccessLog`; uvicorn's own access log is off), and counts its requests
(`metrics.HttpMetrics`).

Metrics: the runtime owns the process's `Metrics` (a Prometheus registry of its own), hands it
to the consumers, the outbox relay and the outbox backlog task, and serves it at `GET /metrics`
on the staff app only (see `bookpay_shared.metrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from typing import Any, TypeVar

import asyncpg
import swagger_ui_bundle
import uvicorn
import uvloop
from aiokafka.errors import KafkaConnectionError, KafkaError
from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bookpay_shared import projections, tracing
from bookpay_shared.access import AccessLog
from bookpay_shared.api_keys import KeyStore, ProjectedKeys
from bookpay_shared.auth import Authenticator, TokenVerifier
from bookpay_shared.backoff import Backoff
from bookpay_shared.consuming import Consumers
from bookpay_shared.db import Pool, apply_migrations, new_pool, open_pool
from bookpay_shared.faults import FaultPoints
from bookpay_shared.guards import BodyLimit, UntilStarted
from bookpay_shared.http_limits import BoundedHttpToolsProtocol
from bookpay_shared.kafka import Producer
from bookpay_shared.logs import configure
from bookpay_shared.metrics import CONTENT_TYPE_LATEST, HttpMetrics, Metrics
from bookpay_shared.oidc import JwtVerifier
from bookpay_shared.ordered import ConsumerOptions
from bookpay_shared.outbox import OutboxBacklog, OutboxRelay, PublishListener
from bookpay_shared.settings import ServiceSettings

log = logging.getLogger(__name__)

BackgroundTask = Callable[[], Awaitable[None]]
S = TypeVar("S", bound=ServiceSettings)


IDLE_CONNECTION_SECONDS = 30
"""How long an idle keep-alive connection is kept open by a service."""


@dataclass
class ServiceRuntime:
    name: str
    settings: ServiceSettings
    migrations: Traversable
    uses_projections: bool = False
    """Keep local projections of booking-service's accounts, customers, bookings and API keys."""
    keys: KeyStore | None = None
    """Where API keys are found; by default this service's projection of api-keys-state."""
    tokens: TokenVerifier | None = None
    """An identity provider's bearer tokens, accepted besides API keys (optional); by default
    the one the `<PREFIX>_OIDC_…` settings configure, if any."""
    db: Pool = field(init=False)
    producer: Producer = field(init=False)
    consumers: Consumers = field(init=False)
    _database_probe: asyncio.Task[Any] | None = field(init=False, default=None)
    faults: FaultPoints = field(init=False)
    metrics: Metrics = field(init=False)
    """This process's Prometheus metrics, served at `GET /metrics` on the staff app."""
    _tasks: list[BackgroundTask] = field(default_factory=list)
    _publish_listeners: list[PublishListener] = field(default_factory=list)
    public_apps: list[tuple[FastAPI, int]] = field(default_factory=list)
    """Apps served besides the staff app, each on its own port."""
    started: bool = field(init=False, default=False)
    """Connected to the database and Kafka, consumers subscribed: work routes are served."""

    def __post_init__(self) -> None:
        self.metrics = Metrics(self.name)
        kafka = self.settings.kafka_connection()
        self.db = new_pool(
            self.settings.database_url.get_secret_value(),
            max_size=self.settings.database_pool_size,
        )
        self.producer = Producer(kafka, client_id=self.name)
        self.consumers = Consumers(
            kafka,
            self.name,
            self.producer,
            ConsumerOptions(
                max_in_flight=self.settings.consumer_max_in_flight,
                grace=self.settings.consumer_grace_seconds,
            ),
            metrics=self.metrics,
        )
        self.faults = FaultPoints(self.settings.fault_points)
        oidc = self.settings.oidc_config()
        if self.tokens is None and oidc is not None:
            self.tokens = JwtVerifier(oidc)
            log.info("bearer tokens of %s for %s accepted", oidc.issuer, oidc.audience)
        if self.uses_projections:
            projections.register(self.consumers, self.db)

    def add_background_task(self, task: BackgroundTask) -> None:
        """A coroutine that runs for the service's lifetime (a sweep, a projection...)."""
        self._tasks.append(task)

    def add_periodic_task(
        self, name: str, step: Callable[[], Awaitable[object]], *, every_seconds: float
    ) -> None:
        """`step` run again `every_seconds` after each run ends, for the service's lifetime
        (a sweep). A run that fails is logged, and the next one comes on time."""

        async def periodic() -> None:
            await run_periodically(name, step, every_seconds)

        periodic.__name__ = name
        self.add_background_task(periodic)

    def add_publish_listener(self, listener: PublishListener) -> None:
        """A function told of every batch of outbox events once it is published (to count
        what the events say happened; it must be quick and must not block)."""
        self._publish_listeners.append(listener)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Connect everything (waiting for what is not there yet), run, then stop what was
        started, also when the start itself is cancelled (a stop while still waiting)."""
        tasks: list[asyncio.Task[None]] = []
        pool_open = False
        try:
            dsn = self.settings.database_url.get_secret_value()
            await open_pool(self.db, dsn, wait_seconds=None)
            pool_open = True
            components = [("service", self.migrations)]
            if self.uses_projections:
                components.insert(0, ("projections", projections.migrations()))
            await _until_up("the database", lambda: apply_migrations(self.db, components))
            await _until_up("Kafka", self.producer.start)
            relay = OutboxRelay(
                self.db, self.producer, metrics=self.metrics, on_published=self._publish_listeners
            )
            backlog = OutboxBacklog(self.db, self.metrics)
            tasks += [
                asyncio.create_task(relay.run(), name="outbox"),
                asyncio.create_task(_supervised(backlog.run), name="outbox backlog"),
            ]
            tasks += [asyncio.create_task(_supervised(t), name=t.__name__) for t in self._tasks]
            await _until_up("Kafka", self.consumers.start)
            kafka = self.settings.kafka_connection()
            log.info(
                "%s started (Kafka principal %s over %s)",
                self.name,
                kafka.username or "none",
                kafka.security_protocol,
            )
            self.started = True
            yield
        finally:
            self.started = False
            await self.consumers.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.producer.stop()
            if pool_open:
                await self.db.close()
            log.info("%s stopped", self.name)

    def http_app(self, *, title: str, **fastapi_args: Any) -> FastAPI:
        """The staff app, on `http_port`: the service's API and its docs at `/docs`, served
        with Swagger UI's own files (no CDN: the docs work offline)."""
        app = FastAPI(title=title, docs_url=None, redoc_url=None, **fastapi_args)
        app.state.authenticator = Authenticator(
            self.keys or ProjectedKeys(self.db),
            platform_key=self.settings.platform_key.get_secret_value(),
            tokens=self.tokens,
            live=self.settings.environment == "production",
        )
        self._add_healthz(app)
        self._add_metrics(app)
        _add_docs(app, title)
        app.add_middleware(BodyLimit, max_bytes=self.settings.max_body_bytes)
        app.add_middleware(UntilStarted, started=lambda: self.started)
        app.add_middleware(HttpMetrics, metrics=self.metrics)
        app.add_middleware(AccessLog, trusted=self.settings.trusted_networks)
        return app

    def public_app(self, *, title: str, port: int, max_body_bytes: int | None = None) -> FastAPI:
        """An app for the public (customers' browsers, Stripe) on its own port: no staff route,
        no docs, no OpenAPI document, no credentials; served by `serve` next to the staff app."""
        app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
        self._add_healthz(app)
        app.add_middleware(BodyLimit, max_bytes=max_body_bytes or self.settings.max_body_bytes)
        app.add_middleware(UntilStarted, started=lambda: self.started)
        app.add_middleware(HttpMetrics, metrics=self.metrics)
        app.add_middleware(AccessLog, trusted=self.settings.trusted_networks)
        self.public_apps.append((app, port))
        return app

    def _add_metrics(self, app: FastAPI) -> None:
        metrics = self.metrics

        async def metrics_page(_: Request) -> Response:
            """This process's metrics in Prometheus' text format. Unauthenticated, like
            `/healthz`: Prometheus scrapes it on the internal network, on the staff app's port,
            which never faces the internet (the public apps do not serve it). It holds counts
            and timings, never an id, a token or an amount."""
            return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

        # A plain route, like /docs: for Prometheus, not part of the API or its documents.
        app.add_route("/metrics", metrics_page, include_in_schema=False)

    def _add_healthz(self, app: FastAPI) -> None:
        @app.get("/healthz", tags=["ops"])
        async def healthz() -> JSONResponse:
            """Alive: the process answers (a liveness probe restarts it when it does not)."""
            return JSONResponse({"status": "ok"})

        @app.get("/readyz", tags=["ops"])
        async def readyz() -> JSONResponse:
            """Ready for work: database, Kafka producer and every consumer group."""
            consumers = self.consumers.readiness()
            if not self.started:
                return JSONResponse(
                    {"status": "starting", "consumers_not_ready": sorted(consumers)}, 503
                )
            checks = {
                "database": await self._database_ok(),
                "kafka": await self.producer.is_healthy(),
                "consumers": all(consumers.values()),
            }
            status = 200 if all(checks.values()) else 503
            waiting = sorted(group for group, ready in consumers.items() if not ready)
            return JSONResponse(
                {
                    "status": "ready" if status == 200 else "unavailable",
                    **checks,
                    "consumers_not_ready": waiting,
                },
                status,
            )

    async def _database_ok(self) -> bool:
        """`SELECT 1` answered within 2 s. The probe runs as a task of its own that is left to
        finish when it is late: cancelling a query to a server that does not answer makes
        asyncpg wait for the server, which would hang the health check with it. While a late
        probe is still out, the answer is no without asking again."""
        probe = self._database_probe
        if probe is None or probe.done():
            probe = self._database_probe = asyncio.create_task(self.db.fetchval("SELECT 1"))
            # A late probe's failure is read here, so it is not reported as never retrieved.
            probe.add_done_callback(lambda task: task.cancelled() or task.exception())
        done, _ = await asyncio.wait({probe}, timeout=2)
        return bool(done) and not probe.cancelled() and probe.exception() is None

    async def serve(self, app: FastAPI) -> None:
        """Run everything, and serve HTTP (the staff app and every public app, one uvicorn
        server each) until SIGINT/SIGTERM; then stop the servers, then everything else."""
        apps = [(app, self.settings.http_port), *self.public_apps]
        servers = [
            _Server(
                uvicorn.Config(
                    served,
                    host=self.settings.http_host,
                    port=port,
                    lifespan="off",
                    log_config=None,
                    access_log=False,
                    # X-Forwarded-For is read by guards.client_address, from trusted proxies only.
                    proxy_headers=False,
                    # httptools, with limits on the URL (414) and headers (431).
                    http=BoundedHttpToolsProtocol,
                    # An idle connection is kept longer than clients keep theirs (httpx 5 s;
                    # set a load balancer's idle timeout below this): a server closing first
                    # races a client sending on the same connection, which sees a disconnect.
                    timeout_keep_alive=IDLE_CONNECTION_SECONDS,
                    timeout_graceful_shutdown=10,
                )
            )
            for served, port in apps
        ]

        def stop(*_: object) -> None:
            for server in servers:
                server.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            # HTTP first (the probes answer while the dependencies are waited for); the rest
            # runs until one server ends (a stop, or a port it could not bind), then all end.
            # A failure that waiting cannot mend (a broken migration) ends the servers too, and
            # the process exits with it.
            serving = [asyncio.create_task(s.serve()) for s in servers]
            life = asyncio.create_task(self._run_until_cancelled(), name="running")
            await asyncio.wait([*serving, life], return_when=asyncio.FIRST_COMPLETED)
            stop()
            await asyncio.gather(*serving)
            if not life.done():
                life.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await life
            life.result()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def _run_until_cancelled(self) -> None:
        async with self.running():
            await asyncio.Event().wait()


class _Server(uvicorn.Server):
    """A uvicorn server that leaves the signals to `ServiceRuntime.serve`, which stops every
    server of the process at once."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


_SWAGGER_FILES = {
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
_DOCS_ASSETS = "/docs/assets"


def _add_docs(app: FastAPI, title: str) -> None:
    """`/docs`: Swagger UI from the swagger-ui-bundle package's files, served by the app."""
    folder = swagger_ui_bundle.swagger_ui_path

    async def docs(_: Request) -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{title} - API docs",
            swagger_js_url=f"{_DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{_DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_DOCS_ASSETS}/favicon-32x32.png",
        )

    async def docs_asset(request: Request) -> Response:
        name = request.path_params["name"]
        media_type = _SWAGGER_FILES.get(name)
        if media_type is None:
            raise StarletteHTTPException(404, "not found")
        return FileResponse(f"{folder}/{name}", media_type=media_type)

    # Plain routes, like FastAPI's own /docs: not part of the API or its documents.
    app.add_route("/docs", docs, include_in_schema=False)
    app.add_route(_DOCS_ASSETS + "/{name}", docs_asset, include_in_schema=False)


_UNREACHABLE = (
    OSError,
    TimeoutError,
    KafkaConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
)


async def _until_up(what: str, step: Callable[[], Awaitable[object]]) -> None:
    """Run `step` until it gets through: while `what` is unreachable, wait (1 s, doubling up to
    15 s) and try again. Any other failure (a broken migration, a refused password) is raised."""
    delays = Backoff(base=1.0, cap=15.0).delays()
    while True:
        try:
            await step()
            return
        except _UNREACHABLE as exc:
            delay = next(delays)
            log.warning("%s is not reachable (%r); trying again in %.0f s", what, exc, delay)
        except KafkaError as exc:
            if not exc.retriable:
                raise
            delay = next(delays)
            log.warning("%s is not ready (%r); trying again in %.0f s", what, exc, delay)
        await asyncio.sleep(delay)


async def run_periodically(
    name: str, step: Callable[[], Awaitable[object]], every_seconds: float
) -> None:
    """Run `step` forever, `every_seconds` apart; a failed run is logged, not fatal."""
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; next run in %.0f s", name, every_seconds)
        await asyncio.sleep(every_seconds)


async def _supervised(task: BackgroundTask) -> None:
    """Run a background task forever, restarting it after a failure."""
    while True:
        try:
            await task()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task %s failed; restarting in 1 s", task.__name__)
            await asyncio.sleep(1.0)


def run_service(
    service: str,
    settings_type: type[S],
    create_app: Callable[[S], tuple[ServiceRuntime, FastAPI]],
) -> None:
    """A service's entrypoint: read its settings once, configure logging and tracing, then
    build and serve the app inside the event loop (nothing connects before the loop runs)."""
    settings = settings_type()
    configure(service, settings.log_level, settings.log_format)
    traces = tracing.configure(service)

    async def serve() -> None:
        runtime, app = create_app(settings)
        await runtime.serve(app)

    # uvloop: the same asyncio, a faster event loop (libuv); httptools parses HTTP for uvicorn.
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve())
    finally:
        traces.shutdown()  # the spans not exported yet, when exporting
