"""The HTTP API's documents, generated from each service's FastAPI app.

Writes docs/openapi/<service>.json (each app's own OpenAPI document, as it serves it at
/openapi.json) and docs/http-api.md (one endpoint table per service):

    python -m bookpay_docs.http_api --write docs/
    python -m bookpay_docs.http_api --check docs/   # exit 1 when they are out of date

Building an app connects nothing, so this needs no database, Kafka or Stripe.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import json
import pkgutil
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from bookpay_devstack.placeholders import placeholder_settings
from bookpay_devstack.system import ServiceSpec, SystemConfig
from bookpay_shared.http import ApiError, ErrorAnswer
from bookpay_shared.runtime import ServiceRuntime
from bookpay_shared.settings import ServiceSettings
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from starlette.routing import BaseRoute

from bookpay_docs.cli import docs_cli

HTTP_API_FILE = "http-api.md"
OPENAPI_DIR = "openapi"
_GENERATED = "python -m bookpay_docs.http_api --write docs/"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    success: str
    request: str
    response: str
    scope: str = ""
    """The credential scope the endpoint needs ("" when it takes no credential)."""


@dataclass(frozen=True)
class Page:
    """A route left out of the OpenAPI document: an HTML page or an asset."""

    method: str
    path: str
    summary: str


@dataclass(frozen=True)
class PublicApp:
    """An app the service serves on a port of its own for the public (no staff route, no
    docs, no OpenAPI document)."""

    title: str
    setting: str
    port: int
    routes: tuple[Page, ...]


@dataclass(frozen=True)
class ServiceApi:
    spec: ServiceSpec
    openapi: dict[str, Any]
    endpoints: tuple[Endpoint, ...]
    pages: tuple[Page, ...]
    errors: tuple[str, ...]
    """`<status> <code>` of every API error the service's route modules raise."""
    public: tuple[PublicApp, ...] = ()


async def _build_app(spec: ServiceSpec) -> tuple[ServiceRuntime, FastAPI]:
    create_app: Callable[[ServiceSettings], tuple[ServiceRuntime, FastAPI]]
    create_app = importlib.import_module(f"{spec.package}.main").create_app
    return create_app(placeholder_settings(spec))


async def _describe(specs: Sequence[ServiceSpec]) -> list[ServiceApi]:
    services = []
    for spec in specs:
        runtime, app = await _build_app(spec)
        openapi = app.openapi()
        modules = _route_modules(spec.package)
        services.append(
            ServiceApi(
                spec,
                openapi,
                endpoints=tuple(_endpoints(openapi)),
                pages=tuple(_pages(app)),
                errors=tuple(_errors_of(modules)),
                public=tuple(
                    PublicApp(
                        public.title,
                        f"{spec.env_prefix}_{spec.public_port_setting}",
                        port,
                        tuple(_pages(public, every_route=True)),
                    )
                    for public, port in runtime.public_apps
                ),
            )
        )
    return services


def describe_services(specs: Sequence[ServiceSpec] | None = None) -> list[ServiceApi]:
    """Each service's OpenAPI document, endpoints, pages and error codes. Apps are built inside
    an event loop, as the services build them."""
    return asyncio.run(_describe(specs or SystemConfig().specs()))


def _route_modules(package: str) -> list[ModuleType]:
    """The service's modules that define an APIRouter. Every module is imported, so the answer
    does not depend on what happened to be imported before."""
    root = importlib.import_module(package)
    names = [package, *(m.name for m in pkgutil.walk_packages(root.__path__, f"{package}."))]
    modules = [importlib.import_module(name) for name in sorted(names)]
    return [m for m in modules if any(isinstance(v, APIRouter) for v in vars(m).values())]


def _endpoints(openapi: dict[str, Any]) -> list[Endpoint]:
    found = []
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            responses: dict[str, Any] = operation.get("responses", {})
            success = next((s for s in responses if s.startswith("2")), "200")
            found.append(
                Endpoint(
                    method=method.upper(),
                    path=path,
                    summary=operation.get("summary", ""),
                    success=success,
                    request=_schema_name(operation.get("requestBody", {})),
                    response=_schema_name(responses.get(success, {})),
                    scope=_scope(operation),
                )
            )
    return found


