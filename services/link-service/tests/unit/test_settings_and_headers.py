import asyncio
import secrets

import pytest
from link_service.entrypoints import pages
from link_service.entrypoints.security import page_csp
from link_service.settings import LinkSettings
from pydantic import ValidationError

BASE = {
    "database_url": "postgresql://u:p@localhost/link",
    "stripe_secret_key": "sk_test_123",
    "stripe_publishable_key": "pk_test_123",
}


def test_the_csp_allows_our_origin_and_stripe_only() -> None:
    real = page_csp(LinkSettings.model_validate(BASE))
    assert (
        "script-src 'self' https://js.stripe.com https://api.stripe.com https://hooks.stripe.com"
        in real
    )
    assert "frame-ancestors 'none'" in real and "default-src 'none'" in real
    assert "unsafe-inline" not in real
    stand_in = page_csp(
        LinkSettings.model_validate(
            {
                **BASE,
                "stripe_js_url": "http://127.0.0.1:8420/bookpay-test/v3/",
                "stripe_csp_origins": (),
            }
        )
    )
    assert "script-src 'self' http://127.0.0.1:8420;" in stand_in
    assert "frame-src http://127.0.0.1:8420;" in stand_in


def test_production_refuses_placeholders_and_plain_http() -> None:
    production = {
        **BASE,
        "environment": "production",
        "stripe_secret_key": "sk_" + "live_" + secrets.token_hex(12),
        "kafka_security_protocol": "SASL_SSL",
        "kafka_username": "link-service",
        "kafka_password": "Zr4kP9wLm2Qx7VbN5tHc",
    }
    with pytest.raises(ValidationError, match="csrf_secret"):
        LinkSettings.model_validate(production)
    with pytest.raises(ValidationError, match="https"):
        LinkSettings.model_validate({**production, "csrf_secret": "q8Vn2LrT5wXz9KpB4mJc"})
    LinkSettings.model_validate(
        {
            **production,
            "csrf_secret": "q8Vn2LrT5wXz9KpB4mJc",
            "public_base_url": "https://pay.example.com",
        }
    )


def test_a_publishable_key_is_required_and_checked() -> None:
    with pytest.raises(ValidationError):
        LinkSettings.model_validate({**BASE, "stripe_publishable_key": "sk_test_oops"})


def test_the_pages_may_show_a_logo_over_https_only() -> None:
    csp = page_csp(LinkSettings.model_validate(BASE))
    img = next(part for part in csp.split("; ") if part.startswith("img-src"))
    assert " https: " in f"{img} " and "http:" not in img


@pytest.mark.parametrize("colour", ["0b5d7a", "0B5D7A", "red", "0b5d7a;}body{x", "0b5d7"])
def test_the_accent_stylesheet_is_served_for_a_lower_case_colour_only(colour: str) -> None:
    response = asyncio.run(pages.accent(colour))
    if colour == "0b5d7a":
        assert response.status_code == 200
        assert bytes(response.body) == b":root { --accent: #0b5d7a; }\n"
    else:
        assert response.status_code == 404
