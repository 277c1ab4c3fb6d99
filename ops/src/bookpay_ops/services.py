"""The services' staff APIs as bookpay-ops reads them: charges, links and emails of any account
with the platform key, and each service's `/metrics`.

Only reads. Every call names the service it asks, so that an answer that is not one (a service
down, a route it does not have) says where it came from:

- `ServiceDown`: no answer at all (refused connection, timeout, a broken reply);
- `NoMetrics`: the service answers, but has no `/metrics`;
- `ServiceRefused`: any other non-2xx answer, with the service's own error code and message
  (`{"error": {"code": …, "message": …}}`), e.g. 401 for a wrong platform key.

Each is a `ServiceProblem`, whose `str()` is one line fit for a terminal.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, ConfigDict, SecretStr

PAGE_SIZE = 200
"""Items asked for a page: the lists' maximum, so that paging through a list takes the fewest
requests."""


class ServiceProblem(Exception):
    """A service did not answer as asked."""

    def __init__(self, service: str, url: str, message: str) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.url = url
        self.message = message


class ServiceDown(ServiceProblem):
    """No answer from the service at `url`."""


class NoMetrics(ServiceProblem):
    """The service answers, but has no `/metrics` (a version from before it had one)."""


class ServiceRefused(ServiceProblem):
    """A non-2xx answer other than a missing `/metrics`."""

    def __init__(self, service: str, url: str, status: int, code: str, message: str) -> None:
        super().__init__(service, url, f"{status} {code}: {message}")
        self.status = status
        self.code = code


class _Read(BaseModel):
    """What bookpay-ops reads of an answer: the fields it names; others are ignored, so that a
    service adding a field does not break the tool."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Failure(_Read):
    reason: str
    message: str
    decline_code: str | None = None


class ChargeSummary(_Read):
    """A charge as the staff lists show it."""

    charge_id: uuid.UUID
    customer_id: uuid.UUID
    amount: int
    currency: str
    method: str
    status: str
    failure: Failure | None = None
    attempts: int
    created_at: datetime
    updated_at: datetime


class ChargeHistoryEntry(_Read):
    at: datetime
    status: str
    note: str
    detail: dict[str, Any] | None = None


class Charge(_Read):
    """One charge, with its Stripe ids and history (`GET …/charges/{charge_id}`)."""

    charge_id: uuid.UUID
    account_id: uuid.UUID
    customer_id: uuid.UUID
    booking_ids: list[uuid.UUID]
    amount: int
    currency: str
    method: str
    status: str
    requested_by: str
    stripe_payment_intent_id: str | None = None
    stripe_account_id: str | None = None
    failure: Failure | None = None
    paid_at: datetime | None = None
    attempts: int
    history: list[ChargeHistoryEntry]


class Link(_Read):
    link_id: uuid.UUID
    charge_id: uuid.UUID
    customer_id: uuid.UUID
    customer_name: str | None = None
    customer_email: str | None = None
    amount: int
    currency: str
    state: str
    origin: str
    expires_at: datetime
    created_at: datetime
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    times_sent: int


class Notification(_Read):
    notification_id: uuid.UUID
    kind: str
    charge_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    recipient: str
    subject: str
    status: str
    attempts: int
    last_error: str | None = None
    created_at: datetime
    sent_at: datetime | None = None
    failed_at: datetime | None = None


Params = Mapping[str, str | list[str]]
_ItemT = TypeVar("_ItemT", bound=_Read)


