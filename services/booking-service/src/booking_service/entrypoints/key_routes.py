"""booking-service's HTTP API for API keys: create (the secret is in this answer only), list,
revoke. A key may create keys only with scopes it has itself."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from bookpay_shared.api_keys import KeyMode
from bookpay_shared.auth import ACCOUNT_SCOPES, Forbidden, Identity, Scope, authorized
from bookpay_shared.db import Pool
from bookpay_shared.pagination import DEFAULT_LIMIT, After, Cursor, Page, PageLimit
from bookpay_shared.text import Line
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from booking_service.entrypoints.routes import get_pool
from booking_service.usecases import keys

router = APIRouter(prefix="/v1/accounts/{account_id}/api-keys")


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))
    description: Line = Field(default="", max_length=200)


class KeyOut(BaseModel):
    key_id: uuid.UUID
    prefix: str
    """The key's public part (`bp_test_<key id>`), safe to show and log."""
    account_id: uuid.UUID
    scopes: list[str]
    description: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    """When booking-service last saw the key (recorded at most once a minute)."""

    @classmethod
    def of(cls, k: keys.ApiKey) -> KeyOut:
        return cls(
            key_id=k.key_id,
            prefix=k.prefix,
            account_id=k.account_id,
            scopes=list(k.scopes),
            description=k.description,
            created_by=k.created_by,
            created_at=k.created_at,
            revoked_at=k.revoked_at,
            last_used_at=k.last_used_at,
        )


class NewKeyOut(KeyOut):
    key: str
    """The secret key. It is shown this once: booking-service keeps only its hash."""


class KeysOut(BaseModel):
    api_keys: list[KeyOut]
    next_cursor: str | None = None
    """Pass as `cursor` for the next page; null on the last page."""


def key_mode(request: Request) -> KeyMode:
    return "live" if request.app.state.runtime.settings.environment == "production" else "test"


@router.post("", status_code=201)
async def create_key(
    account_id: uuid.UUID,
    body: KeyIn,
    caller: Annotated[Identity, authorized(Scope.KEYS_WRITE)],
    mode: Annotated[KeyMode, Depends(key_mode)],
    pool: Pool = Depends(get_pool),
) -> NewKeyOut:
    wanted = set(body.scopes)
    if not wanted <= ACCOUNT_SCOPES:
        raise Forbidden("an account's key cannot carry accounts:create")
    if not wanted <= caller.scopes:
        raise Forbidden("a key can be given only scopes its creator has")
    created, issued = await keys.create_key(
        pool,
        account_id,
        scopes=wanted,
        description=body.description,
        created_by=caller.subject,
        mode=mode,
    )
    return NewKeyOut(**KeyOut.of(created).model_dump(), key=issued.key)


@router.get("", dependencies=[authorized(Scope.READ)])
async def list_keys(
    account_id: uuid.UUID,
    after: After,
    limit: PageLimit = DEFAULT_LIMIT,
    pool: Pool = Depends(get_pool),
) -> KeysOut:
    """The account's keys, revoked ones too, newest first, `limit` a page; `next_cursor` for
    the next."""
    found = await keys.list_keys(pool, account_id, limit=limit + 1, after=after)
    page = Page.of(found, limit, lambda k: Cursor(k.created_at, k.key_id))
    return KeysOut(api_keys=[KeyOut.of(k) for k in page.items], next_cursor=page.next_cursor)


@router.delete("/{key_id}")
async def revoke_key(
    account_id: uuid.UUID,
    key_id: uuid.UUID,
    caller: Annotated[Identity, authorized(Scope.KEYS_WRITE)],
    pool: Pool = Depends(get_pool),
) -> KeyOut:
    """Revoke the key: booking-service refuses it at once, the other services once they have
    read the revocation from api-keys-state (normally within a second)."""
    return KeyOut.of(await keys.revoke_key(pool, account_id, key_id, revoked_by=caller.subject))
