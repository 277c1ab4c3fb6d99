"""Emails, end to end: notification-service, booking-service and charge-service as processes on
real Kafka and PostgreSQL, delivering to the SMTP sink. Payment links and link payments are
announced on Kafka here, as link-service and charge-service announce them; accounts, customers
and bookings are made through booking-service's API, so notification-service learns them from
booking-service's events."""

import json
import signal
import uuid
from datetime import UTC

import pytest
from aiokafka import AIOKafkaProducer
from bookpay_devstack.events import EventLog, about
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services
from bookpay_shared import topics
from bookpay_shared.events import PaymentSucceeded

from .links import Links, settle
from .notifications_support import (
    EXPIRES,
    PADDLE_AND_CAVES,
    Email,
    Notifications,
    admins_of,
    body,
    customer_with_bookings,
    header,
    html_links,
    html_tags,
    link_created,
    link_paid,
    link_url,
    new_admin,
    patch_account,
    publish,
    stored_email,
    wait_emails,
    wait_link_payment_recorded,
    wait_receipt_decided,
)
from .support import VISA, Bookpay, Customer
from .test_new_card import charge_new_card
from .test_payment_links import start_payment
from .test_stripe_connections import _pay_with_a_card

pytestmark = pytest.mark.asyncio(loop_scope="session")

MERCHANT = "Harbour Kayak Tours"


# --- the customer's email ------------------------------------------------------------------


async def test_the_link_email_reaches_the_customer_as_previewed(
    bookpay: Bookpay,
    notifications: Notifications,
    system: Services,
    stack: Stack,
    kafka: AIOKafkaProducer,
) -> None:
    account = await bookpay.new_account()
    customer, email = await customer_with_bookings(bookpay, account, PADDLE_AND_CAVES)
    message_from_staff = "See you at the dock at 8:45."
    preview = await notifications.preview_when_known(
        account,
        {
            "customer_id": customer.customer_id,
            "booking_ids": customer.booking_ids,
            "amount": 12500,
            "currency": "usd",
            "message": message_from_staff,
            "expires_at": EXPIRES.isoformat(),
        },
    )
    url = link_url(system)

    await publish(
        kafka,
        link_created(customer, 12500, url=url, expires_at=EXPIRES, message=message_from_staff),
    )

    [received] = await wait_emails(stack, email)
    assert received["rcpt_tos"] == [email]
    assert MERCHANT in received["subject"]
    html, text = body(received["html"]), body(received["text"])
    assert (url, "Complete Payment") in html_links(html)
    assert {href for href, _ in html_links(html)} == {url}
    assert f"Complete Payment: {url}" in text
    for summary in ("Sunset paddle", "Sea cave tour", "$125.00", "Tue 20 Apr 2027, 18:00 UTC"):
        assert summary in html and summary in text
    assert message_from_staff in html and message_from_staff in text
    assert received["subject"] == preview["subject"]
    assert html == preview["html"].replace(preview["link_url"], url)
    assert text == preview["text"].replace(preview["link_url"], url)

    [delivery] = await notifications.deliveries(account)
    assert (delivery["kind"], delivery["recipient"], delivery["status"]) == (
        "payment_link",
        email,
        "sent",
    )
    assert header(received, "Message-ID") == f"<{delivery['notification_id']}@bookpay.local>"
    await keeps_no_link(stack, delivery["notification_id"], url)


async def keeps_no_link(stack: Stack, notification_id: str, url: str) -> None:
    """Once an email is sent or failed, its link (a secret) is nowhere in what is kept."""
    kept = await stored_email(stack, notification_id)
    token = url.rsplit("/", 1)[1]
    assert kept["link_url"] is None
    assert token not in kept["html"] and token not in kept["text"]
    redacted = url.rsplit("/", 1)[0] + "/<redacted>"
    assert f"Complete Payment: {redacted}" in kept["text"]


async def test_the_preview_refuses_what_it_cannot_show(
    bookpay: Bookpay, notifications: Notifications
) -> None:
    account = await bookpay.new_account()
    customer, _ = await customer_with_bookings(bookpay, account, PADDLE_AND_CAVES)
    draft = {
        "customer_id": customer.customer_id,
        "booking_ids": customer.booking_ids,
        "amount": 12500,
        "currency": "usd",
    }
    await notifications.preview_when_known(account, draft)

    unknown = await notifications.preview(account, {**draft, "booking_ids": [str(uuid.uuid4())]})
    wrong_currency = await notifications.preview(account, {**draft, "currency": "eur"})
    negative = await notifications.preview(account, {**draft, "amount": -1})

    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert wrong_currency.status_code == 422
    assert wrong_currency.json()["error"]["code"] == "charge_mismatch"
    assert negative.status_code == 422
    assert negative.json()["error"]["code"] == "invalid_request"


