"""Link tokens and CSRF tokens.

A link token is 256 random bits (43 URL-safe characters). Only its SHA-256 is stored: a fast
hash is enough for a value that cannot be guessed, and it lets the page find the link by an
indexed lookup. A resend rotates the token (the old URL stops working), so no token is ever
kept in a readable form.

The payment page's POSTs carry a CSRF token: an HMAC, under a server secret, of the link and
of a random value kept in a SameSite cookie (double submit, bound to the link).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid

TOKEN_BYTES = 32
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_COOKIE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


def looks_like_token(value: str) -> bool:
    """Cheap shape check before any database lookup."""
    return bool(_TOKEN_SHAPE.match(value))


def new_csrf_cookie() -> str:
    return secrets.token_urlsafe(24)


def valid_csrf_cookie(value: str | None) -> bool:
    return value is not None and bool(_COOKIE_SHAPE.match(value))


def csrf_token(secret: bytes, link_id: uuid.UUID, cookie: str) -> str:
    return hmac.new(secret, f"pay:{link_id}:{cookie}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, link_id: uuid.UUID, cookie: str | None, sent: str | None) -> bool:
    if not valid_csrf_cookie(cookie) or not sent:
        return False
    assert cookie is not None
    return hmac.compare_digest(csrf_token(secret, link_id, cookie), sent)
