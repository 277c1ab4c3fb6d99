"""An account's receipts setting on real PostgreSQL: on by default, turned off and on again,
kept by changes that do not name it, and told to other services in AccountStateChanged."""

from __future__ import annotations

import json
import uuid
from importlib import resources
from pathlib import Path

import asyncpg
import pytest
from booking_service.adapters import repository as repo
from booking_service.domain.model import Admin
from booking_service.usecases import accounts
from bookpay_devstack.postgres import create_databases
from bookpay_devstack.stack import Stack
from bookpay_shared.db import Pool, apply_migrations
from bookpay_shared.events import AccountStateChanged

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ADMINS = [Admin(name="Grace", email="grace@example.com")]


async def published(pool: Pool, account_id: uuid.UUID) -> list[AccountStateChanged]:
    """The account's state events in the outbox, oldest first."""
    rows = await pool.fetch(
        """SELECT payload FROM outbox WHERE event_type = 'AccountStateChanged'
           AND message_key = $1 ORDER BY id""",
        str(account_id),
    )
    return [AccountStateChanged.model_validate(json.loads(r["payload"])) for r in rows]


async def stored(pool: Pool, account_id: uuid.UUID) -> bool:
    async with pool.acquire() as conn:
        account = await repo.get_account(conn, account_id)
    assert account is not None
    return account.send_receipts


async def test_an_account_sends_receipts_unless_told_otherwise(pool: Pool) -> None:
    account = await accounts.create_account(pool, name="Harbour", admins=ADMINS, notify=True)

    assert await stored(pool, account.id) is True
    [state] = await published(pool, account.id)
    assert state.send_receipts is True


async def test_receipts_turned_off_are_stored_and_published(pool: Pool) -> None:
    account = await accounts.create_account(
        pool, name="Harbour", admins=ADMINS, notify=True, send_receipts=False
    )
    assert await stored(pool, account.id) is False

    await accounts.update_account(pool, account.id, send_receipts=True)
    await accounts.update_account(pool, account.id, send_receipts=False)

    assert await stored(pool, account.id) is False
    states = await published(pool, account.id)
    assert [(s.version, s.send_receipts) for s in states] == [(1, False), (2, True), (3, False)]


async def test_a_change_that_does_not_name_receipts_keeps_the_setting(pool: Pool) -> None:
    account = await accounts.create_account(
        pool, name="Harbour", admins=ADMINS, notify=True, send_receipts=False
    )

    await accounts.update_account(pool, account.id, name="Harbour Kayak Tours", notify=False)

    assert await stored(pool, account.id) is False
    latest = (await published(pool, account.id))[-1]
    assert (latest.name, latest.notify_admins_on_link_payment) == ("Harbour Kayak Tours", False)
    assert latest.send_receipts is False


async def test_accounts_made_before_the_setting_send_receipts(stack: Stack, tmp_path: Path) -> None:
    name = f"booking_mig_{uuid.uuid4().hex[:10]}"
    await create_databases(stack.config.postgres_server_url, [name])
    db: Pool = await asyncpg.create_pool(stack.postgres_dsn(name), min_size=1, max_size=2)
    migrations = resources.files("booking_service") / "migrations"
    before = tmp_path / "before"
    before.mkdir()
    for sql in migrations.iterdir():
        if sql.name.endswith(".sql") and sql.name < "006":
            (before / sql.name).write_text(sql.read_text())
    try:
        await apply_migrations(db, [("service", before)])
        account_id = uuid.uuid4()
        await db.execute(
            "INSERT INTO accounts (id, name, notify_admins_on_link_payment, version) "
            "VALUES ($1, 'Old', true, 1)",
            account_id,
        )
        await apply_migrations(db, [("service", migrations)])
        assert await stored(db, account_id) is True
    finally:
        await db.close()
        admin = await asyncpg.connect(stack.config.postgres_server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
