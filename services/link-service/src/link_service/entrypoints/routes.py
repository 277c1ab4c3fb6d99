"""link-service's staff HTTP API (v1): list, inspect, cancel and resend payment links; the
account's link settings. Thin routes: validate, call one use case, shape the answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from bookpay_shared.auth import Identity, Scope, authorized
from bookpay_shared.events import utcnow
from bookpay_shared.guards import client_address
from bookpay_shared.http import NOT_FOUND, ErrorAnswer, ErrorAnswers, RateLimited
from bookpay_shared.pagination import DEFAULT_LIMIT, After, Cursor, Page, PageLimit
from bookpay_shared.ratelimit import RateLimiter
from bookpay_shared.text import Count
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from link_service.adapters.repository import Addressee
from link_service.domain.links import MAX_EXPIRY_HOURS, Link, LinkOrigin, LinkState
from link_service.usecases import links, payments
from link_service.usecases.links import Deps

router = APIRouter(prefix="/v1")

ERROR_ANSWERS: ErrorAnswers = {
    links.LinkNotFound: NOT_FOUND,
    links.LinkConflict: ErrorAnswer(409, "link_not_active"),
}
"""How the use cases' errors are answered (installed on the staff app by main)."""
Reads = authorized(Scope.READ)
LinksCaller = Annotated[Identity, authorized(Scope.LINKS_WRITE)]


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


class LinkOut(BaseModel):
    link_id: uuid.UUID
    charge_id: uuid.UUID
    account_id: uuid.UUID
    customer_id: uuid.UUID
    booking_ids: list[uuid.UUID]
    amount: int
    currency: str
    state: LinkState
    origin: LinkOrigin
    expires_at: datetime
    created_at: datetime
    paid_at: datetime | None
    closed_at: datetime | None
    payment_intent_id: str | None
    save_card: bool
    times_sent: int
    customer_name: str | None = None
    """The customer's name as this service knows it now (from booking-service's customers);
    null while the customer is unknown here."""
    customer_email: str | None = None
    """The customer's email address, known as `customer_name` is."""

    @classmethod
    def of(cls, link: Link, now: datetime, customer: Addressee | None = None) -> LinkOut:
        return cls(
            link_id=link.link_id,
            charge_id=link.charge_id,
            account_id=link.account_id,
            customer_id=link.customer_id,
            booking_ids=list(link.booking_ids),
            amount=link.amount,
            currency=link.currency,
            state=link.state_at(now),
            origin=link.origin,
            expires_at=link.expires_at,
            created_at=link.created_at,
            paid_at=link.paid_at,
            closed_at=link.closed_at,
            payment_intent_id=link.payment_intent_id,
            save_card=link.save_card,
            times_sent=link.sent_count,
            customer_name=customer.name if customer else None,
            customer_email=customer.email if customer else None,
        )


class HistoryOut(BaseModel):
    at: datetime
    state: str
    note: str
    actor: str | None


class LinkDetailOut(LinkOut):
    history: list[HistoryOut]


class LinksOut(BaseModel):
    links: list[LinkOut]
    next_cursor: str | None = None
    """Pass as `cursor` for the next page; null on the last page."""


class LinkSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expires_in_hours: Count = Field(ge=1, le=MAX_EXPIRY_HOURS)


class LinkSettingsOut(BaseModel):
    account_id: uuid.UUID
    expires_in_hours: int
    is_default: bool


async def _page(
    deps: Deps,
    account_id: uuid.UUID,
    limit: int,
    after: Cursor,
    *,
    customer_id: uuid.UUID | None = None,
    charge_id: uuid.UUID | None = None,
) -> tuple[list[LinkOut], str | None]:
    found = await links.list_links(
        deps.pool,
        account_id,
        customer_id=customer_id,
        charge_id=charge_id,
        limit=limit + 1,
        after=after,
    )
    page = Page.of(found, limit, lambda f: Cursor(f.link.created_at, f.link.link_id))
    now = utcnow()
    return [LinkOut.of(f.link, now, f.customer) for f in page.items], page.next_cursor


async def _shown(deps: Deps, link: Link) -> LinkOut:
    return LinkOut.of(link, utcnow(), await links.addressee(deps.pool, link))