def _scope(operation: dict[str, Any]) -> str:
    scopes = [
        s for requirement in operation.get("security", []) for v in requirement.values() for s in v
    ]
    return ", ".join(scopes)


def _routes(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, those of included routers too (our apps include them with no prefix)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if isinstance(included, APIRouter):
            yield from _routes(included.routes)
        else:
            yield route


def _pages(app: FastAPI, *, every_route: bool = False) -> list[Page]:
    """The app's routes left out of its OpenAPI document (or all of them)."""
    pages = {
        (method, route.path_format): _first_line(route.endpoint.__doc__)
        or route.name.replace("_", " ").title()
        for route in _routes(app.routes)
        if isinstance(route, APIRoute) and (every_route or not route.include_in_schema)
        for method in route.methods or ()
    }
    return [Page(m, path, summary) for (m, path), summary in sorted(pages.items(), key=_by_path)]


def _by_path(item: tuple[tuple[str, str], str]) -> tuple[str, str]:
    (method, path), _ = item
    return path, method


def _first_line(doc: str | None) -> str:
    return inspect.cleandoc(doc).split("\n\n")[0].replace("\n", " ") if doc else ""


def _errors_of(modules: Sequence[ModuleType]) -> list[str]:
    """The errors a service's routes raise, and those its use cases raise as its
    `ERROR_ANSWERS` answers them."""
    found = {e for m in modules for e in raised_errors(inspect.getsource(m), vars(m))}
    for module in modules:
        answers: Mapping[type[Exception], ErrorAnswer] = getattr(module, "ERROR_ANSWERS", {})
        found |= {f"{a.status_code} {a.code}" for a in answers.values()}
    return sorted(found, key=lambda e: (int(e.split()[0]), e))


def _schema_name(part: dict[str, Any]) -> str:
    schema = part.get("content", {}).get("application/json", {}).get("schema")
    return _schema_text(schema) if schema else ""


def _schema_text(schema: Mapping[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_schema_text(s) for s in schema["anyOf"])
    return str(schema.get("type", "JSON"))


def raised_errors(source: str, names: Mapping[str, Any]) -> list[str]:
    """`<status> <code>` of each ApiError raised in `source`, in order, whose names mean what
    `names` says (a module's or a function's globals)."""
    raises = [n for n in ast.walk(ast.parse(textwrap.dedent(source))) if isinstance(n, ast.Raise)]
    found = []
    for node in sorted(raises, key=lambda n: (n.lineno, n.col_offset)):
        call = node.exc
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
            continue
        cls = names.get(call.func.id)
        if isinstance(cls, type) and issubclass(cls, ApiError):
            given: dict[str | None, Any] = {
                k.arg: k.value.value for k in call.keywords if isinstance(k.value, ast.Constant)
            }
            found.append(
                f"{given.get('status_code', cls.status_code)} {given.get('code', cls.code)}"
            )
    return found


def render_openapi(service: ServiceApi) -> str:
    return json.dumps(service.openapi, indent=2, ensure_ascii=False) + "\n"


def render_markdown(services: Sequence[ServiceApi]) -> str:
    sections = [_INTRO.format(generated=_GENERATED, ports=_ports(services))]
    sections += [_service_section(s) for s in services]
    return "\n\n".join(s.strip("\n") for s in sections) + "\n"


_INTRO = """<!-- Generated from the services' FastAPI apps by `{generated}`. Do not edit. -->

# HTTP API, version 1

Each service serves its own HTTP API on its own port (all configurable: `<PREFIX>_HTTP_PORT`).
The OpenAPI document of each is in [openapi/](openapi/), as the service serves it at
`/openapi.json`. Services share data through Kafka events ([events.md](events.md)); these APIs
are for staff, internal callers and customers' browsers.

What the public reaches is served apart from the staff API, by an app of its own on a port of
its own in the same process: link-service's payment pages (`/pay/...`) and charge-service's
Stripe webhook. Those apps carry no staff route and no `/docs` or `/openapi.json`, so the staff
ports can stay inside the private network while only the public ports are exposed. Each staff
API serves its documents at `/docs` (Swagger UI served by the service itself: no CDN, it works
offline) and `/openapi.json`.

{ports}

## Limits

- Every app refuses a request body over its limit with 413 `body_too_large`, from the
  `Content-Length` before reading any of it, or while a chunked body streams in
  (`<PREFIX>_MAX_BODY_BYTES`, 64 KiB by default; the Stripe webhook's own limit
  `CHARGE_WEBHOOK_MAX_BODY_BYTES`, 256 KiB).
- Every app refuses a URL (path and query) over 8 KiB with `414 URI Too Long`
  (`uri_too_long`), and headers over 32 KiB in all with `431 Request Header Fields Too Large`
  (`headers_too_large`), as soon as the limit is passed; it then reads and drops the rest of
  the request for a moment, so that the client gets the answer rather than a reset connection
  (`bookpay_shared.http_limits`, the server's HTTP protocol).
- Rate limits answer 429 `rate_limited` with `Retry-After`: the payment pages per client
  address, new-card attempts and link resends per account and per client address. The client
  address is the connection's peer, or, behind a proxy listed in `<PREFIX>_TRUSTED_PROXIES`,
  the address that proxy puts in `X-Forwarded-For`. The limits are kept in each process: with N
  instances a client gets up to N times the rate (a store shared by the instances, such as
  PostgreSQL or the load balancer, is the next step).
- A charge takes at most `CHARGE_MAX_ATTEMPTS_PER_CHARGE` card attempts in all (5 by
  default); one more is answered 429 `too_many_attempts`.

## Conventions

- Request and response bodies are JSON. Ids are UUIDs. Money is an integer amount in the
  currency's minor unit plus a lower-case ISO 4217 code (see [events.md](events.md#money)).
- Request bodies refuse fields they do not know.
- Lists of an account's things (links, emails, API keys) come newest first, a page at a time:
  `limit` items (100 by default, at most 200) and `next_cursor`, to pass as `cursor` for the
  next page, null on the last. A cursor is opaque; one the API did not give out is 400
  `invalid_cursor`. A filter holds on every page.
- `GET /healthz` answers 200 `{{"status": "ok"}}` while the process is alive (a liveness
  probe); `GET /readyz` answers 200 `{{"status": "ready", "database": true, "kafka": true,
  "consumers": true, "consumers_not_ready": []}}` only when the service's database is
  reachable, its Kafka producer connected and every consumer joined its group, else 503 with
  `"status": "unavailable"` and what is not ready (a readiness probe; `make run` waits for it).
- Every error is JSON with a 4xx status for bad input:

  ```json
  {{"error": {{"code": "not_found", "message": "customer … not found in account …"}}}}
  ```

  `code` is stable and meant for programs; `message` is for people. A request that does not
  match the endpoint's schema gets 422 with code `invalid_request` and the problems in
  `error.fields` (`[{{"field": "amount", "message": "…"}}]`). A database that cannot be
  reached at that moment (restarting, refusing connections) gives 503 `unavailable` with
  `Retry-After`: send the same request again. A 500 (`internal_error`) is a bug.
  The OpenAPI documents still show FastAPI's default 422 body (`{{"detail": […]}}`); the services
  answer with the shape above.

## Credentials

Every `/v1/accounts/{{account_id}}/…` route, and `POST /v1/accounts`, needs a credential in
`Authorization: Bearer <credential>` (HTTP Basic with the credential as the user name and an
empty password works too, as with Stripe: `curl -u bp_test_…:`). The `scope` column says what
the credential must be allowed to do. A credential is an account's API key (`bp_test_…` or
`bp_live_…`, made with `POST /v1/accounts/{{account_id}}/api-keys` on booking-service) or the
platform key (`<PREFIX>_PLATFORM_KEY`), which acts for every account with every scope and alone
holds `accounts:create`. Where a deployment configures an identity provider
(`<PREFIX>_OIDC_ISSUER`, `<PREFIX>_OIDC_AUDIENCE`, `<PREFIX>_OIDC_JWKS_URL`), its access tokens
(RS256 or ES256 JWTs) are credentials too: the account from the token's `bookpay_account_id`
claim, the scopes from its `scope` claim (shared/README.md).

- No credential, or one that is unknown, mistyped, revoked or expired: 401 `unauthenticated`
  (with `WWW-Authenticate: Basic realm="bookpay"`).
- A credential of another account: 404 `not_found`, as if the resource did not exist.
- A credential without the route's scope: 403 `forbidden`.

Who acted (a charge's `requested_by`, a link's history, who gave a card-saving consent) is the
credential: `key:<key id>`, `platform`, or `oidc:<sub>` for a token; request bodies do not
say it. The public apps (the payment pages `/pay/…` and the Stripe webhook, which Stripe signs)
`GET /healthz` and `GET /readyz` take no credential.

Below each service's table are the error codes its routes return besides `422 invalid_request`,
`503 unavailable` and `500 internal_error`."""


def _ports(services: Sequence[ServiceApi]) -> str:
    rows = [["service", "default port (staff)", "public app, default port", "OpenAPI"]]
    rows += [
        [
            f"[{s.spec.name}](#{s.spec.name})",
            str(s.spec.port),
            ", ".join(f"{p.title}: {p.port} (`{p.setting}`)" for p in s.public),
            f"[openapi/{s.spec.name}.json](openapi/{s.spec.name}.json)",
        ]
        for s in services
    ]
    return _table(rows)


def _service_section(service: ServiceApi) -> str:
    rows = [["method", "path", "summary", "success", "request body", "response body", "scope"]]
    rows += [
        [
            e.method,
            f"`{e.path}`",
            e.summary,
            e.success,
            e.request and f"`{e.request}`",
            e.response and f"`{e.response}`",
            f"`{e.scope}`" if e.scope else "none",
        ]
        for e in service.endpoints
    ]
    title = service.openapi.get("info", {}).get("title", service.spec.name)
    parts = [f"## {service.spec.name}", f"{title}, port {service.spec.port}.", _table(rows)]
    codes = ", ".join(f"`{e}`" for e in service.errors) or "none besides the common ones"
    parts.append(f"Error codes (`<status> <code>`) its routes return: {codes}.")
    if service.pages:
        pages = [["method", "path", "what"]]
        pages += [[p.method, f"`{p.path}`", p.summary] for p in service.pages]
        parts.append(
            f"Pages and assets for browsers (HTML, not in the OpenAPI document):\n\n{_table(pages)}"
        )
    for public in service.public:
        routes = [["method", "path", "what"]]
        routes += [[p.method, f"`{p.path}`", p.summary] for p in public.routes]
        parts.append(
            f"### {public.title}\n\nA public app of its own, on port {public.port} "
            f"(`{public.setting}`), apart from the staff API: it serves only these routes, "
            f"and no `/docs` or `/openapi.json`.\n\n{_table(routes)}"
        )
    return "\n\n".join(parts)


def _table(rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    header, *body = rows
    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, body)])


