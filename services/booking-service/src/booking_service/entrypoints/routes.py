"""booking-service's HTTP API (v1): thin routes that validate input and call one handler."""

from __future__ import annotations

import uuid
from datetime import datetime

from bookpay_shared.auth import Scope, authorized
from bookpay_shared.db import Pool
from bookpay_shared.events import BookingStatus
from bookpay_shared.http import NOT_FOUND, ErrorAnswers, NotFound
from bookpay_shared.money import Currency, PositiveAmount
from bookpay_shared.text import Instant, Line
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, EmailStr, Field

from booking_service.adapters import repository as repo
from booking_service.domain.model import Booking, BookingPayment, Customer, UnknownEntity
from booking_service.entrypoints.accounts_api import (
    AccountIn,
    AccountOut,
    AccountPatch,
    Strict,
    admins_of,
)
from booking_service.usecases import accounts, bookings, keys

router = APIRouter(prefix="/v1")

ERROR_ANSWERS: ErrorAnswers = {
    UnknownEntity: NOT_FOUND,
    keys.UnknownKey: NOT_FOUND,
}
"""How the use cases' errors are answered (installed on the app by main)."""
Reads = authorized(Scope.READ)
WritesBookings = authorized(Scope.BOOKINGS_WRITE)


def get_pool(request: Request) -> Pool:
    pool: Pool = request.app.state.runtime.db
    return pool


class CustomerIn(Strict):
    name: Line = Field(min_length=1, max_length=200)
    email: EmailStr


class BookingIn(Strict):
    customer_id: uuid.UUID
    title: Line = Field(min_length=1, max_length=300)
    starts_at: Instant
    amount: PositiveAmount
    currency: Currency


class PaymentOut(BaseModel):
    charge_id: uuid.UUID
    amount_applied: int
    currency: str
    method: str
    stripe_payment_intent_id: str
    applied_at: datetime

    @classmethod
    def of(cls, p: BookingPayment) -> PaymentOut:
        return cls(
            charge_id=p.charge_id,
            amount_applied=p.amount_applied,
            currency=p.currency,
            method=p.method,
            stripe_payment_intent_id=p.stripe_payment_intent_id,
            applied_at=p.applied_at,
        )


class BookingOut(BaseModel):
    booking_id: uuid.UUID
    account_id: uuid.UUID
    customer_id: uuid.UUID
    title: str
    starts_at: datetime
    amount: int
    currency: str
    amount_paid: int
    balance_due: int
    status: BookingStatus
    payments: list[PaymentOut] | None = None

    @classmethod
    def of(cls, b: Booking, payments: list[BookingPayment] | None = None) -> BookingOut:
        return cls(
            booking_id=b.id,
            account_id=b.account_id,
            customer_id=b.customer_id,
            title=b.title,
            starts_at=b.starts_at,
            amount=b.amount,
            currency=b.currency,
            amount_paid=b.amount_paid,
            balance_due=b.balance_due,
            status=b.status,
            payments=None if payments is None else [PaymentOut.of(p) for p in payments],
        )


class CustomerOut(BaseModel):
    customer_id: uuid.UUID
    account_id: uuid.UUID
    name: str
    email: str
    bookings: list[BookingOut] | None = None

    @classmethod
    def of(
        cls,
        c: Customer,
        bookings: list[Booking] | None = None,
        payments: dict[uuid.UUID, list[BookingPayment]] | None = None,
    ) -> CustomerOut:
        """`payments`: each booking's (every booking then lists its own, empty or not)."""
        return cls(
            customer_id=c.id,
            account_id=c.account_id,
            name=c.name,
            email=c.email,
            bookings=None
            if bookings is None
            else [
                BookingOut.of(b, None if payments is None else payments.get(b.id, []))
                for b in bookings
            ],
        )


@router.post(
    "/accounts",
    status_code=201,
    response_model=AccountOut,
    dependencies=[authorized(Scope.ACCOUNTS_CREATE)],
)
async def create_account(body: AccountIn, pool: Pool = Depends(get_pool)) -> AccountOut:
    account = await accounts.create_account(
        pool,
        name=body.name,
        admins=admins_of(body.admins) or [],
        notify=body.notify_admins_on_link_payment,
        business=body.business(),
        send_receipts=body.send_receipts,
    )
    return AccountOut.of(account)


@router.get("/accounts/{account_id}", response_model=AccountOut, dependencies=[Reads])
async def get_account(account_id: uuid.UUID, pool: Pool = Depends(get_pool)) -> AccountOut:
    async with pool.acquire() as conn:
        account = await repo.get_account(conn, account_id)
    if account is None:
        raise NotFound(f"account {account_id} not found")
    return AccountOut.of(account)


@router.patch(
    "/accounts/{account_id}",
    response_model=AccountOut,
    dependencies=[authorized(Scope.ACCOUNTS_WRITE)],
)
async def patch_account(
    account_id: uuid.UUID, body: AccountPatch, pool: Pool = Depends(get_pool)
) -> AccountOut:
    account = await accounts.update_account(
        pool,
        account_id,
        name=body.name,
        admins=admins_of(body.admins),
        notify=body.notify_admins_on_link_payment,
        business_changes=body.business_changes(),
        send_receipts=body.send_receipts,
    )
    return AccountOut.of(account)


@router.post(
    "/accounts/{account_id}/customers",
    status_code=201,
    response_model=CustomerOut,
    dependencies=[WritesBookings],
)
async def create_customer(
    account_id: uuid.UUID, body: CustomerIn, pool: Pool = Depends(get_pool)
) -> CustomerOut:
    customer = await bookings.create_customer(
        pool, account_id, name=body.name, email=str(body.email)
    )
    return CustomerOut.of(customer)


@router.get(
    "/accounts/{account_id}/customers/{customer_id}",
    response_model=CustomerOut,
    dependencies=[Reads],
)
async def get_customer(
    account_id: uuid.UUID, customer_id: uuid.UUID, pool: Pool = Depends(get_pool)
) -> CustomerOut:
    async with pool.acquire() as conn:
        customer = await repo.get_customer(conn, account_id, customer_id)
        if customer is None:
            raise NotFound(f"customer {customer_id} not found in account {account_id}")
        bookings = await repo.list_customer_bookings(conn, customer_id)
        payments = await repo.list_payments_of_bookings(conn, [b.id for b in bookings])
    return CustomerOut.of(customer, bookings, payments)


@router.post(
    "/accounts/{account_id}/bookings",
    status_code=201,
    response_model=BookingOut,
    dependencies=[WritesBookings],
)
async def create_booking(
    account_id: uuid.UUID, body: BookingIn, pool: Pool = Depends(get_pool)
) -> BookingOut:
    booking = await bookings.create_booking(
        pool,
        account_id,
        customer_id=body.customer_id,
        title=body.title,
        starts_at=body.starts_at,
        amount=body.amount,
        currency=body.currency,
    )
    return BookingOut.of(booking, [])


@router.get(
    "/accounts/{account_id}/bookings/{booking_id}",
    response_model=BookingOut,
    dependencies=[Reads],
)
async def get_booking(
    account_id: uuid.UUID, booking_id: uuid.UUID, pool: Pool = Depends(get_pool)
) -> BookingOut:
    async with pool.acquire() as conn:
        booking = await repo.get_booking(conn, account_id, booking_id)
        if booking is None:
            raise NotFound(f"booking {booking_id} not found in account {account_id}")
        payments = await repo.list_booking_payments(conn, booking_id)
    return BookingOut.of(booking, payments)
