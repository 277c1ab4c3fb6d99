"""API keys: booking-service issues and revokes them, and publishes each change on
api-keys-state (through the outbox, in the same transaction) so that every service verifies
keys on its own. See bookpay_shared.api_keys for the key's format and storage."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bookpay_shared import outbox
from bookpay_shared.api_keys import IssuedKey, KeyMode, ProjectedKeys, issue_key, key_prefix
from bookpay_shared.db import Connection, Pool
from bookpay_shared.events import ApiKeyStateChanged
from bookpay_shared.pagination import START, Cursor

from booking_service.adapters import repository as repo


class UnknownKey(LookupError):
    """No such key in this account."""


@dataclass(frozen=True)
class ApiKey:
    key_id: uuid.UUID
    account_id: uuid.UUID
    mode: KeyMode
    scopes: tuple[str, ...]
    description: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def prefix(self) -> str:
        return key_prefix(self.key_id, self.mode)


async def create_key(
    pool: Pool,
    account_id: uuid.UUID,
    *,
    scopes: Iterable[str],
    description: str,
    created_by: str,
    mode: KeyMode,
) -> tuple[ApiKey, IssuedKey]:
    """A new key for the account; the IssuedKey holds the secret, which is not kept."""
    issued = issue_key(mode)
    async with pool.acquire() as conn, conn.transaction():
        if await repo.get_account(conn, account_id) is None:
            raise UnknownKey(f"account {account_id} not found")
        row = await conn.fetchrow(
            """INSERT INTO api_keys (key_id, account_id, mode, scopes, key_hash, description,
                   created_by, version)
               VALUES ($1, $2, $3, $4, $5, $6, $7, 1) RETURNING *""",
            issued.key_id,
            account_id,
            mode,
            sorted(set(scopes)),
            issued.key_hash,
            description,
            created_by,
        )
        await outbox.enqueue(conn, _state(row))
    return _key(row), issued


async def revoke_key(
    pool: Pool, account_id: uuid.UUID, key_id: uuid.UUID, *, revoked_by: str
) -> ApiKey:
    """Revoke the key (again: nothing changes)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """UPDATE api_keys SET revoked_at = now(), revoked_by = $3, version = version + 1
               WHERE key_id = $1 AND account_id = $2 AND revoked_at IS NULL RETURNING *""",
            key_id,
            account_id,
            revoked_by,
        )
        if row is not None:
            await outbox.enqueue(conn, _state(row))
            return _key(row)
        return await _get(conn, account_id, key_id)


async def list_keys(
    pool: Pool, account_id: uuid.UUID, *, limit: int, after: Cursor = START
) -> list[ApiKey]:
    """The account's keys, revoked ones too, newest first from the key after `after` (see
    bookpay_shared.pagination)."""
    rows = await pool.fetch(
        """SELECT * FROM api_keys
           WHERE account_id = $1 AND (created_at, key_id) < ($3, $4)
           ORDER BY created_at DESC, key_id DESC LIMIT $2""",
        account_id,
        limit,
        after.created_at,
        after.id,
    )
    return [_key(r) for r in rows]


async def _get(conn: Connection, account_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    row = await conn.fetchrow(
        "SELECT * FROM api_keys WHERE key_id = $1 AND account_id = $2", key_id, account_id
    )
    if row is None:
        raise UnknownKey(f"key {key_id} not found in account {account_id}")
    return _key(row)


class OwnKeys(ProjectedKeys):
    """booking-service verifies keys on its own table: a revocation counts at once here."""

    FIND = """SELECT key_id, account_id, scopes, key_hash, revoked_at IS NOT NULL AS revoked
              FROM api_keys WHERE key_id = $1"""
    RECORD_USE = "UPDATE api_keys SET last_used_at = $2 WHERE key_id = $1"


def _key(row: repo.Row) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        account_id=row["account_id"],
        mode=row["mode"],
        scopes=tuple(row["scopes"]),
        description=row["description"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


def _state(row: repo.Row) -> ApiKeyStateChanged:
    return ApiKeyStateChanged(
        correlation_id=row["key_id"],
        key_id=row["key_id"],
        account_id=row["account_id"],
        scopes=list(row["scopes"]),
        key_hash=row["key_hash"],
        revoked=row["revoked_at"] is not None,
        version=row["version"],
    )
