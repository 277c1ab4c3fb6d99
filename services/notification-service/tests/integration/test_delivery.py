"""The delivery loop on real PostgreSQL (with a hand-written mailer), and the SMTP adapter
against the real SMTP sink."""

from __future__ import annotations

import asyncio
import html
import json
import secrets
import uuid
from dataclasses import dataclass, field, replace

import pytest
from bookpay_devstack.stack import Stack
from bookpay_shared import tracing
from bookpay_shared.db import Pool
from notification_service.adapters import repository as repo
from notification_service.adapters.mailer import SmtpConfig, SmtpMailer
from notification_service.domain.notifications import (
    Accepted,
    Delivery,
    NewNotification,
    NextStep,
    NotificationKind,
    PermanentFailure,
    Recipient,
    RenderedEmail,
    RetryPolicy,
    SendOutcome,
    TemporaryFailure,
    redacted_url,
)
from notification_service.usecases.delivery import Sender
from opentelemetry import propagate

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ACCOUNT = uuid.uuid4()


@dataclass
class FakeMailer:
    """Accepts every email except those to addresses given an outcome."""

    outcomes: dict[str, SendOutcome] = field(default_factory=dict)
    sent: list[tuple[str, int]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    """The text of every email attempted, as it went out."""

    async def send(self, delivery: Delivery) -> SendOutcome:
        self.texts.append(delivery.outgoing().text)
        outcome = self.outcomes.get(delivery.recipient.email, Accepted("250 OK"))
        if isinstance(outcome, Accepted):
            self.sent.append((delivery.recipient.email, delivery.attempt))
        return outcome


def notification(recipient: str, key: str = "k") -> NewNotification:
    return NewNotification(
        id=uuid.uuid4(),
        dedupe_key=key,
        kind=NotificationKind.PAYMENT_LINK,
        account_id=ACCOUNT,
        charge_id=uuid.uuid4(),
        recipient=Recipient(recipient, "Someone"),
        email=RenderedEmail("Subject", "<p>html</p>", "text\n"),
    )


async def add(pool: Pool, *notifications: NewNotification) -> None:
    async with pool.acquire() as conn:
        await repo.add_notifications(conn, list(notifications))


async def statuses(pool: Pool) -> dict[str, tuple[str, int, str | None]]:
    rows = await pool.fetch("SELECT recipient, status, attempts, last_error FROM notifications")
    return {r["recipient"]: (r["status"], r["attempts"], r["last_error"]) for r in rows}


def sender(pool: Pool, mailer: FakeMailer, **kwargs: object) -> Sender:
    return Sender(pool, mailer, RetryPolicy(base_seconds=30, max_attempts=3), **kwargs)  # type: ignore[arg-type]


async def test_a_temporary_failure_is_retried_later_and_other_emails_flow(pool: Pool) -> None:
    mailer = FakeMailer({"slow@x.com": TemporaryFailure("451 try later")})
    await add(pool, notification("a@x.com"), notification("slow@x.com"), notification("b@x.com"))

    assert await sender(pool, mailer).deliver_due() == 3

    assert sorted(mailer.sent) == [("a@x.com", 1), ("b@x.com", 1)]
    found = await statuses(pool)
    assert found["slow@x.com"] == ("pending", 1, "451 try later")
    assert found["a@x.com"][0] == found["b@x.com"][0] == "sent"
    delay = await pool.fetchval(
        "SELECT extract(epoch FROM next_attempt_at - now()) FROM notifications "
        "WHERE recipient = 'slow@x.com'"
    )
    assert 25 < delay <= 30
    assert await sender(pool, mailer).deliver_due() == 0  # not due yet

    mailer.outcomes.clear()
    await pool.execute("UPDATE notifications SET next_attempt_at = now()")
    assert await sender(pool, mailer).deliver_due() == 1
    assert sorted(mailer.sent) == [("a@x.com", 1), ("b@x.com", 1), ("slow@x.com", 2)]
    assert await pool.fetchval("SELECT sum(interrupted_attempts) FROM notifications") == 0


async def test_a_permanent_failure_is_recorded_and_announced(pool: Pool) -> None:
    mailer = FakeMailer({"gone@x.com": PermanentFailure("550 5.1.1 no such user")})
    failing = notification("gone@x.com")
    await add(pool, failing)

    await sender(pool, mailer).deliver_due()

    assert (await statuses(pool))["gone@x.com"] == ("failed", 1, "550 5.1.1 no such user")
    row = await pool.fetchrow("SELECT topic, message_key, payload FROM outbox")
    assert (row["topic"], row["message_key"]) == ("notification-failed", str(ACCOUNT))
    event = json.loads(row["payload"])
    assert event["event_type"] == "NotificationFailed"
    assert (event["notification_id"], event["recipient"], event["kind"]) == (
        str(failing.id),
        "gone@x.com",
        "payment_link",
    )
    assert event["correlation_id"] == str(failing.charge_id)


async def test_temporary_failures_end_in_failure_after_the_last_attempt(pool: Pool) -> None:
    mailer = FakeMailer({"down@x.com": TemporaryFailure("connection refused")})
    await add(pool, notification("down@x.com"))

    for _ in range(3):
        await pool.execute("UPDATE notifications SET next_attempt_at = now()")
        await sender(pool, mailer).deliver_due()

    status, attempts, error = (await statuses(pool))["down@x.com"]
    assert (status, attempts) == ("failed", 3)
    assert error == "gave up after 3 attempts: connection refused"
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 1


async def test_the_same_notification_and_recipient_is_written_once(pool: Pool) -> None:
    await add(pool, notification("a@x.com", "same"), notification("A@X.com", "same"))
    await add(pool, notification("a@x.com", "same"), notification("a@x.com", "other"))
    assert await pool.fetchval("SELECT count(*) FROM notifications") == 2


async def test_an_email_left_sending_by_a_dead_sender_is_sent_after_its_lease(pool: Pool) -> None:
    await add(pool, notification("a@x.com"))
    async with pool.acquire() as conn:  # a sender claims it, then dies before sending
        [claimed] = await repo.claim_due(conn, limit=10, lease_seconds=0.3)
    mailer = FakeMailer()

    assert await sender(pool, mailer).deliver_due() == 0  # still leased
    await asyncio.sleep(0.4)
    assert await sender(pool, mailer).deliver_due() == 1

    assert mailer.sent == [("a@x.com", 2)]
    assert (await statuses(pool))["a@x.com"][:2] == ("sent", 2)
    async with pool.acquire() as conn:  # the dead sender's attempt cannot record anything now
        assert not await repo.mark_sent(conn, claimed, "250 late")
    interrupted = "SELECT interrupted_attempts FROM notifications WHERE recipient = 'a@x.com'"
    assert await pool.fetchval(interrupted) == 1  # it may have gone out: counted


@dataclass
class DatabaseAway(Sender):
    """A sender whose database is away (restarting) for its first `outage` recordings."""

    outage: int = 2
    refused: int = 0

    async def _record(self, delivery: Delivery, step: NextStep) -> None:
        if self.refused < self.outage:
            self.refused += 1
            raise ConnectionRefusedError("the database is restarting")
        await super()._record(delivery, step)


async def test_an_accepted_email_is_recorded_once_the_database_is_back_not_sent_again(
    pool: Pool,
) -> None:
    await add(pool, notification("a@x.com"))
    mailer = FakeMailer()
    away = DatabaseAway(pool, mailer, RetryPolicy(base_seconds=30, max_attempts=3), lease_seconds=2)

    assert await away.deliver_due() == 1

    assert away.refused == 2
    assert (await statuses(pool))["a@x.com"][:2] == ("sent", 1)
    await asyncio.sleep(2.1)  # past the lease: nothing is left to send again
    assert await sender(pool, mailer).deliver_due() == 0
    assert mailer.sent == [("a@x.com", 1)]


async def test_an_email_whose_outcome_cannot_be_recorded_within_its_lease_is_sent_again(
    pool: Pool,
) -> None:
    await add(pool, notification("b@x.com"))
    mailer = FakeMailer()
    away = DatabaseAway(
        pool, mailer, RetryPolicy(base_seconds=30, max_attempts=3), lease_seconds=0.3, outage=99
    )

    assert await away.deliver_due() == 1
    await asyncio.sleep(0.4)
    assert await sender(pool, mailer).deliver_due() == 1

    assert mailer.sent == [("b@x.com", 1), ("b@x.com", 2)]


async def test_many_senders_send_each_email_once(pool: Pool) -> None:
    await add(pool, *(notification(f"r{i}@x.com") for i in range(40)))
    mailer = FakeMailer()

    senders = [sender(pool, mailer, batch_size=7) for _ in range(4)]
    while await pool.fetchval("SELECT count(*) FROM notifications WHERE status <> 'sent'"):
        await asyncio.gather(*(s.deliver_due() for s in senders))

    assert sorted(r for r, _ in mailer.sent) == sorted(f"r{i}@x.com" for i in range(40))


async def test_the_loop_sends_what_is_written_while_it_runs(pool: Pool) -> None:
    mailer = FakeMailer()
    task = asyncio.create_task(sender(pool, mailer, poll_seconds=30).run())
    try:
        await asyncio.sleep(0.3)
        await add(pool, notification("late@x.com"))
        for _ in range(50):
            if mailer.sent:
                break
            await asyncio.sleep(0.1)
        assert mailer.sent == [("late@x.com", 1)]  # woken by NOTIFY, long before the poll
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# --- the payment link in an email: kept apart, and only until the email is done -----------

LINK = "https://pay.example.com/pay/Secret-token_0123456789"


def link_notification(recipient: str) -> NewNotification:
    placeholder = redacted_url(LINK)
    return replace(
        notification(recipient),
        email=RenderedEmail(
            "Pay",
            f'<a href="{html.escape(placeholder)}">{html.escape(placeholder)}</a>',
            f"Complete Payment: {placeholder}\n",
        ),
        link_url=LINK,
    )


async def stored(pool: Pool, recipient: str) -> tuple[str | None, str]:
    row = await pool.fetchrow(
        "SELECT link_url, html || text AS bodies FROM notifications WHERE recipient = $1",
        recipient,
    )
    return row["link_url"], row["bodies"]


async def test_the_link_goes_out_with_every_attempt_and_is_forgotten_once_sent(pool: Pool) -> None:
    mailer = FakeMailer({"slow@x.com": TemporaryFailure("451 try later")})
    await add(pool, link_notification("slow@x.com"))

    await sender(pool, mailer).deliver_due()
    assert (await stored(pool, "slow@x.com"))[0] == LINK  # kept for the next attempt
    mailer.outcomes.clear()
    await pool.execute("UPDATE notifications SET next_attempt_at = now()")
    await sender(pool, mailer).deliver_due()

    assert mailer.texts == [f"Complete Payment: {LINK}\n"] * 2
    link_url, bodies = await stored(pool, "slow@x.com")
    assert link_url is None
    assert "Secret-token" not in bodies and "/pay/&lt;redacted&gt;" in bodies


async def test_the_link_of_an_email_refused_for_good_is_forgotten(pool: Pool) -> None:
    mailer = FakeMailer({"gone@x.com": PermanentFailure("550 5.1.1 no such user")})
    await add(pool, link_notification("gone@x.com"))

    await sender(pool, mailer).deliver_due()

    link_url, bodies = await stored(pool, "gone@x.com")
    assert (await statuses(pool))["gone@x.com"][0] == "failed"
    assert link_url is None and "Secret-token" not in bodies
    payload = await pool.fetchval("SELECT payload FROM outbox")
    assert "Secret-token" not in payload


async def test_an_email_resent_after_its_lease_still_carries_the_link(pool: Pool) -> None:
    await add(pool, link_notification("a@x.com"))
    async with pool.acquire() as conn:  # a sender claims it, then dies before recording
        [claimed] = await repo.claim_due(conn, limit=10, lease_seconds=0.3)
    assert claimed.outgoing().text == f"Complete Payment: {LINK}\n"
    assert "Secret-token" not in repr(claimed)
    mailer = FakeMailer()

    await asyncio.sleep(0.4)
    assert await sender(pool, mailer).deliver_due() == 1

    assert mailer.texts == [f"Complete Payment: {LINK}\n"]
    assert (await stored(pool, "a@x.com"))[0] is None


# --- the SMTP adapter against the SMTP sink -----------------------------------------------


def delivery(recipient: str) -> Delivery:
    n = notification(recipient)
    return Delivery(n.id, n.kind, n.account_id, n.charge_id, n.recipient, n.email, attempt=1)


def smtp(stack: Stack, port: int | None = None) -> SmtpMailer:
    return SmtpMailer(
        SmtpConfig(
            host=stack.smtp_host,
            port=port or stack.smtp_port,
            mail_from="bookpay <payments@bookpay.test>",
            username="user",
            password="secret",
            timeout_seconds=5,
        )
    )


async def test_the_sink_receives_the_email(stack: Stack) -> None:
    to = f"it-{uuid.uuid4().hex[:8]}@example.com"
    sent = delivery(to)

    outcome = await smtp(stack).send(sent)

    assert isinstance(outcome, Accepted)
    [message] = await stack.mail.messages(to=to)
    assert message["rcpt_tos"] == [to]
    assert message["mail_from"] == "payments@bookpay.test"
    assert message["subject"] == "Subject"
    assert (message["text"], message["html"]) == ("text\r\n", "<p>html</p>\r\n")  # as on the wire
    assert f"Message-ID: <{sent.id}@bookpay.test>" in message["raw"]


@pytest.mark.parametrize(
    ("mode", "outcome"), [("tempfail", TemporaryFailure), ("permfail", PermanentFailure)]
)
async def test_the_sink_refusing_the_email(stack: Stack, mode: str, outcome: type) -> None:
    to = f"it-{uuid.uuid4().hex[:8]}@example.com"
    await stack.mail.set_fault(mode)  # type: ignore[arg-type]
    try:
        result = await smtp(stack).send(delivery(to))
    finally:
        await stack.mail.set_fault("none")
    assert isinstance(result, outcome)
    assert await stack.mail.messages(to=to) == []


async def test_no_smtp_server_is_a_temporary_failure(stack: Stack) -> None:
    result = await smtp(stack, port=1).send(delivery("nobody@example.com"))
    assert isinstance(result, TemporaryFailure)


@dataclass
class TraceRecordingMailer(FakeMailer):
    """Notes the trace id each send runs in."""

    trace_ids: list[str | None] = field(default_factory=list)

    async def send(self, delivery: Delivery) -> SendOutcome:
        ids = tracing.current_ids()
        self.trace_ids.append(ids[0] if ids else None)
        return await super().send(delivery)


async def test_an_emails_send_continues_the_trace_that_wrote_it(pool: Pool) -> None:
    tracing.configure("notification-service", environ={})
    trace_id = secrets.token_hex(16)
    parent = propagate.extract({"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})
    with tracing.tracer().start_as_current_span("handler", context=parent):
        await add(pool, notification("traced@example.com"))
    await add(pool, notification("untraced@example.com"))  # outside any span
    mailer = TraceRecordingMailer()

    assert await sender(pool, mailer).deliver_due() == 2

    by_recipient = dict(zip([r for r, _ in mailer.sent], mailer.trace_ids, strict=True))
    assert by_recipient["traced@example.com"] == trace_id
    other = by_recipient["untraced@example.com"]
    assert other is not None and other != trace_id  # a trace of its own
