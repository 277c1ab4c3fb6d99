"""What must hold after a chaos run, as pure functions over a `Snapshot` of the system's state.

Each invariant returns a `Verdict`: held or broken, with the ids that break it. The snapshot
is read from the real system by `chaos.snapshot`; the unit tests build snapshots by hand, to
show each invariant holding and broken.

Payments: nothing lost, nothing charged twice.
- `charges_end_once`: every charge the system accepted exists once in charge-service and
  ends in a terminal state (succeeded or failed); none is still in flight after the drain.
- `one_payment_per_charge`: at most one succeeded PaymentIntent per charge in Stripe, and the
  money Stripe captured for a charge equals what bookpay recorded as succeeded (nothing
  captured for a failed charge).
- `payments_applied_once`: each succeeded charge is received by booking-service once and
  applied to its bookings in full (applied + unapplied == amount); a charge that did not
  succeed is applied nowhere.
- `bookings_consistent`: a booking's amount paid is the sum of the payments applied to it and
  never above its amount.
- `over_collections_recorded`: an amount booking-service could not apply is recorded on the
  charge as over-collected, to be refunded.
Emails: nothing lost, none sent twice.
- `one_link_email_per_link`: each PaymentLinkCreated gives exactly one payment-link email
  (its notification ends sent or failed), delivered as at most one email (one Message-ID).
- `one_admin_email_per_paid_link`: each charge paid through a link gives each administrator
  exactly one email when the account asks for them, none when it does not.
- `one_receipt_per_succeeded_charge`: each succeeded charge, whatever its method, gives its
  customer exactly one receipt when the account sends receipts, none when it does not; no
  receipt for a charge that did not succeed.
- `smtp_duplicates_explained`: an email delivered more than once (same Message-ID) only where
  SMTP could not tell the sender it went out: the fault injector dropped the connection after
  DATA, or the sender stopped before recording the outcome (an interrupted attempt, counted by
  notification-service).
HTTP.
- `no_internal_errors`: no service answered 500 (a bug, by the HTTP contract) to the workload.
Events.
- `outbox_published`: every outbox row of every service's database was published.
- `dead_letters_only_poisoned`: every dead letter is a message the workload poisoned on
  purpose, and every poisoned message was dead-lettered.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

TERMINAL = frozenset({"succeeded", "failed"})
MAX_IDS = 50
"""Offending ids listed per invariant (the count is always complete)."""


@dataclass(frozen=True)
class Accepted:
    """A charge the system accepted (a 202, or a ChargeRequested acknowledged by Kafka)."""

    charge_id: str
    account_id: str
    customer_id: str
    booking_ids: tuple[str, ...]
    amount: int
    scenario: str


@dataclass(frozen=True)
class ChargeRow:
    charge_id: str
    account_id: str
    status: str
    amount: int
    method: str
    stripe_payment_intent_id: str | None
    over_collected_amount: int | None


@dataclass(frozen=True)
class Intent:
    """A PaymentIntent in Stripe."""

    intent_id: str
    charge_id: str | None
    """From the PaymentIntent's metadata."""
    status: str
    amount_received: int


@dataclass(frozen=True)
class Booking:
    booking_id: str
    amount: int
    amount_paid: int


@dataclass(frozen=True)
class Applied:
    booking_id: str
    charge_id: str
    amount: int


@dataclass(frozen=True)
class Received:
    charge_id: str
    amount: int
    unapplied: int


@dataclass(frozen=True)
class Notification:
    notification_id: str
    kind: str
    """`payment_link`, `admin_link_paid` or `receipt`."""
    dedupe_key: str
    charge_id: str | None
    recipient: str
    status: str
    interrupted_attempts: int = 0
    """Attempts that stopped before their outcome was recorded (the email may have gone out)."""


@dataclass(frozen=True)
class Email:
    """A message the SMTP sink received."""

    message_id: str
    notification_id: str | None
    """From the X-Bookpay-Notification header."""


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    offset: int
    value: bytes


