"""Who is calling, and may they: credentials for every staff and service route.

A request carries a credential in `Authorization: Bearer <credential>` (or, as Stripe
accepts it and browsers remember it, `Authorization: Basic` with the credential as the user name
and no password). A credential is either

- an **API key** of one account (`bp_test_…`/`bp_live_…`, see `api_keys.py`) with scopes, or
- the service's **platform key** (the `<PREFIX>_PLATFORM_KEY` setting), which acts for every
  account with every scope, and alone may create accounts, or
- a **bearer token from an identity provider**, when a deployment plugs a `TokenVerifier` in
  (claims → account and scopes): `oidc.JwtVerifier`, configured by the `<PREFIX>_OIDC_…`
  settings.

Routes declare what they need with one dependency, `authorized(scope)`: it answers 401
`unauthenticated` without a valid credential, 404 `not_found` when the path's `{account_id}`
is not the credential's account (whether the account exists is not revealed), and 403
`forbidden` when the credential lacks the scope. Routes that record who acted take the
`Identity` it returns (`identity.subject`: `key:<key id>`, `platform` or the token's subject).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bookpay_shared.api_keys import (
    KeyMode,
    KeyStore,
    UseThrottle,
    hash_key,
    key_id_of,
    key_mode_of,
)
from bookpay_shared.events import utcnow
from bookpay_shared.http import ApiError, NotFound

log = logging.getLogger(__name__)


class Scope(StrEnum):
    """What a credential may do. Reading needs `read`; each kind of change its own scope."""

    READ = "read"
    """Read accounts, customers, bookings, cards, charges, links, emails (and preview one)
    and the list of keys."""
    ACCOUNTS_WRITE = "accounts:write"
    """Change the account's settings and administrators, and its Stripe connection."""
    BOOKINGS_WRITE = "bookings:write"
    """Create customers and bookings."""
    CARDS_WRITE = "cards:write"
    """Save, remove and choose the default card of a customer."""
    CHARGES_WRITE = "charges:write"
    """Ask for charges (any method), try another card, open the card-entry page."""
    LINKS_WRITE = "links:write"
    """Cancel and resend payment links, set the link expiry."""
    KEYS_WRITE = "keys:write"
    """Create and revoke the account's API keys (only with scopes the caller has itself)."""
    ACCOUNTS_CREATE = "accounts:create"
    """Create accounts: platform credentials only, never an account's key."""


ACCOUNT_SCOPES = frozenset(Scope) - {Scope.ACCOUNTS_CREATE}
"""The scopes an account's key may carry."""


@dataclass(frozen=True)
class Identity:
    subject: str
    """Who acts, as recorded in histories: `key:<key id>`, `platform`, or a token's subject."""
    account_id: uuid.UUID | None
    """The one account this credential acts for; None for a platform credential (every one)."""
    scopes: frozenset[str]

    def acts_for(self, account_id: uuid.UUID | None) -> bool:
        return self.account_id is None or self.account_id == account_id


class Unauthenticated(ApiError):
    status_code = 401
    code = "unauthenticated"
    headers = {"WWW-Authenticate": 'Basic realm="bookpay", charset="UTF-8"'}


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class TokenVerifier(Protocol):
    """An identity provider's tokens (e.g. OIDC access tokens, verified against its JWKS)."""

    async def verify(self, token: str) -> Identity | None:
        """The token's identity, or None if it is not valid."""
        ...


class Authenticator:
    """Turns an `Authorization` header into an Identity, or refuses it."""

    def __init__(
        self,
        keys: KeyStore,
        *,
        platform_key: str = "",
        tokens: TokenVerifier | None = None,
        clock: Callable[[], datetime] = utcnow,
        live: bool = False,
    ) -> None:
        """`live`: production, where only `bp_live_` keys are accepted (a `bp_test_` key is
        refused even if its hash is known); elsewhere only `bp_test_` keys."""
        self.keys = keys
        self._mode: KeyMode = "live" if live else "test"
        self._platform_hash = hash_key(platform_key) if platform_key else ""
        self.tokens = tokens
        self.clock = clock
        self.throttle = UseThrottle()

    async def identify(self, authorization: str | None) -> Identity:
        credential = credential_of(authorization)
        if credential is None:
            raise Unauthenticated("an API key is required: Authorization: Bearer <key>")
        mode = key_mode_of(credential)
        if mode is not None and mode != self._mode:
            raise Unauthenticated(
                f"a {mode} API key is not accepted here: this deployment takes {self._mode} keys"
            )
        identity = await self._verify(credential)
        if identity is None:
            raise Unauthenticated(
                "the credential is not valid (an unknown, revoked or mistyped key, or an "
                "expired or refused token)"
                if self.tokens is not None
                else "the API key is not valid (unknown, revoked or mistyped)"
            )
        return identity

    async def _verify(self, credential: str) -> Identity | None:
        key_id = key_id_of(credential)
        if key_id is not None:
            return await self._verify_key(key_id, credential)
        if self._platform_hash and hmac.compare_digest(hash_key(credential), self._platform_hash):
            return Identity("platform", None, frozenset(Scope))
        if self.tokens is not None:
            return await self.tokens.verify(credential)
        return None

    async def _verify_key(self, key_id: uuid.UUID, credential: str) -> Identity | None:
        stored = await self.keys.find(key_id)
        if stored is None or stored.revoked:
            return None
        if not hmac.compare_digest(hash_key(credential), stored.key_hash):
            return None
        now = self.clock()
        if self.throttle.due(key_id, now):
            await self.keys.record_use(key_id, now)
        return Identity(f"key:{key_id}", stored.account_id, stored.scopes)


def credential_of(authorization: str | None) -> str | None:
    """The credential in an Authorization header: `Bearer <credential>`, or `Basic` with the
    credential as the user name (password empty)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return None


def check_access(identity: Identity, scope: Scope, account: str | None) -> None:
    """Refuse `identity` for `scope` on the path's account (None: not an account's route)."""
    if account is not None and not identity.acts_for(_uuid(account)):
        # Another account's resources: answered as if they did not exist.
        raise NotFound("not found")
    if account is None and identity.account_id is not None and scope is Scope.ACCOUNTS_CREATE:
        raise Forbidden("only a platform credential may do this")
    if scope not in identity.scopes:
        raise Forbidden(f"this credential lacks the scope {scope.value!r}")


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


_bearer = HTTPBearer(
    auto_error=False,
    description="An API key (`bp_test_…`), the platform key, or an identity provider's token "
    "where one is configured",
)


def authorized(scope: Scope) -> Any:
    """The dependency that lets a request through only with a credential that acts for the
    path's `{account_id}` and has `scope`; it gives the route the caller's Identity."""

    async def caller(
        request: Request,
        # For the OpenAPI document: the security scheme, with the scope this route needs.
        _: HTTPAuthorizationCredentials | None = Security(_bearer, scopes=[scope.value]),
    ) -> Identity:
        authenticator: Authenticator = request.app.state.authenticator
        identity = await authenticator.identify(request.headers.get("authorization"))
        check_access(identity, scope, request.path_params.get("account_id"))
        return identity

    return Depends(caller)
