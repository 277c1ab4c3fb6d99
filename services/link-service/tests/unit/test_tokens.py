import uuid

from link_service.domain.tokens import (
    csrf_ok,
    csrf_token,
    looks_like_token,
    new_csrf_cookie,
    new_token,
    token_hash,
)

SECRET = b"test-secret"


def test_tokens_are_256_random_bits_and_only_their_hash_is_kept() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    token = tokens.pop()
    assert len(token) == 43 and looks_like_token(token)
    assert token_hash(token) == token_hash(token)
    assert len(token_hash(token)) == 32
    assert token.encode() not in token_hash(token)


def test_only_well_formed_tokens_are_looked_up() -> None:
    assert not looks_like_token("short")
    assert not looks_like_token("a" * 44)
    assert not looks_like_token("a" * 42 + "/")
    assert not looks_like_token("a" * 42 + "\n")


def test_csrf_tokens_bind_the_link_and_the_cookie() -> None:
    link, cookie = uuid.uuid4(), new_csrf_cookie()
    token = csrf_token(SECRET, link, cookie)
    assert csrf_ok(SECRET, link, cookie, token)
    assert not csrf_ok(SECRET, uuid.uuid4(), cookie, token)
    assert not csrf_ok(SECRET, link, new_csrf_cookie(), token)
    assert not csrf_ok(b"other-secret", link, cookie, token)
    assert not csrf_ok(SECRET, link, None, token)
    assert not csrf_ok(SECRET, link, cookie, None)
    assert not csrf_ok(SECRET, link, "bad cookie!", csrf_token(SECRET, link, "bad cookie!"))