@dataclass
class Snapshot:
    accepted: dict[str, Accepted] = field(default_factory=dict)
    charges: dict[str, ChargeRow] = field(default_factory=dict)
    intents: list[Intent] = field(default_factory=list)
    bookings: dict[str, Booking] = field(default_factory=dict)
    applied: list[Applied] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    links_created: dict[str, list[str]] = field(default_factory=dict)
    """charge_id -> event_ids of its PaymentLinkCreated events."""
    link_charges_paid: set[str] = field(default_factory=set)
    """Charges paid through a payment link (PaymentSucceeded with method payment_link)."""
    admins: dict[str, list[str]] = field(default_factory=dict)
    """account_id -> administrators' email addresses."""
    notify_admins: dict[str, bool] = field(default_factory=dict)
    send_receipts: dict[str, bool] = field(default_factory=dict)
    """account_id -> whether its customers receive receipts (true when not known)."""
    notifications: list[Notification] = field(default_factory=list)
    emails: list[Email] = field(default_factory=list)
    unpublished_outbox: dict[str, list[str]] = field(default_factory=dict)
    """database -> event_ids of outbox rows not published."""
    dead_letters: list[DeadLetter] = field(default_factory=list)
    poisoned: set[str] = field(default_factory=set)
    """Markers of the messages the workload poisoned on purpose."""
    smtp_drops_after_data: int = 0
    """Messages whose 250 the fault injector dropped."""
    internal_errors: list[str] = field(default_factory=list)
    """500 answers the workload received: `<step> <path>: <answer>`."""


@dataclass(frozen=True)
class Verdict:
    name: str
    held: bool
    offenders: tuple[str, ...] = ()
    count: int = 0
    note: str = ""


def verdict(name: str, offenders: Iterable[str], note: str = "") -> Verdict:
    found = sorted(set(offenders))
    return Verdict(name, not found, tuple(found[:MAX_IDS]), len(found), note)


def charges_end_once(s: Snapshot) -> Verdict:
    problems = []
    for charge_id in s.accepted:
        row = s.charges.get(charge_id)
        if row is None:
            problems.append(f"{charge_id}: lost (not in charge-service)")
        elif row.status not in TERMINAL:
            problems.append(f"{charge_id}: still {row.status}")
    return verdict("charges_end_once", problems)


def one_payment_per_charge(s: Snapshot) -> Verdict:
    captured: dict[str, list[Intent]] = defaultdict(list)
    for intent in s.intents:
        if intent.status == "succeeded" and intent.charge_id is not None:
            captured[intent.charge_id].append(intent)
    problems = []
    for charge_id, intents in captured.items():
        if len(intents) > 1:
            problems.append(f"{charge_id}: {len(intents)} succeeded PaymentIntents")
        row = s.charges.get(charge_id)
        recorded = row.amount if row is not None and row.status == "succeeded" else 0
        money = sum(i.amount_received for i in intents)
        if money != recorded:
            problems.append(f"{charge_id}: Stripe captured {money}, bookpay recorded {recorded}")
    for charge_id, row in s.charges.items():
        if row.status == "succeeded" and charge_id not in captured:
            problems.append(f"{charge_id}: succeeded in bookpay, no captured PaymentIntent")
    return verdict("one_payment_per_charge", problems)


