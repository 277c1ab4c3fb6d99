"""Settings refuse combinations that cannot work."""

import pytest
from notification_service.settings import NotificationSettings
from pydantic import ValidationError

DB = "postgresql://u:p@127.0.0.1:5432/notification"


def settings(**values: object) -> NotificationSettings:
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
