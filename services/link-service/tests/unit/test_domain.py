import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from bookpay_shared.events import (
    ChargeAccepted,
    ChargeMethod,
    FailureReason,
    PaymentFailed,
)
from link_service.domain.links import (
    MAX_EXPIRY_HOURS,
    InvalidTransition,
    LinkOrigin,
    LinkState,
    check_transition,
    expiry,
    new_link,
    paid_elsewhere,
    starts_link,
)

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
ACCOUNT, CUSTOMER, BOOKING = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def charge_accepted(**changes: object) -> ChargeAccepted:
    charge_id = uuid.uuid4()
    fields: dict[str, object] = {
        "correlation_id": charge_id,
        "charge_id": charge_id,
        "account_id": ACCOUNT,
        "customer_id": CUSTOMER,
        "booking_ids": [BOOKING],
        "amount": 12500,
        "currency": "usd",
        "method": ChargeMethod.PAYMENT_LINK,
        "requested_by": "front desk",
        "message": "See you soon",
    }
    fields.update(changes)
    return ChargeAccepted.model_validate(fields)


def authentication_needed(**changes: object) -> PaymentFailed:
    charge_id = uuid.uuid4()
    fields: dict[str, object] = {
        "correlation_id": charge_id,
        "charge_id": charge_id,
        "account_id": ACCOUNT,
        "customer_id": CUSTOMER,
        "booking_ids": [BOOKING],
        "amount": 8800,
        "currency": "eur",
        "method": ChargeMethod.CARD_ON_FILE,
        "reason": FailureReason.AUTHENTICATION_REQUIRED,
        "message": "The bank wants the customer",
        "retryable": False,
        "stripe_payment_intent_id": "pi_123",
        "next_action": "payment_link",
    }
    fields.update(changes)
    return PaymentFailed.model_validate(fields)


def test_only_payment_link_charges_and_fallbacks_start_links() -> None:
    assert starts_link(charge_accepted())
    assert starts_link(authentication_needed())
    assert not starts_link(authentication_needed(next_action=None))
    assert not starts_link(authentication_needed(stripe_payment_intent_id=None))


def test_a_payment_link_charge_makes_an_active_link_without_a_payment_intent() -> None:
    event = charge_accepted()
    link = new_link(event, now=NOW, expires_at=NOW + timedelta(days=7))
    assert (link.state, link.origin, link.payment_intent_id) == (
        LinkState.ACTIVE,
        LinkOrigin.PAYMENT_LINK,
        None,
    )
    assert (link.charge_id, link.amount, link.currency, link.message) == (
        event.charge_id,
        12500,
        "usd",
        "See you soon",
    )
    assert link.intent_is_ours


def test_a_fallback_link_completes_the_charges_own_payment_intent() -> None:
    link = new_link(authentication_needed(), now=NOW, expires_at=NOW + timedelta(days=7))
    assert link.origin is LinkOrigin.AUTHENTICATION_FALLBACK
    assert link.payment_intent_id == "pi_123"
    assert link.message is None
    assert not link.intent_is_ours
    assert link.intent_needs_checking


def test_expiry_prefers_the_request_then_the_account_then_the_default() -> None:
    assert expiry(NOW, 5, 48, 168) == NOW + timedelta(hours=5)
    assert expiry(NOW, None, 48, 168) == NOW + timedelta(hours=48)
    assert expiry(NOW, None, None, 168) == NOW + timedelta(hours=168)
    assert expiry(NOW, 10**6, None, 168) == NOW + timedelta(hours=MAX_EXPIRY_HOURS)


def test_an_active_link_past_its_expiry_reads_expired() -> None:
    link = new_link(charge_accepted(), now=NOW, expires_at=NOW + timedelta(hours=1))
    assert link.state_at(NOW) is LinkState.ACTIVE
    assert link.state_at(NOW + timedelta(hours=1)) is LinkState.EXPIRED


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (LinkState.ACTIVE, LinkState.PAID),
        (LinkState.ACTIVE, LinkState.EXPIRED),
        (LinkState.ACTIVE, LinkState.CANCELLED),
        (LinkState.EXPIRED, LinkState.PAID),
        (LinkState.CANCELLED, LinkState.PAID),
    ],
)
def test_allowed_transitions(current: LinkState, new: LinkState) -> None:
    check_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (LinkState.PAID, LinkState.CANCELLED),
        (LinkState.PAID, LinkState.ACTIVE),
        (LinkState.EXPIRED, LinkState.ACTIVE),
        (LinkState.CANCELLED, LinkState.EXPIRED),
    ],
)
def test_refused_transitions(current: LinkState, new: LinkState) -> None:
    with pytest.raises(InvalidTransition):
        check_transition(current, new)


