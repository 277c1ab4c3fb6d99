"""The SMTP adapter: build the MIME message of a delivery and send it with aiosmtplib, turning
every SMTP error into one of the domain's outcomes (accepted, temporary, permanent).

Permanent means the server refused this email with a 5xx reply to its recipient or its data.
Everything else is temporary, including problems that are not about this email (no connection,
a timeout, a 4xx reply, a refused login or sender, no STARTTLS): retrying is right for those,
and failing every queued email because of a server or configuration problem would be wrong.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib
from bookpay_shared.tracing import client_span

from notification_service.domain.notifications import (
    Accepted,
    Delivery,
    PermanentFailure,
    SendOutcome,
    TemporaryFailure,
)
from notification_service.emails.formats import one_line

log = logging.getLogger(__name__)


def message_id(delivery: Delivery, mail_from: str) -> str:
    """The same Message-ID on every attempt of one notification, so that a receiver can tell a
    resend (after a crash at the wrong moment) from a new email."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "bookpay.local"
    return f"<{delivery.id}@{domain}>"


def sender_address(delivery: Delivery, mail_from: str) -> str | Address:
    """From: the business's name "via bookpay" at the configured address (only the address SMTP
    servers trust us for), or the configured From as it is for an email without a sender."""
    if delivery.sender is None:
        return mail_from
    return Address(
        display_name=delivery.sender.from_name,
        addr_spec=parseaddr(mail_from)[1],
    )


def build_message(delivery: Delivery, mail_from: str, now: datetime) -> EmailMessage:
    """The multipart/alternative message: the plain text, then the HTML."""
    message = EmailMessage()
    message["From"] = sender_address(delivery, mail_from)
    if delivery.sender is not None and delivery.sender.reply_to:
        message["Reply-To"] = delivery.sender.reply_to
    name = one_line(delivery.recipient.name or "")
    message["To"] = Address(display_name=name, addr_spec=delivery.recipient.email)
    email = delivery.outgoing()
    message["Subject"] = one_line(email.subject)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(delivery, mail_from)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Bookpay-Notification"] = f"{delivery.kind.value} {delivery.id}"
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    mail_from: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    use_tls: bool = False
    timeout_seconds: float = 30.0


class SmtpMailer:
    """Sends each email on its own connection: one slow or failing email holds up no other."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    async def send(self, delivery: Delivery) -> SendOutcome:
        c = self.config
        try:
            message = build_message(delivery, c.mail_from, datetime.now(UTC))
        except (ValueError, TypeError) as exc:
            return PermanentFailure(f"cannot build the message: {exc}")
        try:
            with client_span("smtp send", {"server.address": c.host, "server.port": c.port}):
                _, reply = await self._send(message, delivery)
        except Exception as exc:
            return classify(exc)
        return Accepted(reply.strip())

    async def _send(self, message: EmailMessage, delivery: Delivery) -> tuple[object, str]:
        c = self.config
        async with asyncio.timeout(c.timeout_seconds):
            return await aiosmtplib.send(
                message,
                sender=parseaddr(c.mail_from)[1],
                recipients=[delivery.recipient.email],
                hostname=c.host,
                port=c.port,
                username=c.username,
                password=c.password,
                start_tls=c.starttls,
                use_tls=c.use_tls,
                timeout=c.timeout_seconds,
            )


def classify(exc: BaseException) -> SendOutcome:
    """What a failed send means for the email."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        return by_reply_code(exc.recipients[0].code, exc.recipients[0].message)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return by_reply_code(exc.code, exc.message)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return TemporaryFailure(f"SMTP server problem: {exc.code} {exc.message}"[:1000])
    if isinstance(exc, TimeoutError):
        return TemporaryFailure("timed out talking to the SMTP server")
    if isinstance(exc, OSError | aiosmtplib.SMTPException):
        return TemporaryFailure(f"cannot reach the SMTP server: {exc}"[:1000])
    log.exception("unexpected error while sending", exc_info=exc)
    return TemporaryFailure(f"unexpected error: {exc!r}"[:1000])


def by_reply_code(code: int, message: str) -> SendOutcome:
    reason = f"{code} {message}"[:1000]
    return PermanentFailure(reason) if 500 <= code < 600 else TemporaryFailure(reason)
