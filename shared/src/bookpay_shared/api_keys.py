"""API keys in the Stripe manner: `bp_<mode>_<key id>_<secret>`, shown once, stored hashed.

The key id (a UUID, 32 hex digits in the key) is public: it finds the stored key. The secret is
256 random bits, so a plain SHA-256 of the whole key is enough to store it (a slow password hash
guards low-entropy secrets; this one cannot be guessed). booking-service issues and revokes
keys; it publishes each key's state (ApiKeyStateChanged: id, account, scopes, hash, revoked) on
the compacted `api-keys-state` topic, and every other service keeps a projection of it
(`known_api_keys`), so each verifies keys locally and keeps working while booking-service is
down. A revocation takes effect in a service once it has read the event (normally well under
a second).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from bookpay_shared.db import Connection, Pool
from bookpay_shared.events import ApiKeyStateChanged

KeyMode = Literal["live", "test"]
_KEY = re.compile(r"^bp_(live|test)_([0-9a-f]{32})_([0-9a-f]{64})$")


@dataclass(frozen=True)
class IssuedKey:
    key_id: uuid.UUID
    key: str
    """The secret key: shown once, to the one who asked for it, then never again."""

    @property
    def prefix(self) -> str:
        return key_prefix(self.key_id, self.mode)

    @property
    def mode(self) -> KeyMode:
        return "live" if self.key.startswith("bp_live_") else "test"

    @property
    def key_hash(self) -> str:
        return hash_key(self.key)


def issue_key(mode: KeyMode) -> IssuedKey:
    key_id = uuid.uuid4()
    return IssuedKey(key_id, f"{key_prefix(key_id, mode)}_{secrets.token_hex(32)}")


def key_prefix(key_id: uuid.UUID, mode: KeyMode) -> str:
    """The public part of a key, safe to show and log: `bp_test_<key id>`."""
    return f"bp_{mode}_{key_id.hex}"


def key_id_of(key: str) -> uuid.UUID | None:
    """The key id of something shaped like an API key, else None."""
    match = _KEY.match(key)
    return uuid.UUID(match.group(2)) if match else None


def key_mode_of(key: str) -> KeyMode | None:
    """`live` or `test` for something shaped like an API key, else None."""
    match = _KEY.match(key)
    return "live" if match and match.group(1) == "live" else "test" if match else None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class StoredKey:
    key_id: uuid.UUID
    account_id: uuid.UUID
    scopes: frozenset[str]
    key_hash: str
    revoked: bool


class KeyStore(Protocol):
    """Where a service finds keys: booking-service's own table, or another service's
    projection of `api-keys-state`."""

    async def find(self, key_id: uuid.UUID) -> StoredKey | None: ...

    async def record_use(self, key_id: uuid.UUID, at: datetime) -> None: ...


class UseThrottle:
    """Says when a key's use is worth recording: at most once per `every` per key (per
    process), so that verifying a key is not a database write on every request."""

    def __init__(self, every: timedelta = timedelta(minutes=1)) -> None:
        self.every = every
        self._last: dict[uuid.UUID, datetime] = {}

    def due(self, key_id: uuid.UUID, now: datetime) -> bool:
        last = self._last.get(key_id)
        if last is not None and now - last < self.every:
            return False
        if len(self._last) > 100_000:  # bounded: forget everything rather than grow forever
            self._last.clear()
        self._last[key_id] = now
        return True


# --- the projection of api-keys-state, for every service but booking-service -----------------


async def apply_key(conn: Connection, e: ApiKeyStateChanged) -> None:
    await conn.execute(
        """INSERT INTO known_api_keys (key_id, account_id, scopes, key_hash, revoked, version)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (key_id) DO UPDATE SET scopes = excluded.scopes,
               key_hash = excluded.key_hash, revoked = excluded.revoked,
               version = excluded.version
           WHERE known_api_keys.version < excluded.version""",
        e.key_id,
        e.account_id,
        sorted(e.scopes),
        e.key_hash,
        e.revoked,
        e.version,
    )


class ProjectedKeys:
    """A KeyStore on this service's projection of booking-service's keys. A subclass names
    another table through the two statements (booking-service: its own `api_keys`)."""

    FIND = """SELECT key_id, account_id, scopes, key_hash, revoked
              FROM known_api_keys WHERE key_id = $1"""
    RECORD_USE = "UPDATE known_api_keys SET last_used_at = $2 WHERE key_id = $1"

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def find(self, key_id: uuid.UUID) -> StoredKey | None:
        row = await self.pool.fetchrow(self.FIND, key_id)
        if row is None:
            return None
        return StoredKey(
            row["key_id"],
            row["account_id"],
            frozenset(row["scopes"]),
            row["key_hash"],
            row["revoked"],
        )

    async def record_use(self, key_id: uuid.UUID, at: datetime) -> None:
        await self.pool.execute(self.RECORD_USE, key_id, at)
