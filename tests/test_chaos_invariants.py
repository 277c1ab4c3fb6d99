"""The chaos run's invariants on hand-built snapshots: a consistent system makes every one hold,
and each can be broken, naming what breaks it (so the checker can fail)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaos import invariants as inv
from chaos.invariants import (
    Accepted,
    Applied,
    Booking,
    ChargeRow,
    DeadLetter,
    Email,
    Intent,
    Notification,
    Received,
    Snapshot,
)

ACCOUNT = "acct-1"
ADMINS = ["a1@example.com", "a2@example.com"]


def healthy() -> Snapshot:
    """Three charges: a card on file paid (partly over-collected), one declined, one paid by a
    link (with its link email and both administrators' emails), a receipt for each paid one,
    plus one poisoned message."""
    s = Snapshot()
    s.accepted = {
        c: Accepted(c, ACCOUNT, "cust-1", ("b1",), amount, "test")
        for c, amount in (("c-paid", 3000), ("c-declined", 1000), ("c-link", 2000))
    }
    s.charges = {
        "c-paid": ChargeRow("c-paid", ACCOUNT, "succeeded", 3000, "card_on_file", "pi_1", 500),
        "c-declined": ChargeRow("c-declined", ACCOUNT, "failed", 1000, "card_on_file", None, None),
        "c-link": ChargeRow("c-link", ACCOUNT, "succeeded", 2000, "payment_link", "pi_2", None),
    }
    s.intents = [
        Intent("pi_1", "c-paid", "succeeded", 3000),
        Intent("pi_0", "c-declined", "requires_payment_method", 0),
        Intent("pi_2", "c-link", "succeeded", 2000),
    ]
    s.bookings = {"b1": Booking("b1", 5000, 4500), "b2": Booking("b2", 1000, 0)}
    s.applied = [Applied("b1", "c-paid", 2500), Applied("b1", "c-link", 2000)]
    s.received = [Received("c-paid", 3000, 500), Received("c-link", 2000, 0)]
    s.links_created = {"c-link": ["ev-1"]}
    s.link_charges_paid = {"c-link"}
    s.admins = {ACCOUNT: list(ADMINS)}
    s.notify_admins = {ACCOUNT: True}
    s.notifications = [
        Notification("n-link", "payment_link", "payment-link:ev-1", "c-link", "ada@x", "sent"),
        Notification("n-a1", "admin_link_paid", "k", "c-link", ADMINS[0], "sent"),
        Notification("n-a2", "admin_link_paid", "k", "c-link", ADMINS[1], "sent"),
        Notification("n-r1", "receipt", "receipt:c-paid", "c-paid", "ada@x", "sent"),
        Notification("n-r2", "receipt", "receipt:c-link", "c-link", "ada@x", "sent"),
    ]
    s.send_receipts = {ACCOUNT: True}
    s.emails = [Email(f"<{n}@x>", n) for n in ("n-link", "n-a1", "n-a2", "n-r1", "n-r2")]
    s.unpublished_outbox = {"charge": [], "booking": []}
    s.poisoned = {"chaos-poison-1"}
    s.dead_letters = [DeadLetter("charge-requested.dlq", 0, b'{"marker": "chaos-poison-1", ')]
    return s


def test_a_consistent_system_holds_every_invariant() -> None:
    verdicts = inv.check(healthy())
    assert [v.name for v in verdicts if not v.held] == []
    assert len(verdicts) == len(inv.INVARIANTS)


Breakage = Callable[[Snapshot], None]


def lose_a_charge(s: Snapshot) -> None:
    del s.charges["c-declined"]


def leave_in_flight(s: Snapshot) -> None:
    s.charges["c-declined"] = dataclasses.replace(s.charges["c-declined"], status="processing")


def charge_twice(s: Snapshot) -> None:
    s.intents.append(Intent("pi_3", "c-paid", "succeeded", 3000))


def capture_for_a_failed_charge(s: Snapshot) -> None:
    s.intents.append(Intent("pi_4", "c-declined", "succeeded", 1000))


def record_success_without_money(s: Snapshot) -> None:
    s.intents = [i for i in s.intents if i.intent_id != "pi_2"]


def apply_twice(s: Snapshot) -> None:
    s.applied.append(Applied("b1", "c-link", 2000))


def never_apply(s: Snapshot) -> None:
    s.received = [r for r in s.received if r.charge_id != "c-link"]
    s.applied = [a for a in s.applied if a.charge_id != "c-link"]


def apply_a_failed_charge(s: Snapshot) -> None:
    s.received.append(Received("c-declined", 1000, 1000))


def drift_amount_paid(s: Snapshot) -> None:
    s.bookings["b1"] = dataclasses.replace(s.bookings["b1"], amount_paid=4000)


def over_pay(s: Snapshot) -> None:
    s.bookings["b2"] = dataclasses.replace(s.bookings["b2"], amount_paid=1500)
    s.applied.append(Applied("b2", "c-paid", 1500))


def forget_over_collection(s: Snapshot) -> None:
    s.charges["c-paid"] = dataclasses.replace(s.charges["c-paid"], over_collected_amount=None)


def send_link_email_twice(s: Snapshot) -> None:
    s.emails.append(Email("<n-link-again@x>", "n-link"))


def lose_link_email(s: Snapshot) -> None:
    s.notifications = [n for n in s.notifications if n.kind != "payment_link"]


def leave_email_pending(s: Snapshot) -> None:
    s.notifications[0] = dataclasses.replace(s.notifications[0], status="pending")


def email_one_admin_twice(s: Snapshot) -> None:
    s.notifications.append(
        Notification("n-a1b", "admin_link_paid", "k2", "c-link", ADMINS[0], "failed")
    )


def email_admins_who_opted_out(s: Snapshot) -> None:
    s.notify_admins[ACCOUNT] = False


def lose_a_receipt(s: Snapshot) -> None:
    s.notifications = [n for n in s.notifications if n.notification_id != "n-r2"]


def send_a_receipt_twice(s: Snapshot) -> None:
    s.notifications.append(Notification("n-r1b", "receipt", "k3", "c-paid", "ada@x", "failed"))


def send_a_receipt_for_a_declined_charge(s: Snapshot) -> None:
    s.notifications.append(
        Notification("n-r3", "receipt", "receipt:c-declined", "c-declined", "ada@x", "failed")
    )


def send_receipts_the_account_turned_off(s: Snapshot) -> None:
    s.send_receipts[ACCOUNT] = False


def deliver_a_receipt_twice(s: Snapshot) -> None:
    s.emails.append(Email("<n-r1-again@x>", "n-r1"))


def redeliver_without_a_drop(s: Snapshot) -> None:
    s.emails.append(Email("<n-a1@x>", "n-a1"))


def answer_500(s: Snapshot) -> None:
    s.internal_errors.append("charge /v1/accounts/a/charges: 500 internal error")


def leave_outbox_row(s: Snapshot) -> None:
    s.unpublished_outbox["booking"] = ["ev-9"]


def dead_letter_a_good_event(s: Snapshot) -> None:
    s.dead_letters.append(DeadLetter("payment-succeeded.dlq", 4, b'{"charge_id": "c-paid"}'))


def never_dead_letter_the_poison(s: Snapshot) -> None:
    s.dead_letters = []


BREAKAGES: list[tuple[Callable[[Snapshot], inv.Verdict], Breakage, str]] = [
    (inv.charges_end_once, lose_a_charge, "c-declined: lost"),
    (inv.charges_end_once, leave_in_flight, "c-declined: still processing"),
    (inv.one_payment_per_charge, charge_twice, "c-paid: 2 succeeded PaymentIntents"),
    (inv.one_payment_per_charge, capture_for_a_failed_charge, "c-declined: Stripe captured 1000"),
    (inv.one_payment_per_charge, record_success_without_money, "c-link: succeeded in bookpay"),
    (inv.payments_applied_once, apply_twice, "c-link: applied twice to booking b1"),
    (inv.payments_applied_once, never_apply, "c-link: succeeded, never received"),
    (inv.payments_applied_once, apply_a_failed_charge, "c-declined: failed, yet applied"),
    (inv.bookings_consistent, drift_amount_paid, "b1: amount_paid 4000"),
    (inv.bookings_consistent, over_pay, "b2: over-paid 1500 > 1000"),
    (inv.over_collections_recorded, forget_over_collection, "c-paid: 500 not applied"),
    (inv.one_link_email_per_link, send_link_email_twice, "n-link: payment_link email sent, 2"),
    (inv.one_link_email_per_link, lose_link_email, "c-link: 0 emails for link event ev-1"),
    (inv.one_link_email_per_link, leave_email_pending, "n-link: payment_link email still"),
    (inv.one_admin_email_per_paid_link, email_one_admin_twice, "c-link: administrators' emails"),
    (inv.one_admin_email_per_paid_link, email_admins_who_opted_out, "c-link: administrators"),
    (inv.one_receipt_per_succeeded_charge, lose_a_receipt, "c-link: 0 receipt(s), expected 1"),
    (inv.one_receipt_per_succeeded_charge, send_a_receipt_twice, "c-paid: 2 receipt(s)"),
    (
        inv.one_receipt_per_succeeded_charge,
        send_a_receipt_for_a_declined_charge,
        "c-declined: 1 receipt(s) for a charge that did not succeed",
    ),
    (inv.one_receipt_per_succeeded_charge, send_receipts_the_account_turned_off, "c-paid: 1"),
    (inv.one_receipt_per_succeeded_charge, deliver_a_receipt_twice, "n-r1: receipt email sent, 2"),
    (inv.smtp_duplicates_explained, redeliver_without_a_drop, "<n-a1@x>: 2 copies"),
    (inv.no_internal_errors, answer_500, "charge /v1/accounts/a/charges: 500"),
    (inv.outbox_published, leave_outbox_row, "booking: ev-9"),
    (inv.dead_letters_only_poisoned, dead_letter_a_good_event, "payment-succeeded.dlq@4"),
    (inv.dead_letters_only_poisoned, never_dead_letter_the_poison, "chaos-poison-1: poisoned"),
]


@pytest.mark.parametrize(
    ("invariant", "breakage", "offender"),
    BREAKAGES,
    ids=[b.__name__ for _, b, _ in BREAKAGES],
)
def test_each_invariant_breaks_and_names_the_offender(
    invariant: Callable[[Snapshot], inv.Verdict], breakage: Breakage, offender: str
) -> None:
    snapshot = healthy()
    assert invariant(snapshot).held
    breakage(snapshot)

    broken = invariant(snapshot)

    assert not broken.held
    assert broken.count == len(broken.offenders) >= 1
    assert any(o.startswith(offender) for o in broken.offenders), broken.offenders


def test_every_invariant_has_a_breakage() -> None:
    assert {i.__name__ for i, _, _ in BREAKAGES} == {i.__name__ for i in inv.INVARIANTS}


def test_a_redelivery_after_a_dropped_reply_is_explained() -> None:
    snapshot = healthy()
    redeliver_without_a_drop(snapshot)
    snapshot.smtp_drops_after_data = 1

    assert inv.smtp_duplicates_explained(snapshot).held
    assert inv.one_admin_email_per_paid_link(snapshot).held  # one Message-ID, one email


def test_a_redelivery_after_an_interrupted_attempt_is_explained() -> None:
    snapshot = healthy()
    redeliver_without_a_drop(snapshot)
    snapshot.notifications = [
        replace(n, interrupted_attempts=1) if n.notification_id == "n-a1" else n
        for n in snapshot.notifications
    ]

    assert inv.smtp_duplicates_explained(snapshot).held


def test_an_interrupted_attempt_explains_only_its_own_email() -> None:
    snapshot = healthy()
    redeliver_without_a_drop(snapshot)
    snapshot.notifications = [
        replace(n, interrupted_attempts=1) if n.notification_id == "n-a2" else n
        for n in snapshot.notifications
    ]

    assert not inv.smtp_duplicates_explained(snapshot).held


def test_offenders_are_capped_but_counted() -> None:
    snapshot = healthy()
    snapshot.unpublished_outbox["charge"] = [f"ev-{i:03d}" for i in range(inv.MAX_IDS + 7)]

    broken = inv.outbox_published(snapshot)

    assert (broken.count, len(broken.offenders)) == (inv.MAX_IDS + 7, inv.MAX_IDS)
