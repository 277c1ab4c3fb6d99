"""Charge outcomes are counted from the events charge-service publishes, one per outcome."""

import uuid
from datetime import UTC, datetime

from bookpay_shared.events import ChargeMethod, ChargeRequested, Event, FailureReason
from bookpay_shared.metrics import Metrics
from bookpay_shared.outbox import PublishedEvent
from charge_service.adapters.charge_metrics import charge_outcomes
from charge_service.domain.model import Charge, ChargeStatus, Failure, authentication_failure


def charge(method: ChargeMethod, **changes: object) -> Charge:
    fields: dict[str, object] = {
        "charge_id": uuid.uuid4(),
        "account_id": uuid.UUID(int=1),
        "customer_id": uuid.UUID(int=2),
        "booking_ids": (uuid.UUID(int=3),),
        "amount": 1000,
        "currency": "usd",
        "method": method,
        "payment_method_id": None,
        "save_card": False,
        "message": None,
        "requested_by": "staff",
        "stripe_account_id": "acct_1",
    }
    return Charge(**{**fields, **changes})  # type: ignore[arg-type]


def published(*events: Event) -> list[PublishedEvent]:
    return [PublishedEvent(e.TOPIC, e.event_type, e.model_dump_json()) for e in events]


def charges(metrics: Metrics) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["method"], s.labels["outcome"], s.labels["reason"]): s.value
        for family in metrics.charges.collect()
        for s in family.samples
        if s.name == "bookpay_charges_total"
    }


def test_each_outcome_event_counts_once_by_method_outcome_and_reason() -> None:
    metrics = Metrics("charge-service")
    count = charge_outcomes(metrics)
    paid = charge(
        ChargeMethod.CARD_ON_FILE,
        status=ChargeStatus.SUCCEEDED,
        stripe_payment_intent_id="pi_1",
        paid_at=datetime.now(UTC),
    )
    declined = charge(
        ChargeMethod.NEW_CARD,
        status=ChargeStatus.FAILED,
        failure=Failure(FailureReason.CARD_DECLINED, "declined"),
    )
    to_link = charge(
        ChargeMethod.PAYMENT_LINK,
        status=ChargeStatus.AWAITING_CUSTOMER,
        failure=authentication_failure(on_session=False),
    )
    link = charge(ChargeMethod.PAYMENT_LINK, status=ChargeStatus.AWAITING_CUSTOMER)

    count(published(paid.succeeded_event(), paid.succeeded_event(), declined.failed_event()))
    count(published(to_link.failed_event(), link.accepted_event()))

    assert charges(metrics) == {
        ("card_on_file", "succeeded", ""): 2,
        ("new_card", "failed", "card_declined"): 1,
        ("payment_link", "continued_as_link", "authentication_required"): 1,
        ("payment_link", "accepted", ""): 1,
    }


def test_other_events_are_not_charge_outcomes() -> None:
    metrics = Metrics("charge-service")
    requested = ChargeRequested(
        correlation_id=uuid.UUID(int=9),
        charge_id=uuid.UUID(int=9),
        account_id=uuid.UUID(int=1),
        customer_id=uuid.UUID(int=2),
        booking_ids=[uuid.UUID(int=3)],
        amount=1000,
        currency="usd",
        method=ChargeMethod.CARD_ON_FILE,
        requested_by="staff",
    )

    charge_outcomes(metrics)(published(requested))

    assert charges(metrics) == {}
