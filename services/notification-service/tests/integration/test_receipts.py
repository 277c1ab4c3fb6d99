"""The customer's receipt on real PostgreSQL: one per successful charge whatever the method and
however often the event comes, none when the account turned receipts off, and never lost when
the account, customer or bookings are learnt after the payment."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from bookpay_shared.consuming import TransientError, UnprocessableEvent
from bookpay_shared.db import Pool
from bookpay_shared.events import (
    Administrator,
    BookingCharged,
    BookingStatus,
    ChargeMethod,
    PaymentSucceeded,
)
from notification_service.adapters import repository as repo
from notification_service.adapters import testing
from notification_service.domain.notifications import NotificationKind
from notification_service.entrypoints import consumers
from notification_service.usecases import admin_emails, receipts
from notification_service.usecases.deps import Deps

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ACCOUNT, CUSTOMER = uuid.uuid4(), uuid.uuid4()
B1, B2 = uuid.uuid4(), uuid.uuid4()
START = datetime(2027, 5, 1, 9, tzinfo=UTC)
CHARGES_URL = "https://charges.example.com"


def deps(pool: Pool, **changes: object) -> Deps:
    changes.setdefault("payment_page_base_url", "https://pay.example.com")
    changes.setdefault("charge_service_base_url", CHARGES_URL)
    return Deps(pool, **changes)  # type: ignore[arg-type]


async def know_account(pool: Pool, *, send_receipts: bool = True, version: int = 1) -> None:
    await testing.know_account(
        pool,
        ACCOUNT,
        admins=[Administrator(name="Grace", email="grace@example.com")],
        name="Harbour <Kayak> Tours",
        version=version,
        notify_admins_on_link_payment=True,
        time_zone="America/Halifax",
        reply_to="hello@harbourkayak.example",
        send_receipts=send_receipts,
    )


async def know_customer(pool: Pool) -> None:
    await testing.know_customer(pool, ACCOUNT, CUSTOMER)


async def know_bookings(pool: Pool, *booking_ids: uuid.UUID) -> None:
    await testing.know_bookings(pool, ACCOUNT, CUSTOMER, booking_ids or (B1, B2), START)


async def know_everything(pool: Pool, *, send_receipts: bool = True) -> None:
    await know_account(pool, send_receipts=send_receipts)
    await know_customer(pool)
    await know_bookings(pool)


def paid(
    charge_id: uuid.UUID | None = None,
    method: ChargeMethod = ChargeMethod.CARD_ON_FILE,
    **changes: object,
) -> PaymentSucceeded:
    charge_id = charge_id or uuid.uuid4()
    fields: dict[str, object] = {
        "correlation_id": charge_id,
        "charge_id": charge_id,
        "account_id": ACCOUNT,
        "customer_id": CUSTOMER,
        "booking_ids": [B1, B2],
        "amount": 10000,
        "currency": "usd",
        "method": method,
        "stripe_payment_intent_id": "pi_test_1",
        "card_brand": "visa",
        "card_last4": "4242",
        "paid_at": START - timedelta(days=20),
    }
    fields.update(changes)
    return PaymentSucceeded.model_validate(fields)


async def receipts_sent(pool: Pool) -> list[tuple[str, str, str, str]]:
    rows = await pool.fetch(
        """SELECT recipient, subject, text, reply_to FROM notifications WHERE kind = 'receipt'
           ORDER BY created_at"""
    )
    return [(r["recipient"], r["subject"], r["text"], r["reply_to"]) for r in rows]


@pytest.mark.parametrize("method", list(ChargeMethod))
async def test_every_method_sends_the_customer_one_receipt(
    pool: Pool, method: ChargeMethod
) -> None:
    await know_everything(pool)
    event = paid(method=method)

    await receipts.record_paid_charge(deps(pool), event)
    await receipts.record_paid_charge(deps(pool), event)  # redelivered
    again = event.model_copy(update={"event_id": uuid.uuid4()})
    await receipts.record_paid_charge(deps(pool), again)  # the same charge published twice

    [(recipient, subject, text, reply_to)] = await receipts_sent(pool)
    assert recipient == "ada@example.com"
    assert reply_to == "hello@harbourkayak.example"
    assert subject == "Harbour <Kayak> Tours: receipt for your payment of $100.00"
    assert "- Sunset paddle #1 (Sat 1 May 2027, 06:00 ADT)" in text
    assert "- Sunset paddle #2 (Sun 2 May 2027, 06:00 ADT)" in text
    assert "Paid with: Visa ending in 4242" in text
    assert "Payment date: Sun 11 Apr 2027, 06:00 ADT" in text
    assert f"Reference: {event.charge_id}" in text and "Stripe payment: pi_test_1" in text


async def test_the_receipt_is_delivered_like_every_email(pool: Pool) -> None:
    await know_everything(pool)
    event = paid()
    await receipts.record_paid_charge(deps(pool), event)

    async with pool.acquire() as conn:
        [delivery] = await repo.claim_due(conn, limit=10, lease_seconds=60)
    assert delivery.kind is NotificationKind.RECEIPT
    assert delivery.charge_id == event.charge_id
    assert delivery.sender is not None and delivery.sender.name == "Harbour <Kayak> Tours"
    assert "&lt;Kayak&gt;" in delivery.email.html and "<Kayak>" not in delivery.email.html


async def test_no_receipt_when_the_account_turned_them_off(pool: Pool) -> None:
    await know_everything(pool, send_receipts=False)
    event = paid()

    await receipts.record_paid_charge(deps(pool), event)

    assert await receipts_sent(pool) == []
    decision = await pool.fetchval(
        "SELECT decision FROM receipts WHERE charge_id = $1", event.charge_id
    )
    assert decision == "turned_off"
    assert await receipts.flush_waiting_receipts(deps(pool)) == 0


async def test_a_receipt_waits_for_a_customer_not_known_yet(pool: Pool) -> None:
    await know_account(pool)
    await know_bookings(pool)

    await receipts.record_paid_charge(deps(pool), paid())  # neither raises nor drops it
    assert await receipts.flush_waiting_receipts(deps(pool)) == 0
    assert await receipts_sent(pool) == []

    await know_customer(pool)
    assert await receipts.flush_waiting_receipts(deps(pool)) == 1
    assert len(await receipts_sent(pool)) == 1
    assert await receipts.flush_waiting_receipts(deps(pool)) == 0


async def test_a_receipt_for_an_account_not_known_yet_follows_the_setting_it_arrives_with(
    pool: Pool,
) -> None:
    await know_customer(pool)
    await know_bookings(pool)
    await receipts.record_paid_charge(deps(pool), paid())
    assert await receipts.flush_waiting_receipts(deps(pool)) == 0

    await know_account(pool, send_receipts=False)
    assert await receipts.flush_waiting_receipts(deps(pool)) == 1
    assert await receipts_sent(pool) == []


async def test_a_receipt_waits_for_its_bookings_then_names_those_still_unknown(pool: Pool) -> None:
    await know_account(pool)
    await know_customer(pool)
    await know_bookings(pool, B1)
    event = paid()

    await receipts.record_paid_charge(deps(pool), event)
    assert await receipts_sent(pool) == []  # B2 may still come

    assert await receipts.flush_waiting_receipts(deps(pool, projection_wait=timedelta(0))) == 1
    [(_, _, text, _)] = await receipts_sent(pool)
    assert "- Sunset paddle #1 (Sat 1 May 2027, 06:00 ADT)" in text
    assert f"- Booking {B2}\n" in text


async def test_a_link_payment_whose_account_is_late_keeps_its_receipt(pool: Pool) -> None:
    event = paid(
        method=ChargeMethod.PAYMENT_LINK, occurred_at=datetime.now(UTC) - timedelta(hours=1)
    )

    # The administrators' email waits for the account, and after projection_wait the event is
    # dead-lettered: the receipt was kept before that and is written once the account comes.
    with pytest.raises(UnprocessableEvent):
        await consumers.payment_succeeded(deps(pool), event)
    with pytest.raises(TransientError):
        await consumers.payment_succeeded(deps(pool), paid(method=ChargeMethod.PAYMENT_LINK))
    assert await pool.fetchval("SELECT count(*) FROM receipts WHERE decided_at IS NULL") == 2

    await know_everything(pool)
    assert await receipts.flush_waiting_receipts(deps(pool)) == 2
    assert len(await receipts_sent(pool)) == 2


async def test_the_handler_and_the_sweep_together_write_one_receipt(pool: Pool) -> None:
    await know_account(pool)
    await know_bookings(pool)
    events = [paid() for _ in range(5)]
    for event in events:
        await receipts.record_paid_charge(deps(pool), event)
    await know_customer(pool)

    d = deps(pool)
    await asyncio.gather(
        receipts.flush_waiting_receipts(d),
        receipts.flush_waiting_receipts(d),
        *(receipts.record_paid_charge(d, e) for e in events),
    )

    assert len(await receipts_sent(pool)) == 5
    assert await pool.fetchval("SELECT count(*) FROM receipts WHERE decided_at IS NULL") == 0


async def test_the_administrators_email_links_to_the_charge(pool: Pool) -> None:
    await know_everything(pool)
    event = paid(method=ChargeMethod.PAYMENT_LINK)

    await consumers.payment_succeeded(deps(pool), event)
    for booking_id in (B1, B2):
        await admin_emails.record_booking_charged(
            deps(pool),
            BookingCharged(
                correlation_id=event.charge_id,
                booking_id=booking_id,
                account_id=ACCOUNT,
                customer_id=CUSTOMER,
                charge_id=event.charge_id,
                amount_applied=5000,
                currency="usd",
                booking_status=BookingStatus.CHARGED_IN_FULL,
                amount_paid_total=5000,
                balance_due=0,
                charged_at=START,
                method=ChargeMethod.PAYMENT_LINK,
            ),
        )

    text = await pool.fetchval("SELECT text FROM notifications WHERE kind = 'admin_link_paid'")
    url = f"{CHARGES_URL}/v1/accounts/{ACCOUNT}/charges/{event.charge_id}"
    assert f"See the charge: {url}" in text
    assert len(await receipts_sent(pool)) == 1  # and the customer has a receipt
