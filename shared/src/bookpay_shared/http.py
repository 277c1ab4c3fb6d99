"""HTTP conventions: errors are JSON `{"error": {"code", "message"}}` with a 4xx for bad input.

Routes raise `ApiError` (or its subclasses); `install_error_handlers` maps it, FastAPI's
validation errors, a dependency that cannot be reached (503 `unavailable` with Retry-After: the
database restarting or refusing connections is not a bug, the client tries again) and anything
unexpected (a bug: 500, logged) to that shape.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = "not_found" if exc.status_code == 404 else "http_error"
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)


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


def install_not_found(app: FastAPI, *errors: type[Exception]) -> None:
    """Answer 404 `not_found`, with the error's text, for a use case's "no such thing" errors."""

    async def on_not_found(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body(NotFound.code, str(exc)), status_code=NotFound.status_code)

    for error in errors:
        app.add_exception_handler(error, on_not_found)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    for unavailable in DEPENDENCY_UNAVAILABLE:
        app.add_exception_handler(unavailable, _on_unavailable)
    app.add_exception_handler(Exception, _on_unexpected)
