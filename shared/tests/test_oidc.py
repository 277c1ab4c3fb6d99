"""An identity provider's tokens: what is accepted, what it may do, and everything refused.

The provider is a stand-in on 127.0.0.1: key pairs made here, its JWKS served over HTTP on an
ephemeral port (as a real provider serves it), and tokens signed with its private keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from bookpay_shared.auth import Authenticator, Identity, Scope, authorized
from bookpay_shared.http import install_error_handlers
from bookpay_shared.oidc import JwksKeys, JwtVerifier, OidcConfig
from bookpay_shared.settings import ServiceSettings
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pydantic import SecretStr, ValidationError

ISSUER = "https://id.example.test/"
AUDIENCE = "https://api.bookpay.test"
ACCOUNT = uuid.UUID("6f1c0e9a-7d3b-4e21-9a51-2c8d4f6b0e13")
OTHER = uuid.UUID(int=8)
PLATFORM_KEY = "bp_platform_0123456789abcdef0123456789abcdef"


class Provider:
    """Key pairs by key id, the ones its JWKS publishes, and the requests for it."""

    def __init__(self) -> None:
        self.rsa = {kid: rsa.generate_private_key(65537, 2048) for kid in ("k1", "k2", "rogue")}
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.published = ["k1", "e1"]
        self.extra: list[dict[str, Any]] = []
        self.jwks_requests = 0
        self.url = ""

    def jwks(self) -> dict[str, Any]:
        keys = [self._jwk(kid) for kid in self.published]
        return {"keys": keys + self.extra}

    def _jwk(self, kid: str) -> dict[str, Any]:
        if kid == "e1":
            jwk = ECAlgorithm.to_jwk(self.ec.public_key(), as_dict=True)
            return {**jwk, "kid": kid, "use": "sig", "alg": "ES256"}
        jwk = RSAAlgorithm.to_jwk(self.rsa[kid].public_key(), as_dict=True)
        return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}

    def public_pem(self, kid: str = "k1") -> bytes:
        return (
            self.rsa[kid]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def token(self, kid: str = "k1", *, signed_by: str | None = None, **changes: Any) -> str:
        """A token for ACCOUNT with read and charges:write, valid for five minutes; a claim
        given as None is left out."""
        claims = {**standard_claims(), **changes}
        claims = {
            name: int(time.time()) + value.seconds if isinstance(value, FromNow) else value
            for name, value in claims.items()
            if value is not None
        }
        if kid == "e1":
            return jwt.encode(claims, self.ec, algorithm="ES256", headers={"kid": kid})
        key = self.rsa[signed_by or kid]
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@dataclass(frozen=True)
class FromNow:
    """A time claim relative to when the token is made (parameters are made at collection,
    possibly minutes before the test runs)."""

    seconds: int


def standard_claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "jane@clinic",
        "iat": now,
        "exp": now + 300,
        "scope": "openid read charges:write",
        "bookpay_account_id": str(ACCOUNT),
    }


def hand_signed(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """A token put together by hand, as an attacker would: `secret` None leaves it unsigned."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{part(json.dumps(header).encode())}.{part(json.dumps(claims).encode())}"
    if secret is None:
        return f"{signing_input}."
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    idp = Provider()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            idp.jwks_requests += 1
            body = json.dumps(idp.jwks()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    idp.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    yield idp
    server.shutdown()
    server.server_close()


@pytest.fixture
def published(provider: Provider) -> Iterator[Provider]:
    """The provider with its usual keys published again after a test changes them."""
    yield provider
    provider.published = ["k1", "e1"]
    provider.extra = []


def config(provider: Provider, **changes: Any) -> OidcConfig:
    return OidcConfig(
        **{"issuer": ISSUER, "audience": AUDIENCE, "jwks_url": provider.url, **changes}
    )


def verifier(provider: Provider, **changes: Any) -> JwtVerifier:
    return JwtVerifier(config(provider, **changes))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# What is accepted, and what it may do


async def test_a_valid_token_is_its_subject_acting_for_its_account_with_its_scopes(
    provider: Provider,
) -> None:
    identity = await verifier(provider).verify(provider.token())

    assert identity == Identity(
        "oidc:jane@clinic", ACCOUNT, frozenset({Scope.READ, Scope.CHARGES_WRITE})
    )


async def test_an_es256_token_is_accepted_too(provider: Provider) -> None:
    identity = await verifier(provider).verify(provider.token("e1"))

    assert identity is not None and identity.account_id == ACCOUNT


async def test_an_accounts_token_never_gets_accounts_create_or_scopes_bookpay_does_not_know(
    provider: Provider,
) -> None:
    token = provider.token(scope="accounts:create read admin:everything keys:write")

    identity = await verifier(provider).verify(token)

    assert identity is not None
    assert identity.scopes == {Scope.READ, Scope.KEYS_WRITE}


async def test_the_account_can_come_from_a_claim_the_deployment_names(
    provider: Provider,
) -> None:
    token = provider.token(bookpay_account_id=None, tenant=str(OTHER))

    identity = await verifier(provider, account_claim="tenant").verify(token)

    assert identity is not None and identity.account_id == OTHER


async def test_a_token_without_an_account_is_a_platform_token_only_with_the_platform_role(
    provider: Provider,
) -> None:
    platform = verifier(provider, platform_role="bookpay-platform")
    token = provider.token(
        bookpay_account_id=None, roles=["staff", "bookpay-platform"], scope="accounts:create read"
    )

    identity = await platform.verify(token)

    assert identity == Identity(
        "oidc:jane@clinic", None, frozenset({Scope.ACCOUNTS_CREATE, Scope.READ})
    )
    assert await platform.verify(provider.token(bookpay_account_id=None, roles=["staff"])) is None
    # Without a platform role configured, no token acts for every account.
    assert await verifier(provider).verify(token) is None


async def test_a_platform_role_does_not_widen_a_token_that_names_an_account(
    provider: Provider,
) -> None:
    token = provider.token(roles=["bookpay-platform"], scope="accounts:create read")

    identity = await verifier(provider, platform_role="bookpay-platform").verify(token)

    assert identity is not None
    assert identity.account_id == ACCOUNT and identity.scopes == {Scope.READ}


# What is refused


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://evil.example.test/"},
        {"aud": "https://another-api.example.test"},
        {"exp": FromNow(-120)},
        {"nbf": FromNow(120)},
        {"exp": None},
        {"sub": None},
        {"sub": "x" * 300},
        {"sub": "jane\nforged log line"},
        {"bookpay_account_id": None},
        {"bookpay_account_id": "not-a-uuid"},
        {"bookpay_account_id": 42},
        {"scope": ["read"]},
    ],
    ids=[
        "wrong issuer",
        "wrong audience",
        "expired",
        "not yet valid",
        "no expiry",
        "no subject",
        "subject too long",
        "subject with a newline",
        "no account",
        "account not a uuid",
        "account not a string",
        "scope not a string",
    ],
)
async def test_a_token_with_the_wrong_claims_is_refused(
    provider: Provider, changes: dict[str, Any]
) -> None:
    assert await verifier(provider).verify(provider.token(**changes)) is None