async def test_a_duplicate_link_event_sends_one_email_and_a_resend_another(
    bookpay: Bookpay,
    notifications: Notifications,
    system: Services,
    stack: Stack,
    kafka: AIOKafkaProducer,
) -> None:
    account = await bookpay.new_account()
    customer, email = await customer_with_bookings(bookpay, account, PADDLE_AND_CAVES)
    first = link_created(customer, 12500, url=link_url(system), expires_at=EXPIRES)
    resent = first.model_copy(update={"event_id": uuid.uuid4()})  # same link, same charge

    await publish(kafka, first)
    await publish(kafka, first)
    await publish(kafka, resent)  # same key: read after both copies of the first

    await wait_emails(stack, email, count=2)
    deliveries = await notifications.deliveries(account, charge_id=str(first.charge_id))
    assert [d["status"] for d in deliveries] == ["sent", "sent"]
    assert len(await stack.mail.messages(to=email)) == 2


async def test_html_in_a_booking_title_and_the_staff_message_arrives_escaped(
    bookpay: Bookpay, system: Services, stack: Stack, kafka: AIOKafkaProducer
) -> None:
    account = await bookpay.new_account()
    title = '<script>alert("pwned")</script> Kayak & "Canoe"'
    customer, email = await customer_with_bookings(bookpay, account, [(title, 4000)])
    staff_message = '<b>Bring a towel</b> <a href="https://evil.example/">click</a>'
    url = link_url(system)

    await publish(
        kafka, link_created(customer, 4000, url=url, expires_at=EXPIRES, message=staff_message)
    )

    [received] = await wait_emails(stack, email)
    html, text = body(received["html"]), body(received["text"])
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; Kayak &amp; &#34;Canoe&#34;" in html
    assert "&lt;b&gt;Bring a towel&lt;/b&gt;" in html
    assert "<script" not in html and "<b>" not in html
    assert {"script", "b"}.isdisjoint(html_tags(html))
    assert {href for href, _ in html_links(html)} == {url}
    assert title in text and staff_message in text  # plain text shows what was typed


# --- the administrators' email -------------------------------------------------------------


async def test_each_administrator_gets_one_email_after_a_link_payment(
    bookpay: Bookpay,
    notifications: Notifications,
    system: Services,
    stack: Stack,
    kafka: AIOKafkaProducer,
) -> None:
    account = await bookpay.new_account(admins=2)
    admins = [a["email"] for a in await admins_of(bookpay, account)]
    customer, customer_email = await customer_with_bookings(bookpay, account, PADDLE_AND_CAVES)
    payment = link_paid(customer, 12500)

    await publish(kafka, payment)

    for admin in admins:
        [received] = await wait_emails(stack, admin)
        assert received["rcpt_tos"] == [admin]
        text, html = body(received["text"]), body(received["html"])
        assert MERCHANT in received["subject"]
        for fact in _payment_facts(payment, customer_email):
            assert fact in text and fact in html
        in_full = text.split("Bookings now Charged in Full:")[1].split("\n\n")[0]
        assert "Sunset paddle" in in_full and "Sea cave tour" in in_full
    for booking_id in customer.booking_ids:
        assert (await bookpay.get_booking(customer, booking_id))["status"] == "charged_in_full"
    url = f"{system.url('charge-service')}/v1/accounts/{account}/charges/{payment.charge_id}"
    assert f"See the charge: {url}" in text
    assert (url, "See the charge") in html_links(html)
    sent = await notifications.deliveries(account, status="sent")
    admin_sent = [d["recipient"] for d in sent if d["kind"] == "admin_link_paid"]
    assert sorted(admin_sent) == sorted(admins)
    [receipt] = await wait_emails(stack, customer_email)  # and the customer, a receipt
    assert "receipt for your payment of $125.00" in receipt["subject"]


def _payment_facts(payment: PaymentSucceeded, customer_email: str) -> list[str]:
    paid_at = payment.paid_at.astimezone(UTC)
    return [
        "Ada Lovelace",
        customer_email,
        "$125.00",
        payment.stripe_payment_intent_id,
        f"{paid_at.year}, {paid_at:%H:%M} UTC",
        "Charged in Full",
    ]


