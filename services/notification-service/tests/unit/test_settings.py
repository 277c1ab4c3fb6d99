"""Settings refuse combinations that cannot work."""

import pytest
from notification_service.settings import NotificationSettings
from pydantic import ValidationError

DB = "postgresql://u:p@127.0.0.1:5432/notification"


def settings(**values: object) -> NotificationSettings:
    if values.get("environment") == "production":  # production refuses Kafka without a login
        values = {
            "kafka_security_protocol": "SASL_SSL",
            "kafka_username": "notification-service",
            "kafka_password": "Zr4kP9wLm2Qx7VbN5tHc",
            **values,
        }
    return NotificationSettings(database_url=DB, **values)  # type: ignore[arg-type]


def test_the_defaults_send_to_the_local_sink() -> None:
    s = settings()
    assert (s.smtp_host, s.smtp_port, s.smtp_starttls, s.smtp_use_tls) == (
        "127.0.0.1",
        1025,
        False,
        False,
    )
    assert s.sender_address == "payments@bookpay.local"


@pytest.mark.parametrize(
    "values",
    [
        {"smtp_starttls": True, "smtp_use_tls": True},
        {"smtp_username": "mailer"},
        {"smtp_timeout_seconds": 90, "send_lease_seconds": 120},
        {"retry_base_seconds": 10, "retry_max_seconds": 5},
        {"mail_from": "not an address"},
        {"charge_service_base_url": "charges.internal:8002"},
        {"charge_service_base_url": "javascript:alert(1)"},
    ],
)
def test_unworkable_settings_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        settings(**values)


def test_a_real_server_with_starttls_and_a_login() -> None:
    s = settings(
        smtp_host="smtp.example.com",
        smtp_port=587,
        smtp_starttls=True,
        smtp_username="mailer",
        smtp_password="s3cret",
    )
    assert s.smtp_password is not None and s.smtp_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)


def test_smtp_needs_tls_outside_development_and_test() -> None:
    with pytest.raises(ValidationError, match="TLS"):
        settings(environment="production")
    assert settings(environment="production", smtp_starttls=True).smtp_starttls
    assert settings(environment="production", smtp_use_tls=True, smtp_port=465).smtp_use_tls
    assert settings(environment="test").smtp_starttls is False


def test_the_smtp_password_is_refused_when_a_placeholder_and_never_shown() -> None:
    with pytest.raises(ValidationError, match="smtp_password") as refused:
        settings(
            environment="production",
            smtp_starttls=True,
            smtp_username="mailer",
            smtp_password="changeme",
        )
    assert "changeme" not in str(refused.value)
    real = "Zq7-vN3x-Lp9w-Tk2r"
    good = settings(
        environment="production", smtp_starttls=True, smtp_username="mailer", smtp_password=real
    )
    assert real not in repr(good) and real not in str(good)


def test_the_mailer_config_does_not_show_the_password() -> None:
    from notification_service.adapters.mailer import SmtpConfig

    config = SmtpConfig("smtp.example.com", 587, "a@example.com", "mailer", "Zq7-vN3x-Lp9w-Tk2r")
    assert "Zq7-vN3x-Lp9w-Tk2r" not in repr(config)
