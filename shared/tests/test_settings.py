"""Production refuses development defaults and placeholder secrets, whatever their text, and
no settings object shows a secret."""

from __future__ import annotations

import logging
import secrets

import pytest
from bookpay_shared.logs import RedactingFormatter, redact
from bookpay_shared.settings import (
    DEVELOPMENT_SECRETS,
    placeholder_problem,
    refuse_placeholder,
)
from pydantic import SecretStr

# Secrets that look real to the checks, made afresh for each run: no key-shaped value is kept
# in the repository (hex digits never spell a placeholder marker).
REAL = "sk_" + "live_" + secrets.token_hex(12)
WEBHOOK_SECRET = "whsec_" + secrets.token_hex(12)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "short-but-rand",  # under 16 characters
        "whsec_dev_bookpay_local_only",
        "sk_test_bookpay_local_only",
        "sk_test_compose_local_only",
        "bookpay_dev_only",
        "changeme-changeme-changeme",
        "PLACEHOLDER_FOR_THE_REAL_KEY",
        "my-webhook-secret-goes-here",
        "example-example-example",
        *sorted(DEVELOPMENT_SECRETS),
    ],
)
def test_production_refuses_placeholders_whatever_their_text(value: str) -> None:
    assert placeholder_problem(value) is not None
    with pytest.raises(ValueError, match="stripe_secret_key") as refused:
        refuse_placeholder(SecretStr(value), "stripe_secret_key", "production")
    if value.strip():
        assert value not in str(refused.value)  # the error names the setting, not the value


def test_a_real_looking_secret_passes_and_development_takes_anything() -> None:
    refuse_placeholder(SecretStr(REAL), "stripe_secret_key", "production")
    refuse_placeholder(SecretStr("whsec_dev_bookpay_local_only"), "x", "development")
    refuse_placeholder(SecretStr(""), "x", "test")
    with pytest.raises(ValueError, match="not set"):
        refuse_placeholder(None, "smtp_password", "production")


def test_every_service_refuses_the_development_stack_in_production() -> None:
    from bookpay_devstack.config import StackConfig
    from charge_service.settings import ChargeSettings
    from link_service.settings import LinkSettings
    from pydantic import ValidationError

    dev = StackConfig()
    db = "postgresql://bookpay:Vt8w2QmZ4nLp@db.internal:5432/charge"
    kafka = {
        "kafka_security_protocol": "SASL_SSL",
        "kafka_username": "charge-service",
        "kafka_password": "Zr4kP9wLm2Qx7VbN5tHc",
    }
    charge = {
        **kafka,
        "environment": "production",
        "database_url": db,
        "stripe_secret_key": REAL,
        "stripe_webhook_secret": WEBHOOK_SECRET,
    }
    assert ChargeSettings.model_validate(charge).webhook_http_port == 8102
    ChargeSettings.model_validate(
        {
            **charge,
            "platform_key": "bp_platform_q8Vn2LrT5wXz9KpB4mJc7HsD3fGk6NaQ",
        }
    )
    for changed in (
        {"stripe_secret_key": dev.stripe_api_key},
        {"stripe_webhook_secret": dev.stripe_webhook_secret},
        {"stripe_webhook_secret": ""},
        {"database_url": f"postgresql://bookpay:{dev.postgres_password}@db:5432/charge"},
        {"platform_key": dev.platform_key},
        {"platform_key": "bp_platform_q8Vn2LrT5wXz9KpB"},  # under 32 characters
        {"kafka_password": dev.kafka_password("charge-service")},
        {"stripe_webhook_tolerance_seconds": 0},
        {"stripe_webhook_tolerance_seconds": 3600},
    ):
        with pytest.raises(ValidationError) as refused:
            ChargeSettings.model_validate({**charge, **changed})
        for secret in changed.values():
            assert not isinstance(secret, str) or not secret or secret not in str(refused.value)
    with pytest.raises(ValidationError, match="PLAINTEXT"):  # no broker credentials at all
        ChargeSettings.model_validate({**charge, "kafka_security_protocol": "PLAINTEXT"})
    link = {
        **kafka,
        "environment": "production",
        "database_url": db,
        "stripe_secret_key": REAL,
        "stripe_publishable_key": "pk_" + "live_" + secrets.token_hex(12),
        "public_base_url": "https://pay.example.com",
    }
    with pytest.raises(ValidationError, match="csrf_secret"):
        LinkSettings.model_validate(link)  # its development default
    LinkSettings.model_validate({**link, "csrf_secret": "q8Vn2LrT5wXz9KpB4mJc"})


def test_settings_reprs_show_no_secret() -> None:
    from charge_service.settings import ChargeSettings

    settings = ChargeSettings.model_validate(
        {
            "database_url": "postgresql://bookpay:Vt8w2QmZ4nLp@db:5432/charge",
            "stripe_secret_key": REAL,
            "stripe_webhook_secret": WEBHOOK_SECRET,
        }
    )
    shown = repr(settings) + str(settings) + repr(settings.model_dump())
    for secret in (REAL, WEBHOOK_SECRET, "Vt8w2QmZ4nLp"):
        assert secret not in shown


def test_deps_reprs_show_no_webhook_secret() -> None:
    from charge_service.usecases.deps import Deps

    deps = Deps(stripe=None, faults=None, webhook_secret=WEBHOOK_SECRET)  # type: ignore[arg-type]
    assert WEBHOOK_SECRET not in repr(deps)


def test_logs_never_show_a_link_token_or_a_stripe_secret() -> None:
    token = "Qm9vS2luZ1Bhe-_0123456789abcdefghijklmnopq"
    record = logging.LogRecord(
        "x",
        logging.ERROR,
        __file__,
        1,
        "unhandled error on GET /pay/%s/success with %s and %s",
        (token, REAL, "pi_3Abc_secret_XyZ123"),
        None,
    )
    line = RedactingFormatter("%(message)s").format(record)
    assert token not in line and REAL not in line and "XyZ123" not in line
    assert "/pay/[redacted]/success" in line
    assert redact(WEBHOOK_SECRET) == "whsec_[redacted]"


def test_logs_never_show_an_api_keys_secret_or_an_authorization_header() -> None:
    key_id, secret = "0f" * 16, "a1" * 32
    line = redact(f"refused bp_test_{key_id}_{secret}; Authorization: Bearer bp_platform_x1y2z3")
    assert secret not in line and "bp_platform_x1y2z3" not in line
    assert f"bp_test_{key_id}_[redacted]" in line  # the key id is public: it finds the key
    assert "Authorization: Bearer [redacted]" in line


def test_logs_never_show_an_identity_providers_token() -> None:
    token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJl-_x"

    line = redact(f"refused {token} for jane")

    assert line == "refused [jwt redacted] for jane"