class StaffApi:
    """The four services' staff APIs, as the platform (every account, read only).

    `urls` maps each service's name to its staff URL; `transport` replaces the network (tests
    pass an `httpx.MockTransport`). Use as an async context manager."""

    def __init__(
        self,
        urls: Mapping[str, str],
        platform_key: SecretStr,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        self._http = httpx.AsyncClient(
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {platform_key.get_secret_value()}"},
        )

    async def __aenter__(self) -> StaffApi:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- charge-service -------------------------------------------------------------------

    async def charge(self, account_id: uuid.UUID, charge_id: uuid.UUID) -> Charge:
        found = await self._get_json(
            "charge-service", f"/v1/accounts/{account_id}/charges/{charge_id}"
        )
        return Charge.model_validate(found)

    def charges(
        self,
        account_id: uuid.UUID,
        *,
        customer_id: uuid.UUID | None = None,
        statuses: Iterable[str] = (),
        method: str | None = None,
        failure_reasons: Iterable[str] = (),
        created_from: datetime | None = None,
        created_to: datetime | None = None,
    ) -> AsyncIterator[ChargeSummary]:
        """The account's charges that pass the filters, newest first, every page of them."""
        params = _params(
            customer_id=customer_id,
            status=list(statuses),
            method=method,
            failure_reason=list(failure_reasons),
            created_from=created_from,
            created_to=created_to,
        )
        return self._every(
            "charge-service",
            f"/v1/accounts/{account_id}/charges",
            "charges",
            params,
            ChargeSummary,
        )

    # --- link-service ---------------------------------------------------------------------

    def links(
        self,
        account_id: uuid.UUID,
        *,
        charge_id: uuid.UUID | None = None,
        customer_id: uuid.UUID | None = None,
    ) -> AsyncIterator[Link]:
        """The account's links (a charge's, a customer's), newest first, each with its
        customer's name and email."""
        params = _params(charge_id=charge_id, customer_id=customer_id)
        return self._every(
            "link-service", f"/v1/accounts/{account_id}/links", "links", params, Link
        )

    # --- notification-service -------------------------------------------------------------

    def notifications(
        self,
        account_id: uuid.UUID,
        *,
        charge_id: uuid.UUID | None = None,
        customer_id: uuid.UUID | None = None,
        status: str | None = None,
    ) -> AsyncIterator[Notification]:
        """The account's emails (about a charge, a customer), newest first."""
        params = _params(charge_id=charge_id, customer_id=customer_id, status=status)
        return self._every(
            "notification-service",
            f"/v1/accounts/{account_id}/notifications",
            "notifications",
            params,
            Notification,
        )

    # --- any service ----------------------------------------------------------------------

    async def metrics(self, service: str) -> list[Metric]:
        """The service's `/metrics`, parsed (Prometheus' text format)."""
        url = f"{self.urls[service]}/metrics"
        response = await self._send(service, url)
        if response.status_code == 404:
            raise NoMetrics(service, url, f"no /metrics at {url}")
        _check(service, url, response)
        try:
            return list(text_string_to_metric_families(response.text))
        except ValueError as exc:
            raise ServiceRefused(
                service, url, response.status_code, "unreadable_metrics", str(exc)
            ) from exc

    async def _every(
        self,
        service: str,
        path: str,
        items: str,
        params: Params,
        model: type[_ItemT],
    ) -> AsyncIterator[_ItemT]:
        cursor: str | None = None
        while True:
            page = await self._get_json(
                service,
                path,
                {**params, "limit": str(PAGE_SIZE), **({"cursor": cursor} if cursor else {})},
            )
            for item in page[items]:
                yield model.model_validate(item)
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def _get_json(self, service: str, path: str, params: Params | None = None) -> Any:
        url = f"{self.urls[service]}{path}"
        response = await self._send(service, url, params)
        _check(service, url, response)
        try:
            return response.json()
        except ValueError as exc:
            raise ServiceRefused(
                service, url, response.status_code, "not_json", "the answer is not JSON"
            ) from exc

    async def _send(self, service: str, url: str, params: Params | None = None) -> httpx.Response:
        try:
            return await self._http.get(url, params=params)
        except httpx.TransportError as exc:
            problem = type(exc).__name__
            raise ServiceDown(
                service, url, f"service down: no answer at {url} ({problem})"
            ) from exc


def _params(**values: object) -> dict[str, str | list[str]]:
    """Query parameters of the filters given: lists repeat, times in ISO 8601 with offset."""
    params: dict[str, str | list[str]] = {}
    for name, value in values.items():
        if value is None or value == []:
            continue
        if isinstance(value, list):
            params[name] = [str(v) for v in value]
        elif isinstance(value, datetime):
            params[name] = value.isoformat()
        else:
            params[name] = str(value)
    return params


def _check(service: str, url: str, response: httpx.Response) -> None:
    if response.is_success:
        return
    code, message = "http_error", response.reason_phrase
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        pass
    raise ServiceRefused(service, url, response.status_code, code, message)
