"""API keys and the credential check, with an in-memory key store."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from bookpay_shared.api_keys import StoredKey, UseThrottle, hash_key, issue_key, key_id_of
from bookpay_shared.auth import (
    ACCOUNT_SCOPES,
    Authenticator,
    Forbidden,
    Identity,
    Scope,
    Unauthenticated,
    check_access,
    credential_of,
)
from bookpay_shared.http import NotFound
from bookpay_shared.settings import ServiceSettings
from pydantic import SecretStr, ValidationError

ACCOUNT = uuid.UUID(int=7)
OTHER = uuid.UUID(int=8)
PLATFORM = "bp_platform_0123456789abcdef0123456789abcdef"


class FakeKeys:
    def __init__(self) -> None:
        self.keys: dict[uuid.UUID, StoredKey] = {}
        self.uses: list[tuple[uuid.UUID, datetime]] = []

    def add(self, key: str, scopes: set[str], *, revoked: bool = False) -> None:
        key_id = key_id_of(key)
        assert key_id is not None
        self.keys[key_id] = StoredKey(key_id, ACCOUNT, frozenset(scopes), hash_key(key), revoked)

    async def find(self, key_id: uuid.UUID) -> StoredKey | None:
        return self.keys.get(key_id)

    async def record_use(self, key_id: uuid.UUID, at: datetime) -> None:
        self.uses.append((key_id, at))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2027, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_key_names_its_id_and_mode_and_holds_256_random_bits() -> None:
    issued = issue_key("test")

    assert issued.key.startswith(f"bp_test_{issued.key_id.hex}_")
    assert len(issued.key.rsplit("_", 1)[1]) == 64  # hex: 256 bits
    assert key_id_of(issued.key) == issued.key_id
    assert issued.prefix == f"bp_test_{issued.key_id.hex}"
    assert issue_key("live").key.startswith("bp_live_")
    assert issue_key("test").key != issue_key("test").key


def test_only_the_hash_is_kept_and_it_is_sha256_of_the_whole_key() -> None:
    issued = issue_key("test")

    assert issued.key_hash == hash_key(issued.key)
    assert len(issued.key_hash) == 64 and issued.key not in issued.key_hash


@pytest.mark.parametrize(
    "text", ["", "bp_test_nothex_00", "sk_test_123", f"bp_prod_{'a' * 32}_{'b' * 64}"]
)
def test_something_else_is_not_taken_for_a_key(text: str) -> None:
    assert key_id_of(text) is None


def test_the_credential_comes_from_bearer_or_from_a_basic_user_name() -> None:
    basic = base64.b64encode(b"bp_test_abc:").decode()

    assert credential_of("Bearer bp_test_abc") == "bp_test_abc"
    assert credential_of("bearer  bp_test_abc ") == "bp_test_abc"
    assert credential_of(f"Basic {basic}") == "bp_test_abc"
    assert credential_of("Basic !!!") is None
    assert credential_of("Token bp_test_abc") is None
    assert credential_of(None) is None
    assert credential_of("Bearer ") is None


async def test_a_valid_key_is_its_account_with_its_scopes_and_its_use_is_recorded() -> None:
    keys, clock = FakeKeys(), Clock()
    issued = issue_key("test")
    keys.add(issued.key, {"read", "charges:write"})
    auth = Authenticator(keys, clock=clock)

    identity = await auth.identify(f"Bearer {issued.key}")

    assert identity == Identity(
        f"key:{issued.key_id}", ACCOUNT, frozenset({"read", "charges:write"})
    )
    assert keys.uses == [(issued.key_id, clock.now)]


async def test_use_is_recorded_at_most_once_a_minute_per_key() -> None:
    keys, clock = FakeKeys(), Clock()
    issued = issue_key("test")
    keys.add(issued.key, {"read"})
    auth = Authenticator(keys, clock=clock)

    for _ in range(5):
        await auth.identify(f"Bearer {issued.key}")
    clock.now += timedelta(seconds=61)
    await auth.identify(f"Bearer {issued.key}")

    assert len(keys.uses) == 2


async def test_production_takes_only_live_keys_and_elsewhere_only_test_keys() -> None:
    keys = FakeKeys()
    test, live = issue_key("test"), issue_key("live")
    keys.add(test.key, {"read"})
    keys.add(live.key, {"read"})
    production, development = Authenticator(keys, live=True), Authenticator(keys)

    assert (await production.identify(f"Bearer {live.key}")).account_id == ACCOUNT
    assert (await development.identify(f"Bearer {test.key}")).account_id == ACCOUNT
    with pytest.raises(Unauthenticated, match="test API key is not accepted"):
        await production.identify(f"Bearer {test.key}")
    with pytest.raises(Unauthenticated, match="live API key is not accepted"):
        await development.identify(f"Bearer {live.key}")


async def test_a_missing_unknown_revoked_or_altered_key_is_unauthenticated() -> None:
    keys = FakeKeys()
    revoked, good = issue_key("test"), issue_key("test")
    keys.add(revoked.key, {"read"}, revoked=True)
    keys.add(good.key, {"read"})
    altered = good.key[:-1] + ("0" if good.key[-1] != "0" else "1")
    auth = Authenticator(keys, platform_key=PLATFORM)

    for header in (None, "Bearer nonsense", f"Bearer {issue_key('test').key}"):
        with pytest.raises(Unauthenticated):
            await auth.identify(header)
    with pytest.raises(Unauthenticated):
        await auth.identify(f"Bearer {revoked.key}")
    with pytest.raises(Unauthenticated):
        await auth.identify(f"Bearer {altered}")
    assert keys.uses == []


async def test_the_platform_key_acts_for_every_account_with_every_scope() -> None:
    auth = Authenticator(FakeKeys(), platform_key=PLATFORM)

    identity = await auth.identify(f"Bearer {PLATFORM}")

    assert identity.subject == "platform" and identity.account_id is None
    assert identity.scopes == frozenset(Scope)
    check_access(identity, Scope.ACCOUNTS_CREATE, None)
    check_access(identity, Scope.CHARGES_WRITE, str(OTHER))


async def test_without_a_platform_key_setting_there_is_no_platform_credential() -> None:
    with pytest.raises(Unauthenticated):
        await Authenticator(FakeKeys()).identify("Bearer ")


class FakeTokens:
    async def verify(self, token: str) -> Identity | None:
        return Identity("idp:jane", ACCOUNT, frozenset({"read"})) if token == "a.jwt.ok" else None


async def test_an_identity_providers_token_is_asked_of_its_verifier() -> None:
    auth = Authenticator(FakeKeys(), tokens=FakeTokens())

    assert (await auth.identify("Bearer a.jwt.ok")).subject == "idp:jane"
    with pytest.raises(Unauthenticated):
        await auth.identify("Bearer a.jwt.bad")


def test_another_accounts_resources_are_not_found_and_a_missing_scope_is_forbidden() -> None:
    key = Identity("key:x", ACCOUNT, frozenset({"read"}))

    check_access(key, Scope.READ, str(ACCOUNT))
    with pytest.raises(NotFound):
        check_access(key, Scope.READ, str(OTHER))
    with pytest.raises(NotFound):
        check_access(key, Scope.READ, "not-a-uuid")
    with pytest.raises(Forbidden):
        check_access(key, Scope.CHARGES_WRITE, str(ACCOUNT))
    with pytest.raises(Forbidden):
        check_access(Identity("key:y", ACCOUNT, ACCOUNT_SCOPES), Scope.ACCOUNTS_CREATE, None)


def test_throttle_forgets_nothing_within_the_interval() -> None:
    throttle, key, now = UseThrottle(), uuid.uuid4(), datetime(2027, 1, 1, tzinfo=UTC)

    assert throttle.due(key, now)
    assert not throttle.due(key, now + timedelta(seconds=59))
    assert throttle.due(key, now + timedelta(seconds=60))


@pytest.mark.parametrize("value", ["bp_platform_dev_local_only_0123456789abcdef", "short"])
def test_production_refuses_a_placeholder_or_short_platform_key(value: str) -> None:
    kafka = {
        "kafka_security_protocol": "SASL_SSL",
        "kafka_username": "charge-service",
        "kafka_password": SecretStr("Zr4kP9wLm2Qx7VbN5tHc"),
    }
    with pytest.raises(ValidationError, match="platform_key"):
        ServiceSettings(
            environment="production",
            database_url=SecretStr("postgresql://x"),
            http_port=1,
            platform_key=SecretStr(value),
            **kafka,
        )
    ServiceSettings(
        environment="production",
        database_url=SecretStr("postgresql://x"),
        http_port=1,
        platform_key=SecretStr(PLATFORM),
        **kafka,
    )
