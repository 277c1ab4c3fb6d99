"""HTTP conventions: errors are JSON `{"error": {"code", "message"}}` with a 4xx for bad input.

Use cases raise their own errors (an unknown customer, a charge that cannot be retried) and
know nothing of HTTP; each service lists once how each is answered (`ErrorAnswer`), and
`install_error_handlers` installs that list with the common answers: `ApiError` raised by a
route, FastAPI's validation errors, a dependency that cannot be reached (503 `unavailable` with
Retry-After: the database restarting or refusing connections is not a bug, the client tries
again) and anything unexpected (a bug: 500, logged).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger(__name__)


class ApiError(Exception):
    status_code = 400
    code = "bad_request"
    headers: dict[str, str] = {}
    """Response headers that go with the error (e.g. WWW-Authenticate)."""

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status_code = status_code or self.status_code


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class Unprocessable(ApiError):
    status_code = 422
    code = "unprocessable"


class RateLimited(ApiError):
    """429 `rate_limited`, with `Retry-After`."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, wait_seconds: float, message: str) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(wait_seconds))
        self.headers = {"Retry-After": str(self.retry_after)}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _field_problems(exc: RequestValidationError) -> list[dict[str, str]]:
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        problems.append({"field": ".".join(loc) or "body", "message": str(err.get("msg"))})
    return problems


async def _on_api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        error_body(exc.code, exc.message), status_code=exc.status_code, headers=exc.headers
    )


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = _field_problems(exc)
    message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return JSONResponse(error_body("invalid_request", message, fields=problems), status_code=422)


def _not_utf8(error: UnicodeDecodeError) -> JSONResponse:
    """A JSON body with bytes that are not UTF-8: 422 naming the fields that hold them (found
    by reading the body with those bytes replaced), or the body when it cannot be read even so."""
    raw = error.object if isinstance(error.object, bytes) else b""
    try:
        document = json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError:
        document = None
    fields = _holding_replacements(document, ())
    problems = [{"field": f, "message": "not valid UTF-8"} for f in fields or ["body"]]
    message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return JSONResponse(error_body("invalid_request", message, fields=problems), status_code=422)


def _holding_replacements(value: Any, path: tuple[str, ...]) -> list[str]:
    if isinstance(value, str):
        return [".".join(path) or "body"] if "\ufffd" in value else []
    if isinstance(value, dict):
        found = [".".join((*path, k)) for k in value if "\ufffd" in k]
        for key, item in value.items():
            found += _holding_replacements(item, (*path, key))
        return found
    if isinstance(value, list):
        return [
            f for i, item in enumerate(value) for f in _holding_replacements(item, (*path, str(i)))
        ]
    return []


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        return _not_utf8(exc.__cause__)
    code = "not_found" if exc.status_code == 404 else "http_error"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method the request's path answers to, across all the routes that match it
    (Starlette's 405 names only the first route's, where GET and POST are two routes)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        for method in getattr(route, "methods", None) or ():
            if route.matches({**request.scope, "method": method})[0] is Match.FULL:
                methods.add(method)
    return sorted(methods)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("internal_error", "internal error"), status_code=500)


DEPENDENCY_UNAVAILABLE: tuple[type[Exception], ...] = (
    ConnectionError,  # refused or reset: the database (or another dependency) is down
    TimeoutError,  # no connection from the pool in time
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, cannot connect now
    # The server dropped the connection in the middle of an operation (a restart): asyncpg
    # reports "connection is closed" or a protocol state it cannot switch from.
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
"""Errors that mean a dependency cannot be reached right now, not that the request is wrong."""

UNAVAILABLE_RETRY_AFTER_SECONDS = 1


async def _on_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning(
        "%s %s: a dependency is unavailable (%r); answered 503",
        request.method,
        request.url.path,
        exc,
    )
    return JSONResponse(
        error_body(
            "unavailable",
            "a service this request needs is briefly unavailable; try again shortly",
        ),
        status_code=503,
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
    )


@dataclass(frozen=True)
class ErrorAnswer:
    """How one of a use case's errors is answered: its status, its stable code, and the error's
    text as the message (after `prefix`)."""

    status_code: int
    code: str
    prefix: str = ""
    retry_after: int | None = None
    """Seconds, for a Retry-After header (a dependency that is briefly away)."""


NOT_FOUND = ErrorAnswer(404, NotFound.code)

ErrorAnswers = Mapping[type[Exception], ErrorAnswer]
"""A service's use-case errors and their answers. The most specific class listed wins."""


def _answering(answer: ErrorAnswer) -> Any:
    async def on_error(_: Request, exc: Exception) -> JSONResponse:
        headers = {} if answer.retry_after is None else {"Retry-After": str(answer.retry_after)}
        return JSONResponse(
            error_body(answer.code, f"{answer.prefix}{exc}"),
            status_code=answer.status_code,
            headers=headers,
        )

    return on_error


def install_error_handlers(app: FastAPI, answers: ErrorAnswers | None = None) -> None:
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    for unavailable in DEPENDENCY_UNAVAILABLE:
        app.add_exception_handler(unavailable, _on_unavailable)
    for error, answer in (answers or {}).items():
        app.add_exception_handler(error, _answering(answer))
    app.add_exception_handler(Exception, _on_unexpected)
    document_errors(app)


# --- the error answers in the OpenAPI document ----------------------------------------------

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "machine-readable, stable"},
                "message": {"type": "string", "description": "for people"},
                "fields": {
                    "type": "array",
                    "description": "422 only: each refused field and why",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        }
    },
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}

# (status, description, applies to: "api" every /v1 operation, "path" those with path
# parameters, "body" those with a request body, "all" every operation)
COMMON_ERRORS: tuple[tuple[int, str, str], ...] = (
    (400, "`bad_request`: a malformed request (a cursor or header that cannot be read)", "api"),
    (401, "`unauthenticated`: no credential, or one that is not valid (WWW-Authenticate)", "api"),
    (403, "`forbidden`: the credential may not do this, or not for this account", "api"),
    (404, "`not_found`: no such account or resource (or not this credential's)", "path"),
    (413, "`body_too_large`: the body exceeds the service's limit", "body"),
    (422, "`invalid_request`: the body or parameters are not valid; `fields` says which", "api"),
    (429, "`rate_limited`: too many requests; Retry-After says when to try again", "api"),
    (503, "`starting` or `unavailable`: not ready yet or a dependency is down; retry", "all"),
)


def document_errors(app: FastAPI) -> None:
    """Every operation's OpenAPI answers include the error answers it can give, each with the
    error body's schema: a route's own descriptions (a 409 with its code, say) are kept."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        add_common_errors(document)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def add_common_errors(document: dict[str, Any]) -> None:
    document.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            has_path_params = "{" in path
            has_body = "requestBody" in operation
            responses = operation["responses"]
            for status, description, scope in COMMON_ERRORS:
                applies = (
                    scope == "all"
                    or (scope == "api" and path.startswith("/v1/"))
                    or (scope == "path" and has_path_params)
                    or (scope == "body" and has_body)
                )
                if applies:
                    answer = responses.setdefault(str(status), {"description": description})
                    answer["content"] = {"application/json": {"schema": _ERROR_REF}}
            for status, answer in responses.items():
                if status.startswith(("4", "5")) and "content" not in answer:
                    answer["content"] = {"application/json": {"schema": _ERROR_REF}}
