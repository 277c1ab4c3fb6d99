"""bookpay-ops on a running bookpay, as an operator types it: `trace` shows everything that
happened to one charge in time order — its events across topics, its history in
charge-service, its link and its emails — and says which source could not answer; `tail`
shows exactly the events asked for."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import datetime
from pathlib import Path

import pytest
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services
from bookpay_shared.kafka_acls import ADMIN
from typer.testing import Result

from .ops_cli import run_ops
from .support import Bookpay, eventually
from .test_charge_lists import LARGE, ask_card_on_file_charge, ask_link_charge

pytestmark = pytest.mark.asyncio(loop_scope="session")

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing answers there


def timeline_of(output: str) -> list[tuple[datetime, str, str]]:
    """(time, source, text) of each timeline line of `trace`'s output."""
    found = []
    for row in output.splitlines()[1:]:
        if row[:4].isdigit():
            day, time, source, text = row.split(maxsplit=3)
            found.append((datetime.fromisoformat(f"{day} {time}"), source, text))
    return found


def event_types(timeline: list[tuple[datetime, str, str]]) -> list[str]:
    return [text.split()[0] for _, source, text in timeline if "@" in source]


async def test_trace_shows_a_card_on_file_charge_from_request_to_bookings_and_tail_its_event(
    bookpay: Bookpay, system: Services, stack: Stack
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [10_000, 7_500])
    await bookpay.save_card(customer)
    asked = await bookpay.charge_card_on_file(customer, 17_500)
    assert asked.status_code == 202, asked.text
    charge_id = asked.json()["charge_id"]
    assert (await bookpay.wait_charge_done(customer, charge_id))["status"] == "succeeded"

    async def both_bookings_charged() -> Result | None:
        traced = await run_ops(stack, system, "trace", charge_id)
        timeline = timeline_of(traced.stdout)
        receipt_sent = any(t.startswith("email receipt") and ": sent " in t for _, _, t in timeline)
        return (
            traced if event_types(timeline).count("BookingCharged") == 2 and receipt_sent else None
        )

    traced: Result = await eventually(both_bookings_charged, timeout=60)
    print(f"\n$ bookpay-ops trace {charge_id}\n{traced.stdout}")

    assert traced.exit_code == 0, traced.output
    assert traced.stdout.splitlines()[0] == f"charge {charge_id} (account {account})"
    timeline = timeline_of(traced.stdout)
    assert [at for at, _, _ in timeline] == sorted(at for at, _, _ in timeline)
    # A card on file is charged at once: no ChargeAccepted (that announces a link charge), no
    # link, and one email, the customer's receipt (the administrators hear of link payments
    # only).
    assert event_types(timeline) == [
        "ChargeRequested",
        "PaymentSucceeded",
        "BookingCharged",
        "BookingCharged",
    ]
    sources = {source.split("[")[0] for _, source, _ in timeline}
    assert sources == {
        "charge-requested",
        "payment-succeeded",
        "booking-charged",
        "charge-service",
        "notification-service",
    }
    emails = [text for _, source, text in timeline if source == "notification-service"]
    assert [e.split(" to ")[0] for e in emails] == ["email receipt"]
    history = [text for _, source, text in timeline if source == "charge-service"]
    assert history[0].startswith("requested: ")
    assert history[-1].startswith("succeeded: ")
    succeeded = next(
        text for text in (t for _, _, t in timeline) if text.startswith("PaymentSucceeded")
    )
    assert f"charge={charge_id} account={account} $175.00 card_on_file" in succeeded

    tailed = await run_ops(
        stack, system, "tail", "payment-succeeded", "--charge", charge_id, "--json"
    )

    assert tailed.exit_code == 0, tailed.output
    printed = [json.loads(row) for row in tailed.stdout.splitlines()]
    assert [p["event"]["charge_id"] for p in printed] == [charge_id]
    (record,) = printed
    assert record["topic"] == "payment-succeeded"
    assert record["key"] == customer.customer_id
    assert record["headers"]["event_type"] == "PaymentSucceeded"
    assert record["event"]["amount"] == 17_500
    assert record["event"]["booking_ids"] == customer.booking_ids