async def test_clocks_that_disagree_by_seconds_are_forgiven(provider: Provider) -> None:
    token = provider.token(exp=int(time.time()) - 10)

    assert await verifier(provider).verify(token) is not None


async def test_a_token_signed_by_a_key_that_is_not_the_providers_is_refused(
    provider: Provider,
) -> None:
    forged = provider.token("k1", signed_by="rogue")
    good = provider.token()
    tampered_claims = base64.urlsafe_b64encode(
        json.dumps({**standard_claims(), "bookpay_account_id": str(OTHER)}).encode()
    )
    header, _, signature = good.split(".")
    tampered = f"{header}.{tampered_claims.rstrip(b'=').decode()}.{signature}"

    assert await verifier(provider).verify(forged) is None
    assert await verifier(provider).verify(tampered) is None


async def test_an_unsigned_token_is_refused(provider: Provider) -> None:
    token = hand_signed({"alg": "none", "typ": "JWT", "kid": "k1"}, standard_claims(), None)

    assert await verifier(provider).verify(token) is None


async def test_an_hmac_token_keyed_with_the_providers_public_key_is_refused(
    provider: Provider,
) -> None:
    header = {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    token = hand_signed(header, standard_claims(), provider.public_pem())

    assert await verifier(provider).verify(token) is None


async def test_a_symmetric_key_in_the_jwks_is_never_used(published: Provider) -> None:
    secret = b"a-shared-secret-that-is-long-enough-for-hs256"
    published.extra = [
        {
            "kty": "oct",
            "kid": "h1",
            "use": "sig",
            "alg": "HS256",
            "k": base64.urlsafe_b64encode(secret).rstrip(b"=").decode(),
        }
    ]
    token = hand_signed({"alg": "HS256", "kid": "h1"}, standard_claims(), secret)
    posing = hand_signed({"alg": "RS256", "kid": "h1"}, standard_claims(), secret)

    assert await verifier(published).verify(token) is None
    assert await verifier(published).verify(posing) is None
    assert await JwksKeys(published.url).key("h1") is None
    assert await JwksKeys(published.url).key("k1") is not None


async def test_a_token_naming_a_key_the_provider_does_not_have_is_refused(
    provider: Provider,
) -> None:
    token = provider.token("rogue")

    assert await verifier(provider).verify(token) is None


@pytest.mark.parametrize("token", ["nonsense", "a.b.c", "eyJhbGciOiJSUzI1NiJ9..", ""])
async def test_something_that_is_not_a_jwt_is_refused(provider: Provider, token: str) -> None:
    assert await verifier(provider).verify(token) is None


async def test_without_the_providers_keys_every_token_is_refused_not_an_error(
    provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = OidcConfig(ISSUER, AUDIENCE, "http://127.0.0.1:9/jwks.json")

    assert await JwtVerifier(unreachable).verify(provider.token()) is None
    assert "could not be read" in caplog.text


async def test_why_a_token_was_refused_is_logged_but_never_the_token(
    provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    token = provider.token(aud="https://another-api.example.test")

    with caplog.at_level(logging.INFO, logger="bookpay_shared.oidc"):
        await verifier(provider).verify(token)

    assert "audience" in caplog.text.lower()
    assert token not in caplog.text and token.split(".")[2] not in caplog.text


# The provider's keys: cached, refreshed when it rotates them, not fetched on demand


async def test_keys_are_fetched_once_and_kept(provider: Provider) -> None:
    before = provider.jwks_requests
    tokens = verifier(provider)

    for _ in range(5):
        assert await tokens.verify(provider.token()) is not None

    assert provider.jwks_requests == before + 1


async def test_a_rotated_key_is_fetched_when_a_token_first_names_it(published: Provider) -> None:
    clock = Clock()
    tokens = JwtVerifier(config(published), JwksKeys(published.url, cooldown=30, clock=clock))
    assert await tokens.verify(published.token("k1")) is not None

    published.published = ["k2"]  # the provider rotates: k1 retired, k2 signs from now on
    clock.now += 31
    identity = await tokens.verify(published.token("k2"))

    assert identity is not None and identity.account_id == ACCOUNT


async def test_made_up_key_ids_fetch_the_keys_at_most_once_per_cooldown(
    provider: Provider,
) -> None:
    clock = Clock()
    tokens = JwtVerifier(config(provider), JwksKeys(provider.url, cooldown=30, clock=clock))
    await tokens.verify(provider.token())
    before = provider.jwks_requests

    for _ in range(10):
        assert await tokens.verify(provider.token("rogue")) is None
    clock.now += 31
    assert await tokens.verify(provider.token("rogue")) is None

    assert provider.jwks_requests == before + 1


async def test_the_keys_are_read_again_when_they_are_old(provider: Provider) -> None:
    clock = Clock()
    tokens = JwtVerifier(config(provider), JwksKeys(provider.url, lifespan=300, clock=clock))
    await tokens.verify(provider.token())
    before = provider.jwks_requests

    clock.now += 301
    assert await tokens.verify(provider.token()) is not None

    assert provider.jwks_requests == before + 1


# Through a route, next to API keys and the platform key


class NoKeys:
    async def find(self, key_id: uuid.UUID) -> None:
        return None

    async def record_use(self, key_id: uuid.UUID, at: object) -> None:
        pass


def charges_app(provider: Provider) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.authenticator = Authenticator(
        NoKeys(), platform_key=PLATFORM_KEY, tokens=verifier(provider)
    )

    @app.post("/v1/accounts/{account_id}/charges")
    async def charge(
        account_id: uuid.UUID, caller: Identity = authorized(Scope.CHARGES_WRITE)
    ) -> dict[str, str]:
        return {"requested_by": caller.subject}

    return app


async def post_charge(
    provider: Provider, credential: str, account: uuid.UUID = ACCOUNT
) -> httpx.Response:
    transport = httpx.ASGITransport(app=charges_app(provider))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(
            f"/v1/accounts/{account}/charges", headers={"Authorization": f"Bearer {credential}"}
        )


async def test_a_route_takes_a_valid_token_and_records_its_subject(provider: Provider) -> None:
    answer = await post_charge(provider, provider.token())

    assert answer.status_code == 200
    assert answer.json() == {"requested_by": "oidc:jane@clinic"}


async def test_a_route_refuses_a_bad_token_as_unauthenticated(provider: Provider) -> None:
    answer = await post_charge(provider, provider.token(iss="https://evil.example.test/"))

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"


async def test_a_route_forbids_a_token_without_its_scope(provider: Provider) -> None:
    answer = await post_charge(provider, provider.token(scope="read"))

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"


async def test_a_token_for_another_account_finds_nothing(provider: Provider) -> None:
    answer = await post_charge(provider, provider.token(), account=OTHER)

    assert answer.status_code == 404


async def test_the_platform_key_still_works_next_to_tokens(provider: Provider) -> None:
    answer = await post_charge(provider, PLATFORM_KEY)

    assert answer.status_code == 200 and answer.json() == {"requested_by": "platform"}


# Settings: all three or none


def settings(**oidc: Any) -> ServiceSettings:
    return ServiceSettings(database_url=SecretStr("postgresql://x"), http_port=1, **oidc)


def test_without_oidc_settings_no_identity_provider_is_configured() -> None:
    assert settings().oidc_config() is None


def test_the_three_oidc_settings_configure_the_identity_provider() -> None:
    configured = settings(
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        oidc_jwks_url="https://id.example.test/jwks",
        oidc_platform_role="bookpay-platform",
    ).oidc_config()

    assert configured == OidcConfig(
        ISSUER, AUDIENCE, "https://id.example.test/jwks", platform_role="bookpay-platform"
    )


@pytest.mark.parametrize(
    "oidc",
    [
        {"oidc_issuer": ISSUER},
        {"oidc_issuer": ISSUER, "oidc_jwks_url": "https://id.example.test/jwks"},
        {"oidc_platform_role": "bookpay-platform"},
        {"oidc_issuer": ISSUER, "oidc_audience": AUDIENCE, "oidc_jwks_url": "file:///etc/x"},
    ],
)
def test_a_partial_or_odd_identity_provider_is_refused_at_start(oidc: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="OIDC"):
        settings(**oidc)


def test_production_reads_the_providers_keys_over_https_only() -> None:
    oidc = {"oidc_issuer": ISSUER, "oidc_audience": AUDIENCE}
    with pytest.raises(ValidationError, match="https"):
        ServiceSettings(
            environment="production",
            database_url=SecretStr("postgresql://x"),
            http_port=1,
            oidc_jwks_url="http://id.example.test/jwks",
            **oidc,
        )
    settings(oidc_jwks_url="http://127.0.0.1:8080/jwks", **oidc)  # fine while developing


def test_the_error_names_the_missing_settings_with_the_services_prefix() -> None:
    from charge_service.settings import ChargeSettings

    with pytest.raises(ValidationError, match="CHARGE_OIDC_AUDIENCE, CHARGE_OIDC_JWKS_URL"):
        ChargeSettings(
            database_url=SecretStr("postgresql://x"),
            stripe_secret_key=SecretStr("sk_test_x"),
            oidc_issuer=ISSUER,
        )
