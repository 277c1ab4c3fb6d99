"""Consuming events on real PostgreSQL: the customer's link email, and the administrators'
email after a link payment whatever order its events arrive in, redelivered or not."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from bookpay_shared.consuming import TransientError, UnprocessableEvent
from bookpay_shared.db import Pool
from bookpay_shared.events import (
    Administrator,
    BookingCharged,
    BookingStateChanged,
    BookingStatus,
    ChargeMethod,
    PaymentLinkCreated,
    PaymentSucceeded,
)
from notification_service.adapters import repository as repo
from notification_service.adapters import testing
from notification_service.adapters.testing import know_account, know_bookings, know_customer
from notification_service.usecases import admin_emails, link_emails
from notification_service.usecases.deps import Deps

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ACCOUNT, CUSTOMER = uuid.uuid4(), uuid.uuid4()
B1, B2 = uuid.uuid4(), uuid.uuid4()
START = datetime(2027, 5, 1, 9, tzinfo=UTC)
ADMINS = [
    Administrator(name="Grace", email="grace@example.com"),
    Administrator(name="Alan", email="alan@example.com"),
]


def deps(pool: Pool, **changes: object) -> Deps:
    changes.setdefault("payment_page_base_url", "https://pay.example.com")
    return Deps(pool, **changes)  # type: ignore[arg-type]


async def known(pool: Pool, *, notify: bool = True, bookings: bool = True) -> None:
    """What booking-service's state events would have told the service."""
    await know_account(pool, ACCOUNT, admins=ADMINS, notify_admins_on_link_payment=notify)
    await know_customer(pool, ACCOUNT, CUSTOMER)
    if bookings:
        await know_bookings(pool, ACCOUNT, CUSTOMER, (B1, B2), START)


def booking_state(booking_id: uuid.UUID, i: int) -> BookingStateChanged:
    return testing.booking_state(ACCOUNT, CUSTOMER, booking_id, i, START)


def link_created(**changes: object) -> PaymentLinkCreated:
    charge_id = uuid.uuid4()
    fields: dict[str, object] = {
        "correlation_id": charge_id,
        "link_id": uuid.uuid4(),
        "charge_id": charge_id,
        "account_id": ACCOUNT,
        "customer_id": CUSTOMER,
        "booking_ids": [B1, B2],
        "amount": 10000,
        "currency": "usd",
        "url": "https://pay.example.com/pay/abc",
        "expires_at": START,
        "message": "See you <soon>",
    }
    fields.update(changes)
    return PaymentLinkCreated.model_validate(fields)


def paid(
    charge_id: uuid.UUID, method: ChargeMethod = ChargeMethod.PAYMENT_LINK
) -> PaymentSucceeded:
    return PaymentSucceeded(
        correlation_id=charge_id,
        charge_id=charge_id,
        account_id=ACCOUNT,
        customer_id=CUSTOMER,
        booking_ids=[B1, B2],
        amount=10000,
        currency="usd",
        method=method,
        stripe_payment_intent_id="pi_test_1",
        card_brand="visa",
        card_last4="4242",
        paid_at=START - timedelta(days=20),
    )


def charged(
    charge_id: uuid.UUID, booking_id: uuid.UUID, method: ChargeMethod = ChargeMethod.PAYMENT_LINK
) -> BookingCharged:
    return BookingCharged(
        correlation_id=charge_id,
        booking_id=booking_id,
        account_id=ACCOUNT,
        customer_id=CUSTOMER,
        charge_id=charge_id,
        amount_applied=5000,
        currency="usd",
        booking_status=BookingStatus.CHARGED_IN_FULL,
        amount_paid_total=5000,
        balance_due=0,
        charged_at=START - timedelta(days=20),
        method=method,
    )


async def emails(pool: Pool, kind: str) -> list[tuple[str, str, str]]:
    rows = await pool.fetch(
        "SELECT recipient, subject, text FROM notifications WHERE kind = $1 ORDER BY recipient",
        kind,
    )
    return [(r["recipient"], r["subject"], r["text"]) for r in rows]


# --- the customer's email ------------------------------------------------------------------


async def test_a_link_is_emailed_to_the_customer_once(pool: Pool) -> None:
    await known(pool)
    event = link_created()

    await link_emails.email_payment_link(deps(pool), event)
    await link_emails.email_payment_link(deps(pool), event)

    [(recipient, subject, text)] = await emails(pool, "payment_link")
    assert recipient == "ada@example.com"
    assert subject == "Harbour Kayak Tours: complete your payment of $100.00"
    assert "Complete Payment: https://pay.example.com/pay/<redacted>" in text
    assert "See you <soon>" in text
    row = await pool.fetchrow("SELECT html, text, link_url FROM notifications")
    assert row["link_url"] == "https://pay.example.com/pay/abc"  # only there, until sent
    assert "/pay/abc" not in row["html"] and "/pay/abc" not in row["text"]


async def test_a_resent_link_is_emailed_again(pool: Pool) -> None:
    await known(pool)
    first = link_created()
    resent = first.model_copy(update={"event_id": uuid.uuid4()})

    await link_emails.email_payment_link(deps(pool), first)
    await link_emails.email_payment_link(deps(pool), resent)

    assert len(await emails(pool, "payment_link")) == 2