def render_files(services: Sequence[ServiceApi] | None = None) -> dict[str, str]:
    """The generated documents, by path relative to the docs folder."""
    services = services if services is not None else describe_services()
    files = {f"{OPENAPI_DIR}/{s.spec.name}.json": render_openapi(s) for s in services}
    files[HTTP_API_FILE] = render_markdown(services)
    return files


def _strays(folder: Path, files: dict[str, str]) -> list[Path]:
    """OpenAPI files in `folder` of services that no longer exist."""
    found = sorted((folder / OPENAPI_DIR).glob("*.json"))
    return [p for p in found if p.relative_to(folder).as_posix() not in files]


def stale_files(folder: Path) -> list[str]:
    """Generated files missing from `folder` or different there, and stray OpenAPI files."""
    files = render_files()
    stale = [
        name
        for name, text in files.items()
        if not (folder / name).is_file() or (folder / name).read_text() != text
    ]
    return stale + [p.relative_to(folder).as_posix() for p in _strays(folder, files)]


def write_files(folder: Path) -> list[Path]:
    files = render_files()
    for stray in _strays(folder, files):
        stray.unlink()
    written = []
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    return docs_cli(
        prog="python -m bookpay_docs.http_api",
        description="Generate the HTTP API's documents from the services' apps.",
        write_files=write_files,
        stale_files=stale_files,
        regenerate=_GENERATED,
        argv=argv,
    )


if __name__ == "__main__":
    sys.exit(main())
