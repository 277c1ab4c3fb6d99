"""notification-service's HTTP API (v1): thin routes that validate input and call one handler."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from bookpay_shared.auth import Scope, authorized
from bookpay_shared.db import Pool
from bookpay_shared.events import BookingIds, utcnow
from bookpay_shared.http import NOT_FOUND, ErrorAnswer, ErrorAnswers, NotFound
from bookpay_shared.money import Currency, PositiveAmount
from bookpay_shared.pagination import DEFAULT_LIMIT, After, Cursor, Page, PageLimit
from bookpay_shared.projections import get_account
from bookpay_shared.text import Count, Instant, Paragraphs
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from notification_service.adapters import repository as repo
from notification_service.domain.notifications import DeliveryStatus
from notification_service.usecases import link_emails
from notification_service.usecases.deps import MissingEntity

router = APIRouter(prefix="/v1")

ERROR_ANSWERS: ErrorAnswers = {
    MissingEntity: NOT_FOUND,
    link_emails.DraftMismatch: ErrorAnswer(422, "charge_mismatch"),
}
"""How the use cases' errors are answered (installed on the app by main)."""

DEFAULT_LINK_LIFETIME = timedelta(days=7)


def get_pool(request: Request) -> Pool:
    pool: Pool = request.app.state.runtime.db
    return pool


def get_preview_url(request: Request) -> str:
    url: str = request.app.state.preview_link_url
    return url


PoolDep = Annotated[Pool, Depends(get_pool)]


class PreviewIn(BaseModel):
    """A prospective payment-link charge, as it would be sent to charge-service."""

    model_config = ConfigDict(extra="forbid")

    customer_id: uuid.UUID
    booking_ids: BookingIds
    amount: PositiveAmount
    currency: Currency
    message: Paragraphs | None = Field(default=None, max_length=2000)
    expires_at: Instant | None = None
    """When the link will expire; by default `link_expires_in_hours` from now."""
    link_expires_in_hours: Count | None = Field(default=None, ge=1, le=24 * 90)
    """The link's lifetime, as in ChargeRequested (default 7 days)."""

    @model_validator(mode="after")
    def _consistent(self) -> PreviewIn:
        if len(set(self.booking_ids)) != len(self.booking_ids):
            raise ValueError("booking_ids must not repeat a booking")
        if self.expires_at is not None and self.link_expires_in_hours is not None:
            raise ValueError("give expires_at or link_expires_in_hours, not both")
        return self

    def expiry(self, now: datetime) -> datetime:
        if self.expires_at is not None:
            return self.expires_at
        hours = self.link_expires_in_hours
        return now + (DEFAULT_LINK_LIFETIME if hours is None else timedelta(hours=hours))


class PreviewOut(BaseModel):
    subject: str
    html: str
    text: str
    link_url: str
    """The placeholder that stands where the link's URL will be."""
    expires_at: datetime
    from_name: str
    """The email's From display name: `<the business's sender name> via bookpay`."""
    reply_to: str | None
    """Where the customer's replies go (the business's address), or null."""


class NotificationOut(BaseModel):
    notification_id: uuid.UUID
    kind: str
    charge_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    """The customer the email is about: the recipient of a payment link, or the payer the
    administrators are told of (null for emails written before this was kept, when it could
    not be worked out)."""
    recipient: str
    subject: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    failed_at: datetime | None


class AdminOut(BaseModel):
    name: str
    email: EmailStr


class NotificationSettingsOut(BaseModel):
    account_id: uuid.UUID
    notify_admins_on_link_payment: bool
    admins: list[AdminOut]
    send_receipts: bool
    """Whether the account's customers receive a receipt after each successful charge."""


@router.post(
    "/accounts/{account_id}/payment-link-email/preview", dependencies=[authorized(Scope.READ)]
)
async def preview_payment_link_email(
    account_id: uuid.UUID,
    body: PreviewIn,
    pool: PoolDep,
    preview_url: Annotated[str, Depends(get_preview_url)],
) -> PreviewOut:
    draft = link_emails.LinkDraft(
        account_id=account_id,
        customer_id=body.customer_id,
        booking_ids=body.booking_ids,
        amount=body.amount,
        currency=body.currency,
        url=preview_url,
        expires_at=body.expiry(utcnow()),
        message=body.message,
    )
    email, sender = await link_emails.preview_link_email(pool, draft)
    return PreviewOut(
        subject=email.subject,
        html=email.html,
        text=email.text,
        link_url=preview_url,
        expires_at=draft.expires_at,
        from_name=sender.from_name,
        reply_to=sender.reply_to,
    )


class NotificationsOut(BaseModel):
    notifications: list[NotificationOut]
    next_cursor: str | None = None
    """Pass as `cursor` for the next page; null on the last page."""


async def _page(
    pool: Pool,
    account_id: uuid.UUID,
    after: Cursor,
    limit: int,
    *,
    status: DeliveryStatus | None,
    charge_id: uuid.UUID | None,
    customer_id: uuid.UUID | None,
) -> NotificationsOut:
    async with pool.acquire() as conn:
        found = await repo.list_notifications(
            conn,
            account_id,
            status=status,
            charge_id=charge_id,
            customer_id=customer_id,
            limit=limit + 1,
            after=after,
        )
    page = Page.of(found, limit, lambda n: Cursor(n.created_at, n.notification_id))
    return NotificationsOut(
        notifications=[NotificationOut.model_validate(n, from_attributes=True) for n in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/accounts/{account_id}/notifications", dependencies=[authorized(Scope.READ)])
async def list_notifications(
    account_id: uuid.UUID,
    pool: PoolDep,
    after: After,
    status: DeliveryStatus | None = None,
    charge_id: uuid.UUID | None = None,
    customer_id: Annotated[
        uuid.UUID | None, Query(description="only the emails about this customer")
    ] = None,
    limit: PageLimit = DEFAULT_LIMIT,
) -> NotificationsOut:
    """The account's emails, newest first: to whom, of what kind, and how delivery went;
    `limit` a page, `next_cursor` for the next (the filters hold on every page)."""
    return await _page(
        pool,
        account_id,
        after,
        limit,
        status=status,
        charge_id=charge_id,
        customer_id=customer_id,
    )


@router.get(
    "/accounts/{account_id}/customers/{customer_id}/notifications",
    dependencies=[authorized(Scope.READ)],
)
async def list_customer_notifications(
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    pool: PoolDep,
    after: After,
    status: DeliveryStatus | None = None,
    charge_id: uuid.UUID | None = None,
    limit: PageLimit = DEFAULT_LIMIT,
) -> NotificationsOut:
    """The emails about one customer (their payment links, and the administrators' emails
    about their payments), newest first, paged and filtered as the account's list."""
    return await _page(
        pool,
        account_id,
        after,
        limit,
        status=status,
        charge_id=charge_id,
        customer_id=customer_id,
    )


@router.get("/accounts/{account_id}/notification-settings", dependencies=[authorized(Scope.READ)])
async def notification_settings(account_id: uuid.UUID, pool: PoolDep) -> NotificationSettingsOut:
    """Who receives the administrators' email, and whether customers receive receipts, as
    this service knows it now (from booking-service's account events)."""
    async with pool.acquire() as conn:
        account = await get_account(conn, account_id)
    if account is None:
        raise NotFound(f"account {account_id} is not known")
    return NotificationSettingsOut(
        account_id=account.account_id,
        notify_admins_on_link_payment=account.notify_admins_on_link_payment,
        admins=[AdminOut(name=a.name, email=a.email) for a in account.admins],
        send_receipts=account.send_receipts,
    )
