"""Bearer tokens from an identity provider: OIDC access tokens (JWTs), the `TokenVerifier` a
deployment turns on with `<PREFIX>_OIDC_ISSUER`, `<PREFIX>_OIDC_AUDIENCE` and
`<PREFIX>_OIDC_JWKS_URL` (see `settings.py`). API keys and the platform key work without it.

A token is accepted only when

- it is signed with RS256 or ES256 by a key of the provider's JWKS, found by the token's `kid`:
  never `alg: none`, never an HMAC algorithm (its "secret" would be a public key);
- its `iss` is the issuer and its `aud` names the audience;
- it has not expired and is already valid (`exp`, `nbf`, `iat`, with `LEEWAY_SECONDS` for
  clocks that disagree a little), and it names its subject (`sub`).

Its claims become an `Identity`:

- subject `oidc:<sub>` (what histories record as who acted);
- account: the UUID in the account claim (`bookpay_account_id` unless configured). A token
  without one acts for every account only if the platform role is configured and the token's
  roles claim holds it; any other token without an account is refused;
- scopes: the `scope` claim (space-separated, as RFC 9068 has it), keeping only scopes bookpay
  knows; an account's token never gets `accounts:create`, whatever it claims.

A token that fails any check is answered None (so 401), never an error; the reason is logged at
INFO, the token never.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from jwt import PyJWK, PyJWKClient, PyJWTError

from bookpay_shared.auth import ACCOUNT_SCOPES, Identity, Scope

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256")
"""Asymmetric signatures only: a key from the JWKS can verify a token, never sign one."""
LEEWAY_SECONDS = 30.0
MAX_SUBJECT_LENGTH = 200
"""A subject is recorded as who acted (a charge's `requested_by` holds at most 200 characters)."""
DEFAULT_ACCOUNT_CLAIM = "bookpay_account_id"
DEFAULT_ROLES_CLAIM = "roles"

_SCOPES = frozenset(scope.value for scope in Scope)
_ACCOUNT_SCOPES = frozenset(scope.value for scope in ACCOUNT_SCOPES)


@dataclass(frozen=True)
class OidcConfig:
    """Which identity provider's tokens to accept, and how their claims name an account."""

    issuer: str
    audience: str
    jwks_url: str
    account_claim: str = DEFAULT_ACCOUNT_CLAIM
    platform_role: str = ""
    """The role that makes a token without an account a platform token; empty: none is."""
    roles_claim: str = DEFAULT_ROLES_CLAIM


class Refused(Exception):
    """Why a token is not accepted (its text is logged: it never holds the token)."""


class SigningKeys(Protocol):
    """The identity provider's public keys, by key id."""

    async def key(self, kid: str) -> PyJWK | None: ...


class JwksKeys:
    """The provider's signing keys, read from its JWKS URL.

    The set is fetched in a worker thread (PyJWKClient's HTTP call blocks; the event loop must
    not), kept for `lifespan` seconds, and fetched again at once when a token names a key id it
    does not hold, as after the provider rotated its keys. Fetches are at most one every
    `cooldown` seconds, so tokens with made-up key ids cannot make the service hammer the
    provider, and a failed fetch keeps the keys already known. Keys for algorithms other than
    `ALGORITHMS` (a symmetric `oct` key, say) are ignored."""

    def __init__(
        self,
        url: str,
        *,
        lifespan: float = 300.0,
        cooldown: float = 30.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=timeout)
        self._lifespan = lifespan
        self._cooldown = cooldown
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._fetching = asyncio.Lock()

    async def key(self, kid: str) -> PyJWK | None:
        if self._wants_fetch(kid):
            async with self._fetching:
                if self._wants_fetch(kid):  # not if a request ahead of this one just fetched
                    await self._fetch()
        return self._keys.get(kid)

    def _wants_fetch(self, kid: str) -> bool:
        now = self._clock()
        if self._tried_at is not None and now - self._tried_at < self._cooldown:
            return False
        stale = self._fetched_at is None or now - self._fetched_at >= self._lifespan
        return stale or kid not in self._keys

    async def _fetch(self) -> None:
        self._tried_at = self._clock()
        try:
            keys = await asyncio.to_thread(self._client.get_signing_keys, True)
        except (PyJWTError, ValueError, OSError) as error:
            log.warning(
                "the identity provider's keys could not be read from %s: %s", self.url, error
            )
            return
        self._keys = {k.key_id: k for k in keys if k.key_id and k.algorithm_name in ALGORITHMS}
        self._fetched_at = self._tried_at


class JwtVerifier:
    """A `TokenVerifier` for one identity provider's JWT access tokens."""

    def __init__(
        self,
        config: OidcConfig,
        keys: SigningKeys | None = None,
        *,
        leeway: float = LEEWAY_SECONDS,
    ) -> None:
        self.config = config
        self.keys = keys if keys is not None else JwksKeys(config.jwks_url)
        self.leeway = leeway

    async def verify(self, token: str) -> Identity | None:
        try:
            return identity_of(await self._claims(token), self.config)
        except (PyJWTError, Refused, ValueError, TypeError) as error:
            log.info("bearer token refused: %s", error)
            return None

    async def _claims(self, token: str) -> dict[str, Any]:
        header = jwt.get_unverified_header(token)
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALGORITHMS:
            raise Refused(f"the algorithm {str(algorithm)[:20]!r} is not accepted")
        if not isinstance(kid, str) or not kid:
            raise Refused("the token names no key id (kid)")
        key = await self.keys.key(kid)
        if key is None:
            raise Refused(f"the identity provider has no key {kid[:64]!r}")
        return jwt.decode(
            token,
            key,
            algorithms=list(ALGORITHMS),
            audience=self.config.audience,
            issuer=self.config.issuer,
            leeway=self.leeway,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )


def identity_of(claims: Mapping[str, Any], config: OidcConfig) -> Identity:
    """The Identity a verified token's claims give, or Refused."""
    subject = f"oidc:{_subject(claims.get('sub'))}"
    scopes = _scopes(claims.get("scope", ""))
    account = claims.get(config.account_claim)
    if account is not None:
        return Identity(
            subject, _account_id(account, config.account_claim), scopes & _ACCOUNT_SCOPES
        )
    if _has_role(claims.get(config.roles_claim), config.platform_role):
        return Identity(subject, None, scopes)
    raise Refused(f"the token has no {config.account_claim!r} claim and is not a platform token")


def _subject(sub: object) -> str:
    if not isinstance(sub, str) or not sub.strip():
        raise Refused("the token names no subject (sub)")
    if not sub.isprintable():
        raise Refused("the token's subject (sub) holds control characters")
    if len("oidc:") + len(sub) > MAX_SUBJECT_LENGTH:
        raise Refused("the token's subject (sub) is too long")
    return sub


def _scopes(scope: object) -> frozenset[str]:
    if not isinstance(scope, str):
        raise Refused("the token's scope claim is not a space-separated string")
    return frozenset(scope.split()) & _SCOPES


def _account_id(value: object, claim: str) -> uuid.UUID:
    try:
        if isinstance(value, str):
            return uuid.UUID(value)
    except ValueError:
        pass
    raise Refused(f"the token's {claim!r} claim is not an account id")


def _has_role(roles: object, role: str) -> bool:
    if not role:
        return False
    if isinstance(roles, str):
        return role in roles.split()
    return isinstance(roles, list) and role in roles
