import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from bookpay_shared.events import ChargeMethod, FailureReason
from charge_service.domain.model import (
    BalanceClaim,
    Charge,
    ChargeStatus,
    InvalidTransition,
    SavedCard,
    amount_claimed,
    check_transition,
    choose_card,
    no_card_failure,
)


def card(pm: str, *, default: bool = False) -> SavedCard:
    return SavedCard(
        pm, uuid.UUID(int=1), uuid.UUID(int=2), "acct_1", "visa", "4242", 12, 2030, None, default
    )


def charge(**changes: object) -> Charge:
    base = Charge(
        charge_id=uuid.UUID(int=9),
        account_id=uuid.UUID(int=1),
        customer_id=uuid.UUID(int=2),
        booking_ids=(uuid.UUID(int=3), uuid.UUID(int=4)),
        amount=1000,
        currency="usd",
        method=ChargeMethod.CARD_ON_FILE,
        payment_method_id=None,
        save_card=False,
        message=None,
        requested_by="staff",
    )
    asked = {
        k: v
        for k, v in base.__dict__.items()
        if k not in ("requested_method", "requested_payment_method_id")
    }
    return Charge(**{**asked, **changes})


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (ChargeStatus.REQUESTED, ChargeStatus.PROCESSING),
        (ChargeStatus.REQUESTED, ChargeStatus.FAILED),
        (ChargeStatus.PROCESSING, ChargeStatus.SUCCEEDED),
        (ChargeStatus.PROCESSING, ChargeStatus.FAILED),
        (ChargeStatus.FAILED, ChargeStatus.PROCESSING),
        (ChargeStatus.FAILED, ChargeStatus.SUCCEEDED),
        (ChargeStatus.AWAITING_CUSTOMER, ChargeStatus.SUCCEEDED),
        (ChargeStatus.AWAITING_CUSTOMER, ChargeStatus.FAILED),
    ],
)
def test_allowed_transitions(current: ChargeStatus, target: ChargeStatus) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (ChargeStatus.SUCCEEDED, ChargeStatus.PROCESSING),
        (ChargeStatus.SUCCEEDED, ChargeStatus.FAILED),
        (ChargeStatus.REQUESTED, ChargeStatus.SUCCEEDED),
    ],
)
def test_refused_transitions(current: ChargeStatus, target: ChargeStatus) -> None:
    with pytest.raises(InvalidTransition):
        check_transition(current, target)


def test_the_requested_card_wins_over_the_default() -> None:
    cards = [card("pm_a", default=True), card("pm_b")]
    assert choose_card(cards, "pm_b") == cards[1]
    assert choose_card(cards, "pm_unknown") is None


def test_default_card_then_newest() -> None:
    assert choose_card([card("pm_a"), card("pm_b", default=True)], None).payment_method_id == "pm_b"  # type: ignore[union-attr]
    assert choose_card([card("pm_a"), card("pm_b")], None).payment_method_id == "pm_b"  # type: ignore[union-attr]
    assert choose_card([], None) is None


def test_same_request_ignores_booking_order_but_not_amount() -> None:
    a = charge()
    assert a.same_request(charge(booking_ids=tuple(reversed(a.booking_ids))))
    assert not a.same_request(charge(amount=999))


def test_a_repeat_without_the_card_matches_a_card_on_file_charge_whose_card_was_chosen() -> None:
    started = replace(charge(), payment_method_id="pm_default", status=ChargeStatus.PROCESSING)
    assert started.same_request(charge())
    assert not started.same_request(charge(payment_method_id="pm_other"))
    assert not started.same_request(
        charge(method=ChargeMethod.NEW_CARD, payment_method_id="pm_other")
    )


def test_idempotency_keys_derive_from_the_charge_id() -> None:
    c = charge(attempts=1)
    assert c.idempotency_key == f"charge:{c.charge_id}"
    assert c.confirm_idempotency_key == f"charge:{c.charge_id}:confirm:1"


def test_events_carry_the_charge_as_correlation() -> None:
    paid = charge(
        status=ChargeStatus.SUCCEEDED,
        stripe_payment_intent_id="pi_1",
        card_brand="visa",
        card_last4="4242",
        paid_at=datetime.now(UTC),
    )
    event = paid.succeeded_event()
    assert event.correlation_id == paid.charge_id
    assert event.key() == str(paid.customer_id)
    assert (event.card_brand, event.card_last4) == ("visa", "4242")
    failed = charge(status=ChargeStatus.FAILED, failure=no_card_failure(None)).failed_event()
    assert failed.reason is FailureReason.NO_CARD_ON_FILE


def test_a_repeat_is_compared_with_what_was_asked_not_with_what_the_charge_became() -> None:
    asked = charge(method=ChargeMethod.CARD_ON_FILE, payment_method_id=None)
    became = replace(asked, method=ChargeMethod.PAYMENT_LINK, payment_method_id="pm_chosen_default")
    assert became.same_request(asked)
    assert not became.same_request(replace(asked, requested_payment_method_id="pm_other"))


def claim(status: ChargeStatus, *, awaits: bool = True, not_settled: int = 0) -> BalanceClaim:
    return BalanceClaim(uuid.uuid4(), 1000, status, awaits, not_settled)


@pytest.mark.parametrize(
    ("status", "awaits", "not_settled", "counts"),
    [
        (ChargeStatus.REQUESTED, True, 1, True),
        (ChargeStatus.PROCESSING, True, 0, True),
        (ChargeStatus.AWAITING_CUSTOMER, False, 0, True),
        # Paid, not yet applied to every booking: the balance due we see does not include it.
        (ChargeStatus.SUCCEEDED, True, 2, True),
        (ChargeStatus.SUCCEEDED, True, 1, True),
        (ChargeStatus.SUCCEEDED, True, 0, False),
        # Paid before settlement was tracked: taken as applied.
        (ChargeStatus.SUCCEEDED, False, 1, False),
        (ChargeStatus.FAILED, True, 1, False),
    ],
)
def test_which_charges_take_from_the_balance_due(
    status: ChargeStatus, awaits: bool, not_settled: int, counts: bool
) -> None:
    assert claim(status, awaits=awaits, not_settled=not_settled).counts is counts


def test_amount_claimed_adds_up_the_charges_that_count() -> None:
    claims = [
        claim(ChargeStatus.PROCESSING),
        claim(ChargeStatus.SUCCEEDED, not_settled=1),
        claim(ChargeStatus.SUCCEEDED, not_settled=0),
        claim(ChargeStatus.FAILED),
    ]
    assert amount_claimed(claims) == 2000