@router.get("/accounts/{account_id}/links", response_model=LinksOut, dependencies=[Reads])
async def list_links(
    account_id: uuid.UUID,
    after: After,
    state: LinkState | None = None,
    customer_id: uuid.UUID | None = None,
    charge_id: Annotated[
        uuid.UUID | None, Query(description="only the link of this charge (at most one)")
    ] = None,
    limit: PageLimit = DEFAULT_LIMIT,
    deps: Deps = Depends(get_deps),
) -> LinksOut:
    """The account's links, newest first, `limit` a page; `next_cursor` asks for the next page
    (a `state` filter applies to each page, which may then hold fewer than `limit`). Each link
    shows its customer's name and email (null while this service does not know the customer)."""
    shown, next_cursor = await _page(
        deps, account_id, limit, after, customer_id=customer_id, charge_id=charge_id
    )
    return LinksOut(
        links=[link for link in shown if state is None or link.state is state],
        next_cursor=next_cursor,
    )


@router.get(
    "/accounts/{account_id}/customers/{customer_id}/links",
    response_model=LinksOut,
    dependencies=[Reads],
)
async def list_customer_links(
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    after: After,
    limit: PageLimit = DEFAULT_LIMIT,
    deps: Deps = Depends(get_deps),
) -> LinksOut:
    """The customer's links, newest first, `limit` a page; `next_cursor` for the next."""
    shown, next_cursor = await _page(deps, account_id, limit, after, customer_id=customer_id)
    return LinksOut(links=shown, next_cursor=next_cursor)


@router.get(
    "/accounts/{account_id}/links/{link_id}", response_model=LinkDetailOut, dependencies=[Reads]
)
async def get_link(
    account_id: uuid.UUID, link_id: uuid.UUID, deps: Deps = Depends(get_deps)
) -> LinkDetailOut:
    link = await links.get_link(deps.pool, account_id, link_id)
    entries = await links.history(deps.pool, link_id)
    return LinkDetailOut(
        **(await _shown(deps, link)).model_dump(),
        history=[HistoryOut(at=e.at, state=e.state, note=e.note, actor=e.actor) for e in entries],
    )


@router.post("/accounts/{account_id}/links/{link_id}/cancel", response_model=LinkOut)
async def cancel_link(
    account_id: uuid.UUID,
    link_id: uuid.UUID,
    caller: LinksCaller,
    deps: Deps = Depends(get_deps),
) -> LinkOut:
    actor = caller.subject
    link = await payments.cancel(deps, account_id, link_id, actor)
    return await _shown(deps, link)


def limit_resends(request: Request, account_id: uuid.UUID, _: LinksCaller) -> None:
    """Resends (each an email to the customer) are rate limited per account and per client,
    once the credential has been checked (a caller who is refused spends nothing of the
    account's limit; the route gets the same Identity, checked once)."""
    limiter: RateLimiter = request.app.state.resend_limiter
    client = client_address(request, request.app.state.trusted_proxies)
    wait = max(limiter.allow(f"account:{account_id}"), limiter.allow(f"client:{client}"))
    if wait:
        raise RateLimited(wait, "too many resends; wait a moment and try again")


@router.post(
    "/accounts/{account_id}/links/{link_id}/resend",
    response_model=LinkOut,
    status_code=202,
    dependencies=[Depends(limit_resends)],
)
async def resend_link(
    account_id: uuid.UUID,
    link_id: uuid.UUID,
    caller: LinksCaller,
    deps: Deps = Depends(get_deps),
) -> LinkOut:
    actor = caller.subject
    link = await links.resend(deps, account_id, link_id, actor)
    return await _shown(deps, link)


@router.get(
    "/accounts/{account_id}/link-settings", response_model=LinkSettingsOut, dependencies=[Reads]
)
async def get_link_settings(
    account_id: uuid.UUID, deps: Deps = Depends(get_deps)
) -> LinkSettingsOut:
    hours = await links.get_expiry_setting(deps.pool, account_id)
    return LinkSettingsOut(
        account_id=account_id,
        expires_in_hours=hours or deps.default_expiry_hours,
        is_default=hours is None,
    )


@router.put(
    "/accounts/{account_id}/link-settings",
    response_model=LinkSettingsOut,
    dependencies=[authorized(Scope.LINKS_WRITE)],
)
async def put_link_settings(
    account_id: uuid.UUID, body: LinkSettingsIn, deps: Deps = Depends(get_deps)
) -> LinkSettingsOut:
    await links.set_expiry_setting(deps.pool, account_id, body.expires_in_hours)
    return LinkSettingsOut(
        account_id=account_id, expires_in_hours=body.expires_in_hours, is_default=False
    )