async def test_the_preview_is_the_email_but_for_the_url(pool: Pool) -> None:
    await known(pool)
    event = link_created()
    draft = link_emails.LinkDraft(
        ACCOUNT, CUSTOMER, [B1, B2], 10000, "usd", "https://preview.invalid/x", START, event.message
    )

    preview, sender = await link_emails.preview_link_email(pool, draft)
    await link_emails.email_payment_link(deps(pool), event)

    async with pool.acquire() as conn:
        [delivery] = await repo.claim_due(conn, limit=10, lease_seconds=60)
    sent = delivery.outgoing()
    assert delivery.sender == sender
    assert sent.subject == preview.subject
    assert sent.html == preview.html.replace("https://preview.invalid/x", event.url)
    assert sent.text == preview.text.replace("https://preview.invalid/x", event.url)


async def test_a_link_for_bookings_not_known_yet_is_retried(pool: Pool) -> None:
    await known(pool, bookings=False)

    with pytest.raises(TransientError):
        await link_emails.email_payment_link(deps(pool), link_created())

    assert await emails(pool, "payment_link") == []
    assert await pool.fetchval("SELECT count(*) FROM processed_events") == 0


async def test_a_link_for_bookings_never_known_is_dead_lettered_after_a_while(pool: Pool) -> None:
    await known(pool, bookings=False)
    old = link_created(occurred_at=datetime.now(UTC) - timedelta(hours=1))

    with pytest.raises(UnprocessableEvent):
        await link_emails.email_payment_link(deps(pool, projection_wait=timedelta(minutes=10)), old)


async def test_a_link_whose_url_is_not_http_is_dead_lettered(pool: Pool) -> None:
    await known(pool)
    with pytest.raises(UnprocessableEvent):
        await link_emails.email_payment_link(deps(pool), link_created(url="javascript:alert(1)"))


@pytest.mark.parametrize(
    "url",
    [
        "https://pay.attacker.example/pay/abc",
        "http://pay.example.com/pay/abc",
        "https://pay.example.com.attacker.example/pay/abc",
        "https://pay.example.com:8443/pay/abc",
        "https://pay.example.com/login?next=/pay/abc",
    ],
)
async def test_a_link_off_bookpays_payment_page_is_dead_lettered(pool: Pool, url: str) -> None:
    await known(pool)
    with pytest.raises(UnprocessableEvent, match="not on bookpay's payment page"):
        await link_emails.email_payment_link(deps(pool), link_created(url=url))
    assert await pool.fetchval("SELECT count(*) FROM notifications") == 0


# --- the administrators' email -------------------------------------------------------------

Step = Callable[[], Awaitable[None]]


def steps(pool: Pool, charge_id: uuid.UUID) -> list[Step]:
    d = deps(pool)
    return [
        lambda: admin_emails.record_link_payment(d, paid(charge_id)),
        lambda: admin_emails.record_booking_charged(d, charged(charge_id, B1)),
        lambda: admin_emails.record_booking_charged(d, charged(charge_id, B2)),
    ]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
async def test_each_admin_gets_one_email_whatever_the_order(
    pool: Pool, order: tuple[int, ...]
) -> None:
    await known(pool)
    charge_id = uuid.uuid4()
    todo = steps(pool, charge_id)

    for i in order:
        await todo[i]()
    for i in order:  # everything delivered again
        await todo[i]()

    found = await emails(pool, "admin_link_paid")
    assert [r for r, _, _ in found] == ["alan@example.com", "grace@example.com"]
    text = found[0][2]
    assert "Ada Lovelace (ada@example.com) paid $100.00" in text
    assert "pi_test_1" in text
    in_full = text.split("Bookings now Charged in Full:")[1]
    assert "Sunset paddle #1" in in_full and "Sunset paddle #2" in in_full


async def test_the_email_waits_for_every_booking(pool: Pool) -> None:
    await known(pool)
    charge_id = uuid.uuid4()
    payment, first, _ = steps(pool, charge_id)

    await payment()
    await first()

    assert await emails(pool, "admin_link_paid") == []


async def test_a_payment_missing_bookings_is_emailed_after_the_settle_time(pool: Pool) -> None:
    await known(pool)
    charge_id = uuid.uuid4()
    payment, first, _ = steps(pool, charge_id)
    await payment()
    await first()

    assert await admin_emails.flush_waiting_link_payments(deps(pool)) == 0  # not settled yet
    flushed = await admin_emails.flush_waiting_link_payments(
        deps(pool, admin_email_settle=timedelta(0))
    )

    assert flushed == 1
    found = await emails(pool, "admin_link_paid")
    assert len(found) == 2
    assert "Sunset paddle #1" in found[0][2] and "Sunset paddle #2" not in found[0][2]
    await steps(pool, charge_id)[2]()  # the late BookingCharged changes nothing
    assert len(await emails(pool, "admin_link_paid")) == 2


async def test_no_admin_email_when_the_account_turned_it_off(pool: Pool) -> None:
    await known(pool, notify=False)
    for step in steps(pool, uuid.uuid4()):
        await step()
    assert await emails(pool, "admin_link_paid") == []
    assert await pool.fetchval("SELECT count(*) FROM link_payments WHERE notified_at IS NULL") == 0


async def test_card_payments_send_no_admin_email(pool: Pool) -> None:
    await known(pool)
    charge_id = uuid.uuid4()
    d = deps(pool)
    await admin_emails.record_link_payment(d, paid(charge_id, ChargeMethod.CARD_ON_FILE))
    for booking_id in (B1, B2):
        await admin_emails.record_booking_charged(
            d, charged(charge_id, booking_id, ChargeMethod.CARD_ON_FILE)
        )
    assert await emails(pool, "admin_link_paid") == []
    assert await pool.fetchval("SELECT count(*) FROM link_payments") == 0


async def test_a_payment_for_an_account_not_known_yet_is_retried(pool: Pool) -> None:
    with pytest.raises(TransientError):
        await admin_emails.record_link_payment(deps(pool), paid(uuid.uuid4()))
