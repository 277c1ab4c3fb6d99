"""Accepting a charge: checked against our records before anything is charged.

A charge must name a customer and bookings we know (from booking-service's events), in one
currency, for no more than what is still due once the charges already in progress for those
bookings are counted: two charges in flight can never take more than the balance.
"""

from __future__ import annotations

from bookpay_shared.money import format_amount

from charge_service.domain.model import Charge
from charge_service.usecases.cards import UnknownCustomer
from charge_service.usecases.unit_of_work import UnitOfWork


class ChargeConflict(Exception):
    """The charge_id is already used by a different charge."""


class InvalidCharge(ValueError):
    """The charge does not match our records (bookings, customer, currency, amount)."""


class UnknownBookings(InvalidCharge):
    """Bookings we have not heard of (yet: booking-service's events may be on their way)."""


async def request_charge(uow: UnitOfWork, charge: Charge) -> tuple[Charge, bool]:
    """Record a charge and publish ChargeRequested; a repeat of the same charge is a no-op.

    Returns the charge as recorded and whether it was new."""
    async with uow:
        # A repeat needs no lock; a new charge is looked up again once it holds the bookings'
        # locks, in case the same charge_id was just accepted concurrently.
        existing = await uow.charges.get(charge.charge_id)
        if existing is None:
            await lock_bookings(uow, charge)
            existing = await uow.charges.get(charge.charge_id)
        if existing is not None:
            if not existing.same_request(charge):
                raise ChargeConflict(f"charge {charge.charge_id} exists with different details")
            return existing, False
        await check_against_records(uow, charge)
        if not await uow.charges.add(charge):
            raise ChargeConflict(
                f"charge {charge.charge_id} was just requested concurrently; retry"
            )
        await uow.charges.add_history(
            charge.charge_id, charge.status, "charge requested", by=charge.requested_by
        )
        await uow.outbox.enqueue(charge.request_event())
        await uow.commit()
    return charge, True


async def lock_bookings(uow: UnitOfWork, charge: Charge) -> None:
    """Take the charge's bookings' row locks until the transaction ends: whoever holds them is
    the only one checking a charge against those bookings' balance. Call it before anything
    else that locks rows in the transaction (the charge's own row included)."""
    await uow.records.lock_bookings(charge.booking_ids)


async def check_against_records(uow: UnitOfWork, charge: Charge) -> None:
    """Raise UnknownCustomer or InvalidCharge unless the charge fits our records.

    Locks the charge's bookings first (a no-op when the transaction holds them already): under
    READ COMMITTED every statement after the lock sees the charges committed before it."""
    await lock_bookings(uow, charge)
    if await uow.records.customer(charge.account_id, charge.customer_id) is None:
        raise UnknownCustomer(
            f"customer {charge.customer_id} not found in account {charge.account_id}"
        )
    bookings = await uow.records.bookings(charge.account_id, charge.booking_ids)
    found = {b.booking_id for b in bookings}
    missing = [str(b) for b in charge.booking_ids if b not in found]
    if missing:
        raise UnknownBookings(f"unknown booking(s) for this account: {', '.join(missing)}")
    if any(b.customer_id != charge.customer_id for b in bookings):
        raise InvalidCharge("every booking must belong to the charged customer")
    if any(b.currency != charge.currency for b in bookings):
        raise InvalidCharge("the charge's currency must be the bookings' currency")
    balance = sum(b.balance_due for b in bookings)

    def money(amount: int) -> str:
        return format_amount(amount, charge.currency)

    if charge.amount > balance:
        raise InvalidCharge(
            f"{money(charge.amount)} exceeds the bookings' balance due of {money(balance)}"
        )
    reserved = await uow.charges.amount_in_progress(charge.booking_ids, exclude=charge.charge_id)
    if charge.amount + reserved > balance:
        raise InvalidCharge(
            f"{money(charge.amount)} exceeds what is still due on these bookings: of the"
            f" {money(balance)} balance, other charges in progress (or paid but not yet applied"
            f" to the bookings) already cover {money(reserved)}, leaving"
            f" {money(max(0, balance - reserved))}"
        )
