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
from notification_service import repository as repo
from notification_service.domain import with_link_url

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
