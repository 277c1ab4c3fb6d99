"""One way to run a service: the pieces every service has, wired in one place.

A service's `main` reads its settings, then, inside the event loop, builds a `ServiceRuntime`,
registers its consumers, routes and background tasks, and awaits `serve()`. Nothing connects
before the loop runs. Start-up order: database (migrations
applied), Kafka producer, outbox relay, consumers, then HTTP. `GET /healthz` answers 200 only
when the database and Kafka are reachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from importlib.abc import Traversable
from typing import Any, TypeVar

import uvicorn
import uvloop
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from bookpay_shared import projections
from bookpay_shared.api_keys import KeyStore, ProjectedKeys
from bookpay_shared.auth import Authenticator, TokenVerifier
from bookpay_shared.consuming import Consumers
from bookpay_shared.db import Pool, apply_migrations, new_pool, open_pool
from bookpay_shared.faults import FaultPoints
from bookpay_shared.kafka import Producer
from bookpay_shared.logs import configure
from bookpay_shared.ordered import ConsumerOptions
from bookpay_shared.outbox import OutboxRelay
from bookpay_shared.settings import ServiceSettings

log = logging.getLogger(__name__)

BackgroundTask = Callable[[], Awaitable[None]]
S = TypeVar("S", bound=ServiceSettings)


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
    """An identity provider's bearer tokens, accepted besides API keys (optional)."""
    db: Pool = field(init=False)
    producer: Producer = field(init=False)
    consumers: Consumers = field(init=False)
    faults: FaultPoints = field(init=False)
    _tasks: list[BackgroundTask] = field(default_factory=list)

    def __post_init__(self) -> None:
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
        )
        self.faults = FaultPoints(self.settings.fault_points)
        if self.uses_projections:
            projections.register(self.consumers, self.db)

    def add_background_task(self, task: BackgroundTask) -> None:
        """A coroutine that runs for the service's lifetime (a sweep, a projection...)."""
        self._tasks.append(task)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        await open_pool(self.db, self.settings.database_url.get_secret_value())
        components = [("service", self.migrations)]
        if self.uses_projections:
            components.insert(0, ("projections", projections.migrations()))
        await apply_migrations(self.db, components)
        await self.producer.start()
        tasks = [asyncio.create_task(OutboxRelay(self.db, self.producer).run(), name="outbox")]
        tasks += [asyncio.create_task(_supervised(t), name=t.__name__) for t in self._tasks]
        await self.consumers.start()
        kafka = self.settings.kafka_connection()
        log.info(
            "%s started (Kafka principal %s over %s)",
            self.name,
            kafka.username or "none",
            kafka.security_protocol,
        )
        try:
            yield
        finally:
            await self.consumers.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.producer.stop()
            await self.db.close()
            log.info("%s stopped", self.name)

    def http_app(self, *, title: str, **fastapi_args: Any) -> FastAPI:
        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            async with self.running():
                yield

        app = FastAPI(title=title, lifespan=lifespan, **fastapi_args)
        app.state.authenticator = Authenticator(
            self.keys or ProjectedKeys(self.db),
            platform_key=self.settings.platform_key.get_secret_value(),
            tokens=self.tokens,
        )

        @app.get("/healthz", tags=["ops"])
        async def healthz() -> JSONResponse:
            checks = {
                "database": await self._database_ok(),
                "kafka": await self.producer.is_healthy(),
            }
            status = 200 if all(checks.values()) else 503
            return JSONResponse(
                {"status": "ok" if status == 200 else "unavailable", **checks}, status
            )

        return app

    async def _database_ok(self) -> bool:
        try:
            async with asyncio.timeout(2):
                await self.db.fetchval("SELECT 1")
        except Exception:
            return False
        return True

    async def serve(self, app: FastAPI) -> None:
        """Serve HTTP (and, through the app's lifespan, everything else) until SIGINT/SIGTERM."""
        config = uvicorn.Config(
            app,
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_config=None,
            access_log=False,
            http="httptools",
            timeout_graceful_shutdown=10,
        )
        await uvicorn.Server(config).serve()


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
    """A service's entrypoint: read its settings once, configure logging, then build and serve
    the app inside the event loop (nothing connects before the loop runs)."""
    settings = settings_type()
    configure(service, settings.log_level)

    async def serve() -> None:
        runtime, app = create_app(settings)
        await runtime.serve(app)

    # uvloop: the same asyncio, a faster event loop (libuv); httptools parses HTTP for uvicorn.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve())