def payments_applied_once(s: Snapshot) -> Verdict:
    received = Counter(r.charge_id for r in s.received)
    by_charge = {r.charge_id: r for r in s.received}
    applied: dict[str, int] = defaultdict(int)
    pairs = Counter((a.charge_id, a.booking_id) for a in s.applied)
    for a in s.applied:
        applied[a.charge_id] += a.amount
    problems = [f"{c}: applied twice to booking {b}" for (c, b), n in pairs.items() if n > 1]
    problems += [f"{c}: received {n} times" for c, n in received.items() if n > 1]
    for charge_id, row in s.charges.items():
        if row.status == "succeeded":
            got = by_charge.get(charge_id)
            if got is None:
                problems.append(f"{charge_id}: succeeded, never received by booking-service")
            elif applied[charge_id] + got.unapplied != row.amount:
                problems.append(
                    f"{charge_id}: applied {applied[charge_id]} + unapplied {got.unapplied}"
                    f" != {row.amount}"
                )
        elif charge_id in by_charge or applied[charge_id]:
            problems.append(f"{charge_id}: {row.status}, yet applied to bookings")
    return verdict("payments_applied_once", problems)


def bookings_consistent(s: Snapshot) -> Verdict:
    paid: dict[str, int] = defaultdict(int)
    for a in s.applied:
        paid[a.booking_id] += a.amount
    problems = []
    for booking in s.bookings.values():
        if booking.amount_paid != paid[booking.booking_id]:
            problems.append(
                f"{booking.booking_id}: amount_paid {booking.amount_paid}"
                f" != payments {paid[booking.booking_id]}"
            )
        if booking.amount_paid > booking.amount:
            problems.append(
                f"{booking.booking_id}: over-paid {booking.amount_paid} > {booking.amount}"
            )
    return verdict("bookings_consistent", problems)


def over_collections_recorded(s: Snapshot) -> Verdict:
    problems = []
    for r in s.received:
        row = s.charges.get(r.charge_id)
        recorded = row.over_collected_amount if row is not None else None
        if (recorded or 0) != r.unapplied:
            problems.append(
                f"{r.charge_id}: {r.unapplied} not applied, recorded over-collected {recorded}"
            )
    return verdict("over_collections_recorded", problems)


def _delivered(s: Snapshot) -> dict[str, set[str]]:
    """notification id -> distinct Message-IDs delivered for it."""
    found: dict[str, set[str]] = defaultdict(set)
    for email in s.emails:
        if email.notification_id is not None:
            found[email.notification_id].add(email.message_id)
    return found


def _email_problems(n: Notification, delivered: dict[str, set[str]]) -> list[str]:
    copies = len(delivered.get(n.notification_id, set()))
    if n.status not in ("sent", "failed"):
        return [f"{n.notification_id}: {n.kind} email still {n.status}"]
    if n.status == "sent" and copies != 1:
        return [f"{n.notification_id}: {n.kind} email sent, {copies} distinct emails received"]
    if copies > 1:
        return [f"{n.notification_id}: {n.kind} email delivered as {copies} distinct emails"]
    return []


def one_link_email_per_link(s: Snapshot) -> Verdict:
    delivered = _delivered(s)
    by_key: dict[str, list[Notification]] = defaultdict(list)
    for n in s.notifications:
        if n.kind == "payment_link":
            by_key[n.dedupe_key].append(n)
    problems = []
    for charge_id, event_ids in s.links_created.items():
        for event_id in event_ids:
            found = by_key.get(f"payment-link:{event_id}", [])
            if len(found) != 1:
                problems.append(f"{charge_id}: {len(found)} emails for link event {event_id}")
            for n in found:
                problems += _email_problems(n, delivered)
    return verdict("one_link_email_per_link", problems)


def one_admin_email_per_paid_link(s: Snapshot) -> Verdict:
    delivered = _delivered(s)
    per_charge: dict[str, Counter[str]] = defaultdict(Counter)
    problems = []
    for n in s.notifications:
        if n.kind == "admin_link_paid" and n.charge_id is not None:
            per_charge[n.charge_id][n.recipient.lower()] += 1
            problems += _email_problems(n, delivered)
            if n.charge_id not in s.link_charges_paid:
                problems.append(
                    f"{n.charge_id}: administrators' email for a charge not paid by link"
                )
    for charge_id in s.link_charges_paid:
        row = s.charges.get(charge_id)
        account = row.account_id if row is not None else ""
        wanted = (
            Counter(a.lower() for a in s.admins.get(account, []))
            if s.notify_admins.get(account, True)
            else Counter()
        )
        if per_charge.get(charge_id, Counter()) != wanted:
            problems.append(
                f"{charge_id}: administrators' emails {dict(per_charge.get(charge_id, {}))},"
                f" expected {dict(wanted)}"
            )
    return verdict("one_admin_email_per_paid_link", problems)


