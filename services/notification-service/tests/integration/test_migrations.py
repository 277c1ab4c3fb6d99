"""Emails written before the payment link was kept apart from their bodies: once migrated,
those still to send carry their link as the delivery expects it, and those done carry none."""

from __future__ import annotations

import shutil
import uuid
from importlib import resources
from pathlib import Path

import asyncpg
import pytest
from bookpay_devstack.postgres import create_databases
from bookpay_devstack.stack import Stack
from bookpay_shared import projections
from bookpay_shared.db import apply_migrations
from notification_service.adapters import repository as repo
from notification_service.domain.notifications import with_link_url

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

TOKEN = "Ab3_-" * 8 + "xyz"


def legacy_bodies(url: str) -> tuple[str, str]:
    html = f'<a href="{url}">Complete Payment</a> <a href="{url}">{url}</a>'
    text = f"Hi,\n\nComplete Payment: {url}\n\nSummary\n"
    return html, text


async def test_emails_written_before_keep_their_link_apart_or_lose_it(
    stack: Stack, tmp_path: Path
) -> None:
    name = f"notification_mig_{uuid.uuid4().hex[:10]}"
    await create_databases(stack.config.postgres_server_url, [name])
    pool = await asyncpg.create_pool(stack.postgres_dsn(name), min_size=1, max_size=2)
    migrations = resources.files("notification_service") / "migrations"
    first = tmp_path / "first"
    first.mkdir()
    with resources.as_file(migrations / "001_notifications.sql") as sql:
        shutil.copy(sql, first / "001_notifications.sql")
    try:
        components = [("projections", projections.migrations())]
        await apply_migrations(pool, [*components, ("service", first)])
        urls = {}
        for status in ("pending", "sending", "sent", "failed"):
            urls[status] = f"http://127.0.0.1:8003/pay/{status}{TOKEN}"
            html, text = legacy_bodies(urls[status])
            await pool.execute(
                """INSERT INTO notifications (id, dedupe_key, kind, account_id, recipient,
                       subject, html, text, status, lease_until)
                   VALUES ($1, $2, 'payment_link', $3, $4, 'Pay', $5, $6, $7, now())""",
                uuid.uuid4(),
                f"payment-link:{uuid.uuid4()}",
                uuid.uuid4(),
                f"{status}@x.com",
                html,
                text,
                status,
            )

        await apply_migrations(pool, [*components, ("service", migrations)])

        rows = {
            r["status"]: r
            for r in await pool.fetch("SELECT status, html, text, link_url FROM notifications")
        }
        for status, row in rows.items():
            assert TOKEN not in row["html"] and TOKEN not in row["text"], status
            assert "/pay/&lt;redacted&gt;" in row["html"] and "/pay/<redacted>" in row["text"]
        assert rows["sent"]["link_url"] is rows["failed"]["link_url"] is None
        assert rows["pending"]["link_url"] == urls["pending"]
        assert rows["sending"]["link_url"] == urls["sending"]
        async with pool.acquire() as conn:
            claimed = await repo.claim_due(conn, limit=10, lease_seconds=60)
        assert len(claimed) == 2
        for delivery in claimed:
            url = urls[delivery.recipient.email.split("@")[0]]
            html, text = legacy_bodies(url)
            assert with_link_url(delivery.email, url) == delivery.outgoing()
            assert (delivery.outgoing().html, delivery.outgoing().text) == (html, text)
    finally:
        await pool.close()
        admin = await asyncpg.connect(stack.config.postgres_server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def test_emails_written_before_learn_their_customer_where_it_can_be_told(
    stack: Stack, tmp_path: Path
) -> None:
    name = f"notification_mig_{uuid.uuid4().hex[:10]}"
    await create_databases(stack.config.postgres_server_url, [name])
    pool = await asyncpg.create_pool(stack.postgres_dsn(name), min_size=1, max_size=2)
    migrations = resources.files("notification_service") / "migrations"
    before = tmp_path / "before"
    before.mkdir()
    for sql_name in (
        "001_notifications.sql",
        "002_link_url_apart.sql",
        "003_notifications_paged.sql",
    ):
        with resources.as_file(migrations / sql_name) as sql:
            shutil.copy(sql, before / sql_name)
    account, payer, ada, twin_a, twin_b = (uuid.uuid4() for _ in range(5))
    paid_charge, booking = uuid.uuid4(), uuid.uuid4()
    try:
        components = [("projections", projections.migrations())]
        await apply_migrations(pool, [*components, ("service", before)])
        customers = [
            (payer, "payer@x.com"),
            (ada, "Ada@x.com"),
            (twin_a, "shared@x.com"),
            (twin_b, "shared@x.com"),
        ]
        for customer_id, email in customers:
            await pool.execute(
                """INSERT INTO known_customers (customer_id, account_id, name, email, version)
                   VALUES ($1, $2, 'Someone', $3, 1)""",
                customer_id,
                account,
                email,
            )
        await pool.execute(
            """INSERT INTO known_bookings (booking_id, account_id, customer_id, title, starts_at,
                   amount, currency, amount_paid, balance_due, status, version)
               VALUES ($1, $2, $3, 'Paddle', now(), 100, 'usd', 100, 0, 'charged_in_full', 1)""",
            booking,
            account,
            payer,
        )
        await pool.execute(
            """INSERT INTO link_payments (charge_id, account_id, merchant_name, customer_name,
                   customer_email, booking_ids, amount, currency, stripe_payment_intent_id,
                   paid_at, admins, notified_at)
               VALUES ($1, $2, 'Kayaks', 'Payer', 'payer@x.com', $3, 100, 'usd', 'pi_1', now(),
                       '[]', now())""",
            paid_charge,
            account,
            [booking],
        )
        emails = {
            "admin": ("admin_link_paid", paid_charge, "boss@x.com"),
            "paid link": ("payment_link", paid_charge, "payer@x.com"),
            "ada": ("payment_link", uuid.uuid4(), "ada@X.com"),
            "shared": ("payment_link", uuid.uuid4(), "shared@x.com"),
            "stranger": ("payment_link", uuid.uuid4(), "nobody@x.com"),
        }
        for key, (kind, charge_id, recipient) in emails.items():
            await pool.execute(
                """INSERT INTO notifications (id, dedupe_key, kind, account_id, charge_id,
                       recipient, subject, html, text)
                   VALUES ($1, $2, $3, $4, $5, $6, 'Hi', '', '')""",
                uuid.uuid4(),
                key,
                kind,
                account,
                charge_id,
                recipient,
            )

        await apply_migrations(pool, [*components, ("service", migrations)])

        found = {
            r["dedupe_key"]: r["customer_id"]
            for r in await pool.fetch("SELECT dedupe_key, customer_id FROM notifications")
        }
        assert found == {
            "admin": payer,
            "paid link": payer,
            "ada": ada,
            "shared": None,
            "stranger": None,
        }
        kept = await pool.fetchval(
            "SELECT customer_id FROM link_payments WHERE charge_id = $1", paid_charge
        )
        assert kept == payer
    finally:
        await pool.close()
        admin = await asyncpg.connect(stack.config.postgres_server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
