"""What notification-service's use cases need from the outside, as protocols: a `Mailer` that
sends one delivery and says how it went. `adapters.mailer.SmtpMailer` is the SMTP one."""

from __future__ import annotations

from typing import Protocol

from notification_service.domain.notifications import Delivery, SendOutcome


class Mailer(Protocol):
    async def send(self, delivery: Delivery) -> SendOutcome: ...