async def test_trace_shows_a_link_charge_with_its_link_and_email_and_names_a_service_that_is_down(
    bookpay: Bookpay, system: Services, stack: Stack
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [8_000])
    charge_id = await ask_link_charge(bookpay, customer, 8_000)

    async def emailed() -> Result | None:
        traced = await run_ops(stack, system, "trace", charge_id)
        sources = {source for _, source, _ in timeline_of(traced.stdout)}
        return traced if {"link-service", "notification-service"} <= sources else None

    traced: Result = await eventually(emailed, timeout=60)
    print(f"\n$ bookpay-ops trace {charge_id}\n{traced.stdout}")

    assert traced.exit_code == 0, traced.output
    timeline = timeline_of(traced.stdout)
    assert event_types(timeline) == ["ChargeRequested", "ChargeAccepted", "PaymentLinkCreated"]
    assert any(
        text.startswith("email payment_link")
        for _, s, text in timeline
        if s == "notification-service"
    )

    link_down = await run_ops(stack, system, "trace", charge_id, link=UNREACHABLE)

    assert link_down.exit_code == 1
    assert f"PROBLEM: link-service: service down: no answer at {UNREACHABLE}" in link_down.stdout
    shown = {source for _, source, _ in timeline_of(link_down.stdout)}
    assert "link-service" not in shown
    assert {"charge-service", "notification-service"} <= shown
    assert event_types(timeline_of(link_down.stdout)) == event_types(timeline)


async def test_trace_of_a_charge_nothing_knows_says_so(
    bookpay: Bookpay, system: Services, stack: Stack
) -> None:
    account = await bookpay.new_account()
    unknown = "0b9d7a3e-0000-4000-8000-000000000000"

    traced = await run_ops(stack, system, "trace", unknown, "--account", account)

    assert traced.exit_code == 1
    assert f"no charge {unknown}: no retained event names it" in traced.stderr


async def test_tail_follows_new_events_until_ctrl_c_and_stops_quietly(
    bookpay: Bookpay, stack: Stack
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [LARGE])
    await bookpay.save_card(customer)
    env = {
        **os.environ,
        "BOOKPAY_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        "BOOKPAY_KAFKA_USERNAME": ADMIN,
        "BOOKPAY_KAFKA_PASSWORD": stack.config.kafka_password(ADMIN),
    }
    tool = Path(sys.executable).parent / "bookpay-ops"
    follow = ["tail", "--last", "0", "--follow", "--customer", customer.customer_id]
    tail = await asyncio.create_subprocess_exec(
        tool, *follow, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert tail.stdout is not None and tail.stderr is not None
    stdout = tail.stdout

    async def printed(timeout: float) -> str | None:
        try:
            return (await asyncio.wait_for(stdout.readline(), timeout)).decode()
        except TimeoutError:
            return None

    try:
        # --last 0 prints nothing of the past: a first line shows the tool is following.
        for _ in range(6):
            await ask_card_on_file_charge(bookpay, customer, 100)
            if await printed(timeout=10):
                break
        else:
            raise AssertionError("tail --follow printed nothing of six charges")
        charge_id = await ask_card_on_file_charge(bookpay, customer, 4_200)
        seen: list[str] = []
        while len(seen) < 3:  # ChargeRequested, PaymentSucceeded, BookingCharged
            row = await printed(timeout=60)
            assert row is not None, f"tail printed {seen} of charge {charge_id} in 60s"
            seen += [row] if f"charge={charge_id}" in row else []
        tail.send_signal(signal.SIGINT)
        exit_code = await asyncio.wait_for(tail.wait(), timeout=30)
    finally:
        if tail.returncode is None:
            tail.kill()
    errors = (await tail.stderr.read()).decode()

    assert [row.split()[3] for row in seen] == [
        "ChargeRequested",
        "PaymentSucceeded",
        "BookingCharged",
    ]
    assert exit_code == 0, errors
    assert "Traceback" not in errors
    assert "in the clear" not in errors
