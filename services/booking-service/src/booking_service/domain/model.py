"""booking-service's domain: bookings, their balance and status, and how a payment is applied.

Pure logic, no I/O. A payment is applied to the charge's bookings oldest first (by start time),
each up to its balance; what is left over is recorded as unapplied (and reported). Every
booking of the charge, one that got nothing included, then lists the charge as settled.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from bookpay_shared.business import BusinessProfile
from bookpay_shared.events import BookingStatus


@dataclass(frozen=True)
class Booking:
    id: uuid.UUID
    account_id: uuid.UUID
    customer_id: uuid.UUID
    title: str
    starts_at: datetime
    amount: int
    currency: str
    amount_paid: int
    version: int
    created_at: datetime

    @property
    def balance_due(self) -> int:
        return max(0, self.amount - self.amount_paid)

    @property
    def status(self) -> BookingStatus:
        if self.amount_paid <= 0:
            return BookingStatus.UNPAID
        if self.amount_paid < self.amount:
            return BookingStatus.PARTIALLY_PAID
        return BookingStatus.CHARGED_IN_FULL

    def pay(self, amount: int) -> Booking:
        return replace(self, amount_paid=self.amount_paid + amount, version=self.version + 1)


@dataclass(frozen=True)
class Allocation:
    shares: list[tuple[Booking, int]]
    """Every booking of the payment (its state after the payment, a new version) and the amount
    applied to it, 0 for a booking that got nothing: each has the charge settled."""
    unapplied: int
    """What was left once every eligible booking was paid in full."""

    @property
    def applied(self) -> list[tuple[Booking, int]]:
        """The bookings that received part of the payment, and how much."""
        return [(booking, share) for booking, share in self.shares if share > 0]


def allocate(amount: int, currency: str, bookings: list[Booking]) -> Allocation:
    """Apply `amount` to `bookings`, oldest first, each up to its balance.

    Bookings in another currency or already paid in full receive nothing (a share of 0).
    """
    remaining = amount
    shares: list[tuple[Booking, int]] = []
    for booking in sorted(bookings, key=lambda b: (b.starts_at, b.created_at, str(b.id))):
        share = min(remaining, booking.balance_due) if booking.currency == currency else 0
        shares.append((booking.pay(share), share))
        remaining -= share
    return Allocation(shares=shares, unapplied=remaining)


@dataclass(frozen=True)
class Admin:
    name: str
    email: str


@dataclass(frozen=True)
class Account:
    id: uuid.UUID
    name: str
    admins: tuple[Admin, ...]
    notify_admins_on_link_payment: bool
    version: int
    business: BusinessProfile = field(default_factory=BusinessProfile)
    """Its time zone, locale and what its customers see of it."""
    send_receipts: bool = True
    """Whether its customers receive a receipt email after each successful charge."""


@dataclass(frozen=True)
class Customer:
    id: uuid.UUID
    account_id: uuid.UUID
    name: str
    email: str
    version: int


@dataclass(frozen=True)
class BookingPayment:
    booking_id: uuid.UUID
    charge_id: uuid.UUID
    amount_applied: int
    currency: str
    method: str
    stripe_payment_intent_id: str
    applied_at: datetime


class UnknownEntity(LookupError):
    """An account, customer or booking that does not exist (for this account)."""
