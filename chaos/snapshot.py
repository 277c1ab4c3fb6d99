"""Reads the real state of the system after a chaos run into a `Snapshot`: every service's
database (asyncpg), the Stripe stand-in's PaymentIntents (its API), the SMTP sink's messages
(its API) and the topics that matter (payment-link-created and every dead-letter topic, read
from the beginning to their end)."""

from __future__ import annotations

import json
import time
from email import message_from_string
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from bookpay_devstack.stack import Stack
from bookpay_shared import topics

from chaos.invariants import (
    Accepted,
    Applied,
    Booking,
    ChargeRow,
    DeadLetter,
    Email,
    Intent,
    Notification,
    Received,
    Snapshot,
)


async def read_snapshot(
    stack: Stack,
    accepted: dict[str, Accepted],
    poisoned: set[str],
    smtp_drops: int,
    internal_errors: list[str],
) -> Snapshot:
    snapshot = Snapshot(
        accepted=dict(accepted), poisoned=set(poisoned), internal_errors=list(internal_errors)
    )
    snapshot.smtp_drops_after_data = smtp_drops
    await _charges(stack, snapshot)
    await _bookings(stack, snapshot)
    await _notifications(stack, snapshot)
    for database in stack.config.databases:
        snapshot.unpublished_outbox[database] = await _unpublished(stack, database)
    snapshot.intents = await _intents(stack)
    snapshot.emails = await _emails(stack)
    await _topics(stack, snapshot)
    return snapshot


async def _rows(stack: Stack, database: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.postgres_dsn(database))
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


async def _charges(stack: Stack, s: Snapshot) -> None:
    for r in await _rows(
        stack,
        "charge",
        "SELECT charge_id, account_id, status, amount, method, stripe_payment_intent_id,"
        " over_collected_amount FROM charges",
    ):
        charge_id = str(r["charge_id"])
        s.charges[charge_id] = ChargeRow(
            charge_id,
            str(r["account_id"]),
            r["status"],
            r["amount"],
            r["method"],
            r["stripe_payment_intent_id"],
            r["over_collected_amount"],
        )
        if r["status"] == "succeeded" and r["method"] == "payment_link":
            s.link_charges_paid.add(charge_id)


async def _bookings(stack: Stack, s: Snapshot) -> None:
    for r in await _rows(stack, "booking", "SELECT id, amount, amount_paid FROM bookings"):
        s.bookings[str(r["id"])] = Booking(str(r["id"]), r["amount"], r["amount_paid"])
    s.applied = [
        Applied(str(r["booking_id"]), str(r["charge_id"]), r["amount_applied"])
        for r in await _rows(
            stack, "booking", "SELECT booking_id, charge_id, amount_applied FROM booking_payments"
        )
    ]
    s.received = [
        Received(str(r["charge_id"]), r["amount"], r["unapplied_amount"])
        for r in await _rows(
            stack, "booking", "SELECT charge_id, amount, unapplied_amount FROM received_payments"
        )
    ]
    for r in await _rows(
        stack, "booking", "SELECT id, notify_admins_on_link_payment, send_receipts FROM accounts"
    ):
        s.notify_admins[str(r["id"])] = r["notify_admins_on_link_payment"]
        s.send_receipts[str(r["id"])] = r["send_receipts"]
    for r in await _rows(stack, "booking", "SELECT account_id, email FROM account_admins"):
        s.admins.setdefault(str(r["account_id"]), []).append(r["email"])


async def _notifications(stack: Stack, s: Snapshot) -> None:
    s.notifications = [
        Notification(
            str(r["id"]),
            r["kind"],
            r["dedupe_key"],
            str(r["charge_id"]) if r["charge_id"] is not None else None,
            r["recipient"],
            r["status"],
            r["interrupted_attempts"],
        )
        for r in await _rows(
            stack,
            "notification",
            "SELECT id, kind, dedupe_key, charge_id, recipient, status, interrupted_attempts"
            " FROM notifications",
        )
    ]


async def _unpublished(stack: Stack, database: str) -> list[str]:
    rows = await _rows(stack, database, "SELECT event_id FROM outbox WHERE published_at IS NULL")
    return [str(r["event_id"]) for r in rows]


async def _intents(stack: Stack) -> list[Intent]:
    """Every PaymentIntent (no Stripe-Account header: the stand-in lists every account's)."""
    found: list[Intent] = []
    params: dict[str, Any] = {"limit": 100}
    async with httpx.AsyncClient(
        base_url=stack.stripe_url, auth=(stack.config.stripe_api_key, ""), timeout=60
    ) as client:
        while True:
            response = await client.get("/v1/payment_intents", params=params)
            response.raise_for_status()
            page = response.json()
            for pi in page["data"]:
                succeeded = pi["status"] == "succeeded"
                received = pi.get("amount_received", pi["amount"] if succeeded else 0)
                charge_id = (pi.get("metadata") or {}).get("charge_id")
                found.append(Intent(pi["id"], charge_id, pi["status"], int(received or 0)))
            if not page.get("has_more") or not page["data"]:
                return found
            params["starting_after"] = page["data"][-1]["id"]


async def _emails(stack: Stack) -> list[Email]:
    emails = []
    for message in await stack.mail.messages():
        parsed = message_from_string(message.get("raw") or "")
        header = parsed.get("X-Bookpay-Notification")
        notification_id = header.split()[-1] if header else None
        message_id = parsed.get("Message-ID") or f"(none: {message['id']})"
        emails.append(Email(message_id.strip(), notification_id))
    return emails


async def _topics(stack: Stack, s: Snapshot) -> None:
    wanted = [t for t in topics.ALL_TOPICS if t.name == topics.PAYMENT_LINK_CREATED]
    wanted += [t for t in topics.ALL_TOPICS if t.name.endswith(topics.DLQ_SUFFIX)]
    partitions = [TopicPartition(t.name, p) for t in wanted for p in range(t.partitions)]
    consumer = AIOKafkaConsumer(
        **stack.kafka_client_args(), enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp, end in ends.items() if end > 0}
        deadline = time.monotonic() + 120
        while remaining and time.monotonic() < deadline:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, messages in batches.items():
                for m in messages:
                    _note(s, m.topic, m.offset, m.value or b"")
                    if m.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()


def _note(s: Snapshot, topic: str, offset: int, value: bytes) -> None:
    if topic.endswith(topics.DLQ_SUFFIX):
        s.dead_letters.append(DeadLetter(topic, offset, value))
        return
    try:
        body = json.loads(value)
        s.links_created.setdefault(str(body["charge_id"]), []).append(str(body["event_id"]))
    except (ValueError, KeyError, TypeError):
        pass
