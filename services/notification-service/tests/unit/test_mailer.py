"""The MIME message sent for a delivery, and how SMTP errors are classified."""

import email
import email.policy
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage

import aiosmtplib
import pytest
from notification_service.adapters.mailer import build_message, classify, message_id
from notification_service.domain.notifications import (
    Delivery,
    NotificationKind,
    PermanentFailure,
    Recipient,
    RenderedEmail,
    Sender,
    SendOutcome,
    TemporaryFailure,
)

FROM = "bookpay <payments@bookpay.example>"


def delivery(attempt: int = 1, name: str | None = "Ada Lovelace") -> Delivery:
    return Delivery(
        id=uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff"),
        kind=NotificationKind.PAYMENT_LINK,
        account_id=uuid.uuid4(),
        charge_id=uuid.uuid4(),
        recipient=Recipient("ada@example.com", name),
        email=RenderedEmail("Pay now", "<p>Hello &amp; welcome</p>", "Hello & welcome\n"),
        attempt=attempt,
    )


def received(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_the_message_has_a_text_and_an_html_alternative() -> None:
    message = received(build_message(delivery(), FROM, datetime(2027, 1, 1, tzinfo=UTC)))
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and text.get_content() == "Hello & welcome\n"
    assert html is not None and html.get_content().rstrip("\n") == "<p>Hello &amp; welcome</p>"


def test_the_headers_address_the_recipient() -> None:
    message = received(build_message(delivery(), FROM, datetime(2027, 1, 1, tzinfo=UTC)))
    assert message["To"] == "Ada Lovelace <ada@example.com>"
    assert message["From"] == FROM
    assert message["Subject"] == "Pay now"
    assert message["Auto-Submitted"] == "auto-generated"


def test_every_attempt_carries_the_same_message_id() -> None:
    first = build_message(delivery(1), FROM, datetime(2027, 1, 1, tzinfo=UTC))
    again = build_message(delivery(2), FROM, datetime(2027, 1, 2, tzinfo=UTC))
    expected = "<6f9619ff-8b86-d011-b42d-00c04fc964ff@bookpay.example>"
    assert first["Message-ID"] == again["Message-ID"] == expected
    assert message_id(delivery(), FROM) == expected


def test_a_recipient_name_with_line_breaks_cannot_add_headers() -> None:
    message = build_message(
        delivery(name="Ada\r\nBcc: x@evil.example"), FROM, datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert message["Bcc"] is None
    assert "\n" not in str(message["To"])


def refused(code: int) -> aiosmtplib.SMTPRecipientsRefused:
    return aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(code, "nope", "ada@example.com")]
    )


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (refused(451), TemporaryFailure),
        (refused(550), PermanentFailure),
        (aiosmtplib.SMTPDataError(552, "too big"), PermanentFailure),
        (aiosmtplib.SMTPDataError(421, "later"), TemporaryFailure),
        (aiosmtplib.SMTPConnectError("refused"), TemporaryFailure),
        (ConnectionRefusedError(111, "Connection refused"), TemporaryFailure),
        (aiosmtplib.SMTPServerDisconnected("gone"), TemporaryFailure),
        (aiosmtplib.SMTPReadTimeoutError("slow"), TemporaryFailure),
        (TimeoutError(), TemporaryFailure),
        (aiosmtplib.SMTPAuthenticationError(535, "bad login"), TemporaryFailure),
        (aiosmtplib.SMTPSenderRefused(553, "not you", "payments@x"), TemporaryFailure),
    ],
)
def test_only_a_5xx_for_the_recipient_or_the_data_is_permanent(
    error: Exception, outcome: type[SendOutcome]
) -> None:
    result = classify(error)
    assert isinstance(result, outcome)


def test_a_link_email_goes_out_with_its_link_which_its_repr_never_shows() -> None:
    url = "https://pay.example.com/pay/Secret-token_123"
    stored = RenderedEmail(
        "Pay now",
        '<a href="https://pay.example.com/pay/&lt;redacted&gt;">'
        "https://pay.example.com/pay/&lt;redacted&gt;</a>",
        "Complete Payment: https://pay.example.com/pay/<redacted>\n",
    )
    claimed = replace(delivery(), email=stored, link_url=url)

    message = received(build_message(claimed, FROM, datetime(2027, 1, 1, tzinfo=UTC)))

    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and text.get_content() == f"Complete Payment: {url}\n"
    assert html is not None and html.get_content().count(url) == 2
    assert "redacted" not in message.as_string()
    assert "Secret-token_123" not in repr(claimed)


def test_the_email_comes_from_the_business_via_bookpay_at_bookpays_address() -> None:
    sent = replace(delivery(), sender=Sender("Harbour Kayak Tours", "hello@harbourkayak.example"))
    message = received(build_message(sent, FROM, datetime(2027, 1, 1, tzinfo=UTC)))
    assert message["From"] == "Harbour Kayak Tours via bookpay <payments@bookpay.example>"
    assert message["Reply-To"] == "hello@harbourkayak.example"


def test_without_a_reply_to_address_there_is_no_reply_to_header() -> None:
    sent = replace(delivery(), sender=Sender("Harbour Kayak Tours"))
    message = received(build_message(sent, FROM, datetime(2027, 1, 1, tzinfo=UTC)))
    assert message["From"].addresses[0].display_name == "Harbour Kayak Tours via bookpay"
    assert message["Reply-To"] is None


def test_a_sender_name_cannot_add_headers_or_addresses() -> None:
    sent = replace(delivery(), sender=Sender('Evil, "Inc" <x@evil.example>\r\nBcc: v@example.com'))
    message = received(build_message(sent, FROM, datetime(2027, 1, 1, tzinfo=UTC)))
    (address,) = message["From"].addresses
    assert address.addr_spec == "payments@bookpay.example"
    assert message["Bcc"] is None
