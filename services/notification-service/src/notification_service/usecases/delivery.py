"""The delivery loop: send the emails in the `notifications` table, each exactly once as far as
SMTP allows (the policy is in the service README).

1. Claim (one transaction, committed before anything is sent): due rows become `sending`, their
   attempt counted and leased for `lease_seconds`; `FOR UPDATE SKIP LOCKED` lets many senders
   share the table.
2. Send the claimed emails at once, each on its own SMTP connection and within the SMTP
   timeout (so always well within its lease), with a Message-ID derived from the notification
   id (the same on every attempt).
3. Record the outcome (one transaction per email, only if the attempt still holds the row):
   `sent`; or `pending` again with exponential backoff after a temporary failure, while other
   emails keep flowing; or `failed`, with NotificationFailed written to the outbox.
A sender that dies between 1 and 3 leaves the row `sending`; once its lease ends, the row is
claimed and sent again.

Each outcome recorded (committed) is counted in `bookpay_emails_total`: sent, retried or
failed, by kind of email; an outcome not recorded (the lease was taken over) is not counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from bookpay_shared import outbox
from bookpay_shared.backoff import Backoff
from bookpay_shared.consuming import TRANSIENT_ERRORS
from bookpay_shared.db import Pool
from bookpay_shared.events import NotificationFailed
from bookpay_shared.faults import NO_FAULTS, FaultPoints
from bookpay_shared.metrics import Metrics
from bookpay_shared.tracing import continued
from bookpay_shared.wakeup import Wakeup

from notification_service.adapters import repository as repo
from notification_service.domain.notifications import (
    Delivery,
    MarkFailed,
    MarkSent,
    NextStep,
    RetryLater,
    RetryPolicy,
)
from notification_service.usecases.ports import Mailer

log = logging.getLogger(__name__)

BEFORE_SEND = "notification.before_send"
"""Fault point: the email is claimed (`sending` committed) but not sent."""
AFTER_SEND = "notification.after_send"
"""Fault point: the SMTP server accepted the email, `sent` is not recorded."""


RECORDING_SHARE_OF_LEASE = 0.75
"""How much of an email's lease its outcome may take to record (the rest is margin before
another sender may claim it)."""


@dataclass
class Sender:
    pool: Pool
    mailer: Mailer
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    batch_size: int = 10
    lease_seconds: float = 120.0
    poll_seconds: float = 1.0
    faults: FaultPoints = NO_FAULTS
    metrics: Metrics | None = None

    async def run(self) -> None:
        """Deliver forever: whenever emails are written (LISTEN/NOTIFY) and every poll."""
        wakeup = Wakeup(self.pool, "notifications", poll_seconds=self.poll_seconds)
        await wakeup.run(self._deliver_until_idle)

    async def _deliver_until_idle(self) -> None:
        while await self.deliver_due() == self.batch_size:
            pass

    async def deliver_due(self) -> int:
        """Claim one batch of due emails and attempt each; return how many were claimed."""
        async with self.pool.acquire() as conn, conn.transaction():
            deliveries = await repo.claim_due(
                conn, limit=self.batch_size, lease_seconds=self.lease_seconds
            )
        await asyncio.gather(*(self._attempt(d) for d in deliveries))
        return len(deliveries)

    async def _attempt(self, delivery: Delivery) -> None:
        # In the trace of the event that wrote the email: its lines and its SMTP span join it.
        with continued("email attempt", delivery.trace_context):
            started = time.monotonic()
            self.faults.crash_point(BEFORE_SEND)
            outcome = await self.mailer.send(delivery)
            self.faults.crash_point(AFTER_SEND)
            step = self.policy.next_step(outcome, delivery.attempt)
            await self._record_while_leased(delivery, step, started)

    async def _record_while_leased(
        self, delivery: Delivery, step: NextStep, started: float
    ) -> None:
        """Record the attempt's outcome; while the database is away (restarting, say), try
        again for as long as the lease lasts: an email the server accepted and that is then
        recorded is not sent twice. Past the lease it is sent again (with the same
        Message-ID), as after a crash."""
        deadline = started + self.lease_seconds * RECORDING_SHARE_OF_LEASE
        delays = Backoff(base=0.2, cap=5.0).delays()
        while True:
            try:
                await self._record(delivery, step)
                return
            except TRANSIENT_ERRORS as error:
                delay = next(delays)
                if time.monotonic() + delay > deadline:
                    log.error(
                        "recording %s of %s failed (%s); its lease will expire",
                        step,
                        delivery.id,
                        error,
                    )
                    return
                log.warning(
                    "recording %s of %s failed (%s); trying again in %.1fs",
                    step,
                    delivery.id,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
            except Exception:
                log.exception("recording %s of %s failed; its lease will expire", step, delivery.id)
                return

    async def _record(self, delivery: Delivery, step: NextStep) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if isinstance(step, MarkSent):
                done = await repo.mark_sent(conn, delivery, step.reply)
            elif isinstance(step, RetryLater):
                done = await repo.reschedule(conn, delivery, step.delay_seconds, step.reason)
            else:
                done = await repo.mark_failed(conn, delivery, step.reason)
                if done:
                    await outbox.enqueue(conn, failed_event(delivery, step))
        _log_step(delivery, step, done)
        if done and self.metrics is not None:
            self.metrics.email(delivery.kind.value, _outcome(step))


def failed_event(delivery: Delivery, step: MarkFailed) -> NotificationFailed:
    return NotificationFailed(
        correlation_id=delivery.charge_id or delivery.id,
        notification_id=delivery.id,
        account_id=delivery.account_id,
        kind=delivery.kind.value,
        recipient=delivery.recipient.email,
        reason=step.reason,
    )


def _outcome(step: NextStep) -> str:
    if isinstance(step, MarkSent):
        return "sent"
    return "retried" if isinstance(step, RetryLater) else "failed"


def _log_step(delivery: Delivery, step: NextStep, done: bool) -> None:
    what = f"{delivery.kind.value} email {delivery.id} (attempt {delivery.attempt})"
    if not done:
        log.warning("%s: its lease was taken over; outcome %s not recorded", what, step)
    elif isinstance(step, MarkSent):
        log.info("%s sent: %s", what, step.reply)
    elif isinstance(step, RetryLater):
        log.warning("%s: %s; retrying in %.0fs", what, step.reason, step.delay_seconds)
    else:
        log.error("%s failed: %s", what, step.reason)