def test_events_and_metadata_come_from_the_link() -> None:
    link = new_link(charge_accepted(), now=NOW, expires_at=NOW + timedelta(days=7))
    created = link.created_event("https://pay.example/pay/abc")
    assert (created.link_id, created.charge_id, created.url) == (
        link.link_id,
        link.charge_id,
        "https://pay.example/pay/abc",
    )
    assert created.key() == str(CUSTOMER) and created.correlation_id == link.charge_id
    paid = link.paid_event("pi_9", save_card=True)
    assert (paid.stripe_payment_intent_id, paid.save_card) == ("pi_9", True)
    assert link.intent_metadata(save_card=False) == {
        "charge_id": str(link.charge_id),
        "link_id": str(link.link_id),
        "account_id": str(ACCOUNT),
        "customer_id": str(CUSTOMER),
        "booking_ids": str(BOOKING),
        "method": "payment_link",
        "save_card": "false",
    }
    assert link.intent_idempotency_key == f"link:{link.link_id}:payment_intent"


@pytest.mark.parametrize(
    ("state", "reason"), [(LinkState.EXPIRED, "expired"), (LinkState.CANCELLED, "cancelled")]
)
def test_a_closed_link_announces_why(state: LinkState, reason: str) -> None:
    link = new_link(charge_accepted(), now=NOW, expires_at=NOW + timedelta(days=7))

    closed = replace(link, state=state).closed_event()

    assert (closed.link_id, closed.charge_id, closed.reason) == (
        link.link_id,
        link.charge_id,
        reason,
    )
    assert (closed.account_id, closed.customer_id) == (ACCOUNT, CUSTOMER)
    assert closed.correlation_id == link.charge_id
    assert closed.key() == str(CUSTOMER)
    assert closed.TOPIC == "payment-link-closed"


@pytest.mark.parametrize("state", [LinkState.ACTIVE, LinkState.PAID])
def test_only_a_closed_link_is_announced_closed(state: LinkState) -> None:
    link = new_link(charge_accepted(), now=NOW, expires_at=NOW + timedelta(days=7))
    with pytest.raises(ValueError, match="not closed"):
        replace(link, state=state).closed_event()


def test_a_link_whose_bookings_now_owe_less_than_it_asks_was_paid_elsewhere() -> None:
    link = new_link(charge_accepted(amount=12500), now=NOW, expires_at=NOW + timedelta(days=7))
    assert not paid_elsewhere(link, [5000, 7500])
    assert not paid_elsewhere(link, [10000, 7500])  # a part paid, still enough due
    assert paid_elsewhere(link, [0, 7500])
    assert paid_elsewhere(link, [0, 0])
    assert not paid_elsewhere(link, None)  # not every booking known: no reason to refuse
    fallback = new_link(authentication_needed(), now=NOW, expires_at=NOW + timedelta(days=7))
    assert not paid_elsewhere(fallback, [0, 0])


def test_a_link_is_pinned_to_the_stripe_account_connected_when_it_is_made() -> None:
    link = new_link(
        charge_accepted(), now=NOW, expires_at=NOW + timedelta(days=7), connected_to="acct_1Then"
    )

    paid = link.paid_event("pi_1", save_card=False)

    assert link.stripe_account_id == "acct_1Then"
    assert paid.stripe_account_id == "acct_1Then"


def test_a_fallback_link_is_pinned_to_its_charge_s_stripe_account() -> None:
    fallback = new_link(
        authentication_needed(stripe_account_id="acct_1OfTheCharge"),
        now=NOW,
        expires_at=NOW + timedelta(days=7),
        connected_to="acct_1ConnectedSince",
    )

    assert fallback.stripe_account_id == "acct_1OfTheCharge"