def one_receipt_per_succeeded_charge(s: Snapshot) -> Verdict:
    delivered = _delivered(s)
    receipts: Counter[str] = Counter()
    problems = []
    for n in s.notifications:
        if n.kind == "receipt" and n.charge_id is not None:
            receipts[n.charge_id] += 1
            problems += _email_problems(n, delivered)
    for charge_id, count in receipts.items():
        row = s.charges.get(charge_id)
        if row is None or row.status != "succeeded":
            problems.append(f"{charge_id}: {count} receipt(s) for a charge that did not succeed")
    for row in s.charges.values():
        if row.status != "succeeded":
            continue
        wanted = 1 if s.send_receipts.get(row.account_id, True) else 0
        if receipts[row.charge_id] != wanted:
            problems.append(
                f"{row.charge_id}: {receipts[row.charge_id]} receipt(s), expected {wanted}"
            )
    return verdict("one_receipt_per_succeeded_charge", problems)


def smtp_duplicates_explained(s: Snapshot) -> Verdict:
    interrupted = {n.notification_id: n.interrupted_attempts for n in s.notifications}
    copies = Counter(e.message_id for e in s.emails)
    notification_of = {e.message_id: e.notification_id for e in s.emails}
    repeated = {m: n - 1 for m, n in copies.items() if n > 1}
    unexplained = {
        m: extra - min(extra, interrupted.get(notification_of[m] or "", 0))
        for m, extra in repeated.items()
    }
    extra = sum(repeated.values())
    left = sum(unexplained.values())
    note = (
        f"{extra} redelivered: {extra - left} after an interrupted attempt,"
        f" {s.smtp_drops_after_data} dropped after DATA"
    )
    if left <= s.smtp_drops_after_data:
        return Verdict("smtp_duplicates_explained", True, note=note)
    return verdict(
        "smtp_duplicates_explained",
        [f"{m}: {n + 1} copies" for m, n in repeated.items() if unexplained[m]],
        note=note,
    )


def no_internal_errors(s: Snapshot) -> Verdict:
    return verdict("no_internal_errors", s.internal_errors)


def outbox_published(s: Snapshot) -> Verdict:
    return verdict(
        "outbox_published",
        [f"{db}: {event_id}" for db, ids in s.unpublished_outbox.items() for event_id in ids],
    )


def dead_letters_only_poisoned(s: Snapshot) -> Verdict:
    problems = []
    seen = set()
    for letter in s.dead_letters:
        text = letter.value.decode(errors="replace")
        markers = [m for m in s.poisoned if m in text]
        if not markers:
            problems.append(f"{letter.topic}@{letter.offset}: {text[:120]}")
        seen.update(markers)
    problems += [f"{m}: poisoned, never dead-lettered" for m in s.poisoned - seen]
    return verdict("dead_letters_only_poisoned", problems)


INVARIANTS: tuple[Callable[[Snapshot], Verdict], ...] = (
    charges_end_once,
    one_payment_per_charge,
    payments_applied_once,
    bookings_consistent,
    over_collections_recorded,
    one_link_email_per_link,
    one_admin_email_per_paid_link,
    one_receipt_per_succeeded_charge,
    smtp_duplicates_explained,
    no_internal_errors,
    outbox_published,
    dead_letters_only_poisoned,
)


def check(s: Snapshot) -> list[Verdict]:
    return [invariant(s) for invariant in INVARIANTS]
