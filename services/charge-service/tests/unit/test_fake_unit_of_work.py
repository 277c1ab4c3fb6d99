"""The unit of work's contract, on the in-memory one: a commit keeps the transaction's
changes and events, anything else throws them away."""

import uuid

import pytest
from bookpay_shared.events import ChargeMethod
from charge_service.adapters.fake_unit_of_work import FakeUnitOfWork
from charge_service.domain.model import Charge


def a_charge() -> Charge:
    return Charge(
        charge_id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        booking_ids=(uuid.uuid4(),),
        amount=100,
        currency="usd",
        method=ChargeMethod.PAYMENT_LINK,
        payment_method_id=None,
        save_card=False,
        message=None,
        requested_by="key:unit",
    )


async def test_a_commit_keeps_the_changes_and_the_events() -> None:
    uow = FakeUnitOfWork()
    charge = a_charge()
    async with uow:
        await uow.charges.add(charge)
        await uow.outbox.enqueue(charge.request_event())
        await uow.commit()

    assert charge.charge_id in uow.state.charges
    assert [e.event_type for e in uow.state.published] == ["ChargeRequested"]
    assert (uow.commits, uow.rollbacks) == (1, 0)


async def test_leaving_without_a_commit_rolls_everything_back() -> None:
    uow = FakeUnitOfWork()
    charge = a_charge()
    async with uow:
        await uow.charges.add(charge)
        await uow.outbox.enqueue(charge.request_event())

    assert uow.state.charges == {} and uow.state.published == []
    assert (uow.commits, uow.rollbacks) == (0, 1)


async def test_an_exception_rolls_everything_back() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(RuntimeError, match="boom"):
        async with uow:
            await uow.charges.add(a_charge())
            raise RuntimeError("boom")

    assert uow.state.charges == {}
    assert uow.rollbacks == 1


async def test_uncommitted_changes_are_not_seen_until_committed() -> None:
    uow = FakeUnitOfWork()
    charge = a_charge()
    async with uow:
        await uow.charges.add(charge)
        assert await uow.charges.get(charge.charge_id) is not None
        assert charge.charge_id not in uow.state.charges
        await uow.commit()
    async with uow:
        assert await uow.charges.get(charge.charge_id) is not None


async def test_a_unit_of_work_is_one_transaction_at_a_time() -> None:
    uow = FakeUnitOfWork()
    async with uow:
        with pytest.raises(RuntimeError, match="already"):
            async with uow:
                pass


async def test_commit_outside_a_transaction_or_twice_is_refused() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(RuntimeError):
        await uow.commit()
    async with uow:
        await uow.commit()
        with pytest.raises(RuntimeError):
            await uow.commit()


async def test_the_inbox_claims_an_event_once() -> None:
    uow = FakeUnitOfWork()
    event_id = uuid.uuid4()
    async with uow:
        assert await uow.inbox.claim("consumer", event_id)
        assert not await uow.inbox.claim("consumer", event_id)
        assert await uow.inbox.claim("another consumer", event_id)