async def test_no_administrator_email_once_the_account_turned_it_off(
    bookpay: Bookpay, notifications: Notifications, stack: Stack, kafka: AIOKafkaProducer
) -> None:
    account = await bookpay.new_account(admins=2)
    admins = [a["email"] for a in await admins_of(bookpay, account)]
    customer, _ = await customer_with_bookings(bookpay, account, PADDLE_AND_CAVES)
    await patch_account(bookpay, account, notify_admins_on_link_payment=False)
    await notifications.wait_account(account, notify_admins_on_link_payment=False)
    silent = link_paid(customer, 5000, booking_ids=customer.booking_ids[:1])

    await publish(kafka, silent)
    # The account's settings are read when the payment is handled: turning the email back on
    # must wait until this payment was, or it may be handled with the new settings.
    await wait_link_payment_recorded(stack, silent.charge_id)
    await _turn_on_and_pay_the_rest(bookpay, notifications, kafka, customer)

    for admin in admins:
        [received] = await wait_emails(stack, admin)
        assert "$75.00" in received["subject"]  # the second payment's, not the first's
    about_silent = await notifications.deliveries(account, charge_id=str(silent.charge_id))
    assert [d["kind"] for d in about_silent] == ["receipt"]  # the customer's, not the admins'


async def _turn_on_and_pay_the_rest(
    bookpay: Bookpay, notifications: Notifications, kafka: AIOKafkaProducer, customer: Customer
) -> PaymentSucceeded:
    """Turn the email back on and pay the second booking by link: processed after any earlier
    payment of the customer (same Kafka key), its emails show the earlier one was handled."""
    await patch_account(bookpay, customer.account_id, notify_admins_on_link_payment=True)
    await notifications.wait_account(customer.account_id, notify_admins_on_link_payment=True)
    marker = link_paid(customer, 7500, booking_ids=customer.booking_ids[1:])
    await publish(kafka, marker)
    return marker


async def test_an_added_administrator_receives_the_next_email(
    bookpay: Bookpay, notifications: Notifications, stack: Stack, kafka: AIOKafkaProducer
) -> None:
    account = await bookpay.new_account(admins=1)
    [first_admin] = await admins_of(bookpay, account)
    customer, _ = await customer_with_bookings(bookpay, account, PADDLE_AND_CAVES)
    await notifications.wait_account(account, admins=[first_admin])
    await publish(kafka, link_paid(customer, 5000, booking_ids=customer.booking_ids[:1]))
    await wait_emails(stack, first_admin["email"])

    added = new_admin()
    await patch_account(bookpay, account, admins=[first_admin, added])
    await notifications.wait_account(account, admins=[first_admin, added])
    await publish(kafka, link_paid(customer, 7500, booking_ids=customer.booking_ids[1:]))

    [received] = await wait_emails(stack, added["email"])
    assert "$75.00" in received["subject"]
    assert len(await wait_emails(stack, first_admin["email"], count=2)) == 2


async def test_a_card_on_file_charge_sends_no_administrator_email(
    bookpay: Bookpay,
    notifications: Notifications,
    event_log: EventLog,
    stack: Stack,
    kafka: AIOKafkaProducer,
) -> None:
    account = await bookpay.new_account(admins=2)
    admins = [a["email"] for a in await admins_of(bookpay, account)]
    customer = await bookpay.new_customer(account, [5000, 7500])
    await bookpay.save_card(customer)
    charge_id = (await bookpay.charge_card_on_file(customer, 5000)).json()["charge_id"]
    assert (await bookpay.wait_charge_done(customer, charge_id))["status"] == "succeeded"
    await event_log.wait_for(topics.BOOKING_CHARGED, about("charge_id", charge_id))

    marker = link_paid(customer, 7500, booking_ids=customer.booking_ids[1:])
    await publish(kafka, marker)  # same key as the card payment: read after it

    for admin in admins:
        [received] = await wait_emails(stack, admin)
        assert "$75.00" in received["subject"]
    about_card = await notifications.deliveries(account, charge_id=charge_id)
    assert [d["kind"] for d in about_card] == ["receipt"]  # the customer's, not the admins'


# --- the customer's receipt ----------------------------------------------------------------


async def _pay(
    method: str, bookpay: Bookpay, links: Links, event_log: EventLog, stack: Stack, c: Customer
) -> str:
    """Pay 125.00 (both bookings) the way staff or the customer would with `method`."""
    if method == "card_on_file":
        await bookpay.save_card(c)
        return str((await bookpay.charge_card_on_file(c, 12500)).json()["charge_id"])
    if method == "new_card":
        return await charge_new_card(bookpay, c, 12500, await bookpay.tokenize(VISA), save=False)
    link = await links.new_link(event_log, c, 12500)
    async with links.page_client() as page:
        started = await start_payment(page, link.url)
        assert started.status_code == 200, started.text
        await _pay_with_a_card(stack, started.json()["client_secret"])
    return link.charge_id


