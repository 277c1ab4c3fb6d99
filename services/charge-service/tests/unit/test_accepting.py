"""Accepting a charge over HTTP (`accepting.request_charge`): checked against our records,
idempotent by charge_id, and never more than the bookings' balance due once the other charges
still taking from it are counted."""

import uuid
from dataclasses import replace

import pytest
from bookpay_shared.events import ChargeMethod, ChargeRequested, FailureReason
from charge_service.adapters.testing import World
from charge_service.domain.model import Charge, ChargeStatus, Failure
from charge_service.usecases import accepting
from charge_service.usecases.cards import UnknownCustomer


def charge_for(world: World, amount: int = 4_500, **changes: object) -> Charge:
    request = world.request(ChargeMethod.PAYMENT_LINK, amount=amount)
    return replace(Charge.from_request(request), **changes)  # type: ignore[arg-type]


async def accept(world: World, charge: Charge) -> tuple[Charge, bool]:
    return await accepting.request_charge(world.uow, charge)


async def test_a_charge_that_fits_is_recorded_and_requested(world: World) -> None:
    charge = charge_for(world)

    recorded, new = await accept(world, charge)

    assert new and recorded.status is ChargeStatus.REQUESTED
    assert world.charge(charge.charge_id).amount == 4_500
    [requested] = world.published(ChargeRequested)
    assert (requested.charge_id, requested.amount) == (charge.charge_id, 4_500)
    assert [h.note for h in world.history(charge.charge_id)] == ["charge requested"]
    assert world.uow.commits == 1


async def test_the_bookings_are_locked_before_the_balance_is_read(world: World) -> None:
    other = uuid.uuid4()
    world.uow.add_booking(world.account, world.customer, other, balance_due=500)
    charge = charge_for(world, booking_ids=(other, world.booking))

    await accept(world, charge)

    assert world.uow.locked_bookings[0] == tuple(sorted((other, world.booking)))


async def test_the_same_charge_again_is_a_no_op(world: World) -> None:
    charge = charge_for(world)
    await accept(world, charge)

    again, new = await accept(world, charge)

    assert not new and again.charge_id == charge.charge_id
    assert len(world.published(ChargeRequested)) == 1
    assert len(world.uow.state.charges) == 1


async def test_the_same_charge_id_with_other_details_is_a_conflict(world: World) -> None:
    charge = charge_for(world)
    await accept(world, charge)

    with pytest.raises(accepting.ChargeConflict):
        await accept(world, replace(charge, amount=charge.amount + 1))

    assert world.charge(charge.charge_id).amount == charge.amount
    assert len(world.published(ChargeRequested)) == 1


async def test_an_amount_over_the_balance_due_is_refused(world: World) -> None:
    with pytest.raises(accepting.InvalidCharge) as refused:
        await accept(world, charge_for(world, amount=world.balance_due + 1))
    # Money as people read it, never minor units.
    assert str(refused.value) == "$100.01 exceeds the bookings' balance due of $100.00"

    assert world.uow.state.charges == {} and world.uow.state.published == []
    assert world.uow.rollbacks == 1


async def test_the_whole_balance_due_may_be_charged(world: World) -> None:
    _, new = await accept(world, charge_for(world, amount=world.balance_due))
    assert new


async def test_an_unknown_customer_is_refused(world: World) -> None:
    with pytest.raises(UnknownCustomer):
        await accept(world, charge_for(world, customer_id=uuid.uuid4()))
    assert world.uow.state.charges == {}


async def test_an_unknown_booking_is_refused(world: World) -> None:
    missing = uuid.uuid4()
    with pytest.raises(accepting.UnknownBookings, match=str(missing)):
        await accept(world, charge_for(world, booking_ids=(world.booking, missing)))
    assert world.uow.state.charges == {}


async def test_a_booking_of_another_account_is_unknown(world: World) -> None:
    elsewhere = uuid.uuid4()
    world.uow.add_booking(uuid.uuid4(), world.customer, elsewhere, balance_due=1_000)
    with pytest.raises(accepting.UnknownBookings):
        await accept(world, charge_for(world, booking_ids=(elsewhere,)))


async def test_a_booking_of_another_customer_is_refused(world: World) -> None:
    theirs = uuid.uuid4()
    other_customer = uuid.uuid4()
    world.uow.add_customer(world.account, other_customer)
    world.uow.add_booking(world.account, other_customer, theirs, balance_due=1_000)
    with pytest.raises(accepting.InvalidCharge, match="belong to the charged customer"):
        await accept(world, charge_for(world, booking_ids=(world.booking, theirs)))


async def test_a_charge_in_another_currency_is_refused(world: World) -> None:
    with pytest.raises(accepting.InvalidCharge, match="currency"):
        await accept(world, charge_for(world, currency="eur"))


async def test_a_charge_in_progress_takes_from_the_balance_due(world: World) -> None:
    await accept(world, charge_for(world, amount=6_000))

    with pytest.raises(accepting.InvalidCharge) as refused:
        await accept(world, charge_for(world, amount=4_001))
    assert "of the $100.00 balance" in str(refused.value)
    assert "already cover $60.00, leaving $40.00" in str(refused.value)
    _, new = await accept(world, charge_for(world, amount=4_000))
    assert new


async def test_a_failed_charge_takes_nothing_from_the_balance_due(world: World) -> None:
    first = charge_for(world, amount=6_000)
    await accept(world, first)
    failed = replace(
        world.charge(first.charge_id),
        status=ChargeStatus.FAILED,
        failure=Failure(FailureReason.CARD_DECLINED, "declined"),
    )
    world.uow.state.charges[first.charge_id] = failed

    _, new = await accept(world, charge_for(world, amount=world.balance_due))
    assert new


async def test_a_paid_charge_counts_until_booking_service_applied_it(world: World) -> None:
    paid = charge_for(world, amount=6_000)
    await accept(world, paid)
    world.uow.state.charges[paid.charge_id] = replace(
        world.charge(paid.charge_id), status=ChargeStatus.SUCCEEDED
    )

    with pytest.raises(accepting.InvalidCharge):
        await accept(world, charge_for(world, amount=5_000))

    # booking-service applies it: the balance due it publishes no longer includes it.
    world.uow.add_booking(
        world.account,
        world.customer,
        world.booking,
        balance_due=world.balance_due - 6_000,
        settled_charge_ids=(paid.charge_id,),
    )
    with pytest.raises(accepting.InvalidCharge, match="balance due"):
        await accept(world, charge_for(world, amount=4_001))
    _, new = await accept(world, charge_for(world, amount=4_000))
    assert new
