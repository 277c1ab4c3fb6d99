"""Staff lists of charges (v1): an account's charges and a customer's, newest first, a page at
a time (bookpay_shared.pagination), with the same filters on every page."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Annotated

from bookpay_shared.auth import Scope, authorized
from bookpay_shared.db import Pool
from bookpay_shared.events import ChargeMethod, FailureReason
from bookpay_shared.http import Unprocessable
from bookpay_shared.pagination import DEFAULT_LIMIT, After, Cursor, Page, PageLimit
from bookpay_shared.text import Instant
from fastapi import APIRouter, Depends, Query

from charge_service.adapters import repository as repo
from charge_service.domain.model import Charge, ChargeFilter, ChargeStatus
from charge_service.entrypoints.routes import get_pool
from charge_service.entrypoints.views import ChargesOut, ChargeSummaryOut

router = APIRouter()
Reads = authorized(Scope.READ)


def _filter(
    status: Annotated[
        list[ChargeStatus] | None,
        Query(description="only charges in one of these statuses (repeat for several)"),
    ] = None,
    method: Annotated[ChargeMethod | None, Query(description="only charges paid this way")] = None,
    created_from: Annotated[
        Instant | None,
        Query(description="only charges made at or after this time (with its offset)"),
    ] = None,
    created_to: Annotated[
        Instant | None,
        Query(description="only charges made before this time (with its offset)"),
    ] = None,
    failure_reason: Annotated[
        list[FailureReason] | None,
        Query(
            description="only failed charges that failed for one of these reasons "
            "(repeat for several)"
        ),
    ] = None,
) -> ChargeFilter:
    try:
        return ChargeFilter(
            statuses=frozenset(status or ()),
            method=method,
            created_from=created_from,
            created_to=created_to,
            failure_reasons=frozenset(failure_reason or ()),
        )
    except ValueError as exc:
        raise Unprocessable(str(exc), code="invalid_filter") from exc


Filter = Annotated[ChargeFilter, Depends(_filter)]


def _position(charge: Charge) -> Cursor:
    assert charge.requested_at is not None, "a recorded charge"
    return Cursor(charge.requested_at, charge.charge_id)


async def _page(
    pool: Pool, account_id: uuid.UUID, only: ChargeFilter, limit: int, after: Cursor
) -> ChargesOut:
    async with pool.acquire() as conn:
        found = await repo.list_charges(conn, account_id, only, limit=limit + 1, after=after)
    page = Page.of(found, limit, _position)
    return ChargesOut(
        charges=[ChargeSummaryOut.of(c) for c in page.items], next_cursor=page.next_cursor
    )


@router.get("/v1/accounts/{account_id}/charges", dependencies=[Reads])
async def list_charges(
    account_id: uuid.UUID,
    only: Filter,
    after: After,
    customer_id: uuid.UUID | None = None,
    limit: PageLimit = DEFAULT_LIMIT,
    pool: Pool = Depends(get_pool),
) -> ChargesOut:
    """The account's charges, newest first, `limit` a page; pass `next_cursor` as `cursor` for
    the next page (null on the last). The filters hold on every page."""
    return await _page(pool, account_id, replace(only, customer_id=customer_id), limit, after)


@router.get("/v1/accounts/{account_id}/customers/{customer_id}/charges", dependencies=[Reads])
async def list_customer_charges(
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    only: Filter,
    after: After,
    limit: PageLimit = DEFAULT_LIMIT,
    pool: Pool = Depends(get_pool),
) -> ChargesOut:
    """The customer's charges, newest first, with the same filters and paging as the
    account's list."""
    return await _page(pool, account_id, replace(only, customer_id=customer_id), limit, after)
