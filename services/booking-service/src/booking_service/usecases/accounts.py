"""Creating and changing accounts. Each runs in one transaction and writes the account's new
state to the outbox in that same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bookpay_shared import outbox
from bookpay_shared.business import BusinessProfile
from bookpay_shared.db import Pool

from booking_service.adapters import repository as repo
from booking_service.domain.model import (
    Account,
    Admin,
    UnknownEntity,
)
from booking_service.usecases.states import account_state


async def create_account(
    pool: Pool,
    *,
    name: str,
    admins: list[Admin],
    notify: bool,
    business: BusinessProfile | None = None,
    send_receipts: bool = True,
) -> Account:
    account = Account(
        uuid.uuid4(),
        name,
        tuple(admins),
        notify,
        version=1,
        business=business or BusinessProfile(),
        send_receipts=send_receipts,
    )
    async with pool.acquire() as conn, conn.transaction():
        await repo.insert_account(conn, account)
        await outbox.enqueue(conn, account_state(account))
    return account


async def update_account(
    pool: Pool,
    account_id: uuid.UUID,
    *,
    name: str | None = None,
    admins: list[Admin] | None = None,
    notify: bool | None = None,
    business_changes: Mapping[str, Any] | None = None,
    send_receipts: bool | None = None,
) -> Account:
    """`business_changes`: the BusinessProfile fields to set (None clears an optional one)."""
    async with pool.acquire() as conn, conn.transaction():
        current = await repo.get_account(conn, account_id, for_update=True)
        if current is None:
            raise UnknownEntity(f"account {account_id} not found")
        account = replace(
            current,
            name=current.name if name is None else name,
            admins=current.admins if admins is None else tuple(admins),
            notify_admins_on_link_payment=(
                current.notify_admins_on_link_payment if notify is None else notify
            ),
            business=replace(current.business, **(business_changes or {})),
            send_receipts=current.send_receipts if send_receipts is None else send_receipts,
            version=current.version + 1,
        )
        await repo.update_account(conn, account)
        await outbox.enqueue(conn, account_state(account))
    return account