def _receipts(emails: list[Email]) -> list[Email]:
    return [m for m in emails if "receipt for your payment" in m["subject"]]


@pytest.mark.parametrize("method", ["card_on_file", "new_card", "payment_link"])
async def test_the_customer_receives_one_receipt_after_each_kind_of_charge(
    method: str,
    bookpay: Bookpay,
    links: Links,
    notifications: Notifications,
    event_log: EventLog,
    stack: Stack,
) -> None:
    account = await bookpay.new_account()
    customer, email = await customer_with_bookings(bookpay, account, PADDLE_AND_CAVES)
    await bookpay.wait_known_to_charge_service(customer)

    charge_id = await _pay(method, bookpay, links, event_log, stack, customer)

    assert (await bookpay.wait_charge_done(customer, charge_id))["status"] == "succeeded"
    [paid] = await event_log.wait_for(topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id))
    receipt = await notifications.wait_delivery(account, kind="receipt", status="sent")
    assert (receipt["charge_id"], receipt["recipient"]) == (charge_id, email)
    [received] = _receipts(await stack.mail.messages(to=email))
    assert received["subject"] == f"{MERCHANT}: receipt for your payment of $125.00"
    text, html = body(received["text"]), body(received["html"])
    for fact in (
        "Sunset paddle (Sat 1 May 2027, 09:00 UTC)",
        "Sea cave tour (Sun 2 May 2027, 09:00 UTC)",
        "Amount paid: $125.00",
        "Paid with: Visa ending in 4242",  # the stand-in's every card
        f"Reference: {charge_id}",
        f"Stripe payment: {paid.get('stripe_payment_intent_id')}",
    ):
        assert fact in text
    assert charge_id in html and "Visa ending in 4242" in html
    await settle()
    assert len(_receipts(await stack.mail.messages(to=email))) == 1


async def test_no_receipt_once_the_account_turned_receipts_off(
    bookpay: Bookpay, notifications: Notifications, event_log: EventLog, stack: Stack
) -> None:
    account = await bookpay.new_account()
    customer, email = await customer_with_bookings(bookpay, account, PADDLE_AND_CAVES)
    await bookpay.wait_known_to_charge_service(customer)
    await bookpay.save_card(customer)
    assert (await patch_account(bookpay, account, send_receipts=False))["send_receipts"] is False
    await notifications.wait_account(account, send_receipts=False)

    silent = (await bookpay.charge_card_on_file(customer, 5000)).json()["charge_id"]
    assert (await bookpay.wait_charge_done(customer, silent))["status"] == "succeeded"
    # The setting is read when the receipt is decided: turn it back on only after that.
    assert await wait_receipt_decided(stack, uuid.UUID(silent)) == "turned_off"
    await patch_account(bookpay, account, send_receipts=True)
    await notifications.wait_account(account, send_receipts=True)
    marker = (await bookpay.charge_card_on_file(customer, 7500)).json()["charge_id"]

    # The second charge's PaymentSucceeded is read after the first's (same key): once its
    # receipt arrives, the first was decided, without one.
    [received] = _receipts(await wait_emails(stack, email))
    assert "$75.00" in received["subject"] and marker in body(received["text"])
    assert await notifications.deliveries(account, charge_id=silent) == []


# --- delivery ------------------------------------------------------------------------------


async def test_emails_wait_for_a_failing_smtp_server_and_arrive_once(
    bookpay: Bookpay,
    notifications: Notifications,
    system: Services,
    stack: Stack,
    kafka: AIOKafkaProducer,
) -> None:
    account = await bookpay.new_account()
    customer, email = await customer_with_bookings(bookpay, account, PADDLE_AND_CAVES)
    await stack.mail.set_fault("tempfail")
    try:
        await publish(
            kafka, link_created(customer, 12500, url=link_url(system), expires_at=EXPIRES)
        )
        waiting = await notifications.wait_delivery(account, status="pending", attempts=2)
        assert waiting["last_error"].startswith("451")
        assert await stack.mail.messages(to=email) == []
    finally:
        await stack.mail.set_fault("none")

    await wait_emails(stack, email)
    sent = await notifications.wait_delivery(account, status="sent")
    assert sent["attempts"] >= 3
    assert len(await stack.mail.messages(to=email)) == 1


