"""A charge's trace, end to end: the `traceparent` of the staff's request reaches every event
of the charge on Kafka and every service log line written for it."""

import secrets
from pathlib import Path

import pytest
from bookpay_devstack.events import EventLog, Record, about
from bookpay_devstack.stack import Stack
from bookpay_shared import topics

from .support import Bookpay, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


def trace_id_of(record: Record) -> str | None:
    traceparent = record.headers.get("traceparent")
    return traceparent.split("-")[1] if traceparent else None


def lines_with(log: Path, trace_id: str) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if trace_id in line]


async def test_a_charges_trace_id_reaches_its_events_and_every_service_log(
    bookpay: Bookpay, event_log: EventLog, stack: Stack
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [5000, 7500])
    await bookpay.save_card(customer)
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"

    accepted = await bookpay.charge_card_on_file(
        customer, 12500, headers={"traceparent": traceparent}
    )
    assert accepted.status_code == 202, accepted.text
    charge_id = accepted.json()["charge_id"]
    assert (await bookpay.wait_charge_done(customer, charge_id))["status"] == "succeeded"

    # (a) Every event of the charge carries the trace on Kafka, each from its own span.
    of_charge = about("charge_id", charge_id)
    events = [
        *await event_log.wait_for(topics.CHARGE_REQUESTED, of_charge),
        *await event_log.wait_for(topics.PAYMENT_SUCCEEDED, of_charge),
        *await event_log.wait_for(topics.BOOKING_CHARGED, of_charge, count=2),
    ]
    assert [(r.topic, trace_id_of(r)) for r in events] == [(r.topic, trace_id) for r in events]
    parents = {r.headers["traceparent"].split("-")[2] for r in events}
    assert traceparent.split("-")[2] not in parents  # each hop is a span of its own

    # (b) Each service the charge passes through logged it under the trace id: charge-service
    # its request and its Stripe call (while handling ChargeRequested), booking-service the
    # payment applied (while handling PaymentSucceeded).
    logs = stack.config.logs_dir
    expected = {
        "charge-service": [
            "bookpay.access: POST /v1/accounts/{account_id}/charges 202 in ",
            "stripe create and confirm payment intent off-session ok id=pi_",
        ],
        "booking-service": [
            f"charge {charge_id}: 12500 usd applied to its 2 bookings [payment-succeeded[",
        ],
    }

    def missing() -> list[str]:
        return [
            f"{service}: {text}"
            for service, texts in expected.items()
            for text in texts
            if not any(text in line for line in lines_with(logs / f"{service}.log", trace_id))
        ]

    async def all_logged() -> bool:
        return not missing()

    try:
        await eventually(all_logged, timeout=15)
    except AssertionError:
        raise AssertionError(f"no line with trace id {trace_id} for {missing()}") from None
    [stripe_line] = [
        line
        for line in lines_with(logs / "charge-service.log", trace_id)
        if "stripe create and confirm" in line
    ]
    assert "[charge-requested[" in stripe_line and " ChargeRequested event=" in stripe_line
