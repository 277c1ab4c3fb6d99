"""notification-service use cases: the customer's payment-link email and its preview.

Consuming an event writes the emails it asks for (rendered, one row per recipient) in the
transaction that records the event as processed; the delivery loop (`delivery`) sends them.
The administrators' email after a link payment is in `admin_emails`, the customer's receipt
after any successful charge in `receipts`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bookpay_shared import inbox, projections
from bookpay_shared.consuming import UnprocessableEvent
from bookpay_shared.db import Connection, Pool
from bookpay_shared.events import PaymentLinkCreated

from notification_service.adapters import repository as repo
from notification_service.domain.notifications import (
    NewNotification,
    NotificationKind,
    Recipient,
    RenderedEmail,
    Sender,
    link_email_key,
    redacted_url,
)
from notification_service.emails import BookingLine, PaymentLinkEmail, payment_link_email
from notification_service.emails.formats import on_payment_page
from notification_service.usecases.deps import SERVICE, Deps, MissingEntity, or_wait

log = logging.getLogger(__name__)

LINKS_CONSUMER = f"{SERVICE}.payment-link-created"


class DraftMismatch(ValueError):
    """A previewed charge whose bookings do not belong to its customer or currency."""


@dataclass(frozen=True)
class LinkDraft:
    """What the payment-link email is made from: a prospective charge, or a real link."""

    account_id: uuid.UUID
    customer_id: uuid.UUID
    booking_ids: Sequence[uuid.UUID]
    amount: int
    currency: str
    url: str
    expires_at: datetime
    message: str | None = None


# --- the customer's payment-link email -----------------------------------------------------


@dataclass(frozen=True)
class LinkContext:
    account: projections.KnownAccount
    customer: projections.KnownCustomer
    bookings: list[projections.KnownBooking]


async def load_link_context(conn: Connection, draft: LinkDraft) -> LinkContext:
    """The account, customer and bookings of `draft`, from the local projections;
    MissingEntity when one of them is not known."""
    account = await projections.get_account(conn, draft.account_id)
    if account is None:
        raise MissingEntity(f"account {draft.account_id} is not known")
    customer = await projections.get_customer(conn, draft.account_id, draft.customer_id)
    if customer is None:
        raise MissingEntity(f"customer {draft.customer_id} is not known in this account")
    bookings = await projections.get_bookings(conn, draft.account_id, draft.booking_ids)
    missing = set(draft.booking_ids) - {b.booking_id for b in bookings}
    if missing:
        raise MissingEntity(f"booking(s) {', '.join(sorted(map(str, missing)))} not known")
    return LinkContext(account, customer, bookings)


def sender_of(account: projections.KnownAccount) -> Sender:
    """The account's emails come from its sender name (its name by default); replies go to its
    Reply-To address."""
    business = account.business
    return Sender(name=business.sender_name or account.name, reply_to=business.reply_to)


def link_email(context: LinkContext, draft: LinkDraft) -> tuple[Recipient, RenderedEmail]:
    """The customer's email and address; ValueError for a URL that is not http(s)."""
    data = PaymentLinkEmail(
        merchant_name=context.account.name,
        customer_name=context.customer.name,
        bookings=tuple(
            BookingLine(b.title, b.starts_at, b.amount, b.currency) for b in context.bookings
        ),
        amount=draft.amount,
        currency=draft.currency,
        url=draft.url,
        expires_at=draft.expires_at,
        message=draft.message,
        profile=context.account.business,
    )
    return Recipient(context.customer.email, context.customer.name), payment_link_email(data)


async def preview_link_email(pool: Pool, draft: LinkDraft) -> tuple[RenderedEmail, Sender]:
    """What `email_payment_link` would send for this charge, but for the link's URL, and whom
    it would come from. MissingEntity or DraftMismatch when the charge does not match what is
    known."""
    async with pool.acquire() as conn:
        context = await load_link_context(conn, draft)
    for b in context.bookings:
        if b.customer_id != draft.customer_id:
            raise DraftMismatch(f"booking {b.booking_id} belongs to another customer")
        if b.currency != draft.currency:
            raise DraftMismatch(f"booking {b.booking_id} is in {b.currency}, not {draft.currency}")
    _, email = link_email(context, draft)
    return email, sender_of(context.account)


async def email_payment_link(deps: Deps, event: PaymentLinkCreated) -> None:
    """Write the customer's email for a new (or resent) link, once per event."""
    draft = LinkDraft(
        account_id=event.account_id,
        customer_id=event.customer_id,
        booking_ids=event.booking_ids,
        amount=event.amount,
        currency=event.currency,
        url=event.url,
        expires_at=event.expires_at,
        message=event.message,
    )
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await inbox.claim(conn, LINKS_CONSUMER, event.event_id):
            return
        context = await or_wait(deps, event, load_link_context(conn, draft))
        try:
            on_payment_page(event.url, deps.payment_page_base_url)
            # Stored with the link redacted; the delivery puts it back (domain.with_link_url).
            recipient, email = link_email(context, replace(draft, url=redacted_url(event.url)))
        except ValueError as exc:
            raise UnprocessableEvent(str(exc)) from exc
        notification = NewNotification(
            id=uuid.uuid4(),
            dedupe_key=link_email_key(event.event_id),
            kind=NotificationKind.PAYMENT_LINK,
            account_id=event.account_id,
            charge_id=event.charge_id,
            recipient=recipient,
            email=email,
            customer_id=event.customer_id,
            link_url=event.url,
            sender=sender_of(context.account),
        )
        await repo.add_notifications(conn, [notification])