async def test_emails_wait_for_an_smtp_server_that_is_down_and_arrive_once(
    bookpay: Bookpay,
    notifications: Notifications,
    system: Services,
    stack: Stack,
    kafka: AIOKafkaProducer,
) -> None:
    account = await bookpay.new_account()
    customer, email = await customer_with_bookings(bookpay, account, PADDLE_AND_CAVES)
    await stack.smtp.stop()
    try:
        await publish(
            kafka, link_created(customer, 12500, url=link_url(system), expires_at=EXPIRES)
        )
        waiting = await notifications.wait_delivery(account, status="pending", attempts=2)
        assert "cannot reach the SMTP server" in waiting["last_error"]
    finally:
        await stack.smtp.start()

    await wait_emails(stack, email)
    await notifications.wait_delivery(account, status="sent")
    assert len(await stack.mail.messages(to=email)) == 1


async def test_a_refused_email_is_recorded_as_failed_and_announced(
    bookpay: Bookpay,
    notifications: Notifications,
    event_log: EventLog,
    system: Services,
    stack: Stack,
    kafka: AIOKafkaProducer,
) -> None:
    account = await bookpay.new_account()
    customer, email = await customer_with_bookings(bookpay, account, PADDLE_AND_CAVES)
    await stack.mail.set_fault("permfail")
    try:
        link = link_created(customer, 12500, url=link_url(system), expires_at=EXPIRES)
        await publish(kafka, link)
        failed = await notifications.wait_delivery(account, status="failed")
    finally:
        await stack.mail.set_fault("none")
    await keeps_no_link(stack, failed["notification_id"], link.url)

    assert (failed["attempts"], failed["recipient"]) == (1, email)
    assert failed["last_error"].startswith("550")
    assert await notifications.deliveries(account, status="failed") == [failed]
    [announced] = await event_log.wait_for(
        topics.NOTIFICATION_FAILED, about("notification_id", failed["notification_id"])
    )
    assert announced.key == account
    assert (announced.get("recipient"), announced.get("kind")) == (email, "payment_link")
    assert announced.get("correlation_id") == str(link.charge_id)
    assert await stack.mail.messages(to=email) == []


async def test_killed_before_sending_the_email_is_sent_once_after_a_restart(
    bookpay: Bookpay,
    notifications: Notifications,
    system: Services,
    stack: Stack,
    kafka: AIOKafkaProducer,
) -> None:
    emails = await _killed_at(
        "notification.before_send", bookpay, notifications, system, stack, kafka
    )
    assert len(emails) == 1


async def test_killed_after_the_server_accepted_it_a_resend_keeps_the_message_id(
    bookpay: Bookpay,
    notifications: Notifications,
    system: Services,
    stack: Stack,
    kafka: AIOKafkaProducer,
) -> None:
    """The documented edge: the server has the email but `sent` was never recorded."""
    emails = await _killed_at(
        "notification.after_send", bookpay, notifications, system, stack, kafka
    )
    assert len(emails) == 2
    assert header(emails[0], "Message-ID") == header(emails[1], "Message-ID")


async def _killed_at(
    fault_point: str,
    bookpay: Bookpay,
    notifications: Notifications,
    system: Services,
    stack: Stack,
    kafka: AIOKafkaProducer,
) -> list[Email]:
    """Kill notification-service at `fault_point` while it sends a link email, restart it, and
    return the emails the customer received in the end."""
    account = await bookpay.new_account()
    customer, email = await customer_with_bookings(bookpay, account, PADDLE_AND_CAVES)
    doomed = await system.restart(
        "notification-service",
        {
            "NOTIFICATION_FAULT_POINTS": json.dumps([fault_point]),
            "NOTIFICATION_SEND_LEASE_SECONDS": "6",
            "NOTIFICATION_SMTP_TIMEOUT_SECONDS": "3",
        },
    )

    url = link_url(system)
    await publish(kafka, link_created(customer, 12500, url=url, expires_at=EXPIRES))

    assert await doomed.wait(timeout=60) == -signal.SIGKILL
    await system.restart("notification-service")
    expected = 2 if fault_point.endswith("after_send") else 1
    await wait_emails(stack, email, count=expected)
    sent = await notifications.wait_delivery(account, status="sent")
    assert sent["attempts"] == 2
    received = await stack.mail.messages(to=email)
    for message in received:  # the resend after the crash carries the link too
        assert f"Complete Payment: {url}" in body(message["text"])
    await keeps_no_link(stack, sent["notification_id"], url)
    return received
