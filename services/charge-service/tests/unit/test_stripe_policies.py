"""Stripe-facing policies that need no infrastructure: retries, webhook signatures, and which
PaymentIntent may complete which charge. Uses the FakeStripeGateway test double."""

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest
from bookpay_shared.consuming import TransientError
from bookpay_shared.events import ChargeMethod, FailureReason
from bookpay_shared.faults import NO_FAULTS
from charge_service.adapters.fake_stripe import FakeStripeGateway
from charge_service.domain.model import Charge, ChargeStatus, Failure
from charge_service.usecases import link_payments, outcomes, webhooks
from charge_service.usecases.deps import Deps, stripe_call
from charge_service.usecases.stripe_types import IntentResult

SECRET = "whsec_unit_test_secret"
ACCOUNT = "acct_unit"


def deps(stripe: FakeStripeGateway | None = None, *, webhook_secret: str = SECRET) -> Deps:
    return Deps(
        stripe=stripe or FakeStripeGateway(),
        faults=NO_FAULTS,
        stripe_max_attempts=3,
        webhook_secret=webhook_secret,
    )


def charge(**changes: Any) -> Charge:
    base = Charge(
        charge_id=uuid.UUID(int=7),
        account_id=uuid.UUID(int=1),
        customer_id=uuid.UUID(int=2),
        booking_ids=(uuid.UUID(int=3),),
        amount=4200,
        currency="usd",
        method=ChargeMethod.CARD_ON_FILE,
        payment_method_id="pm_1",
        save_card=False,
        message=None,
        requested_by="staff",
        stripe_payment_intent_id="pi_1",
    )
    return Charge(**{**base.__dict__, **changes})


def intent(**changes: Any) -> IntentResult:
    base: dict[str, Any] = {
        "payment_intent_id": "pi_1",
        "status": "succeeded",
        "card": None,
        "failure": None,
        "client_secret": None,
        "amount": 4200,
        "currency": "usd",
        "metadata": {"charge_id": str(uuid.UUID(int=7))},
    }
    return IntentResult(**{**base, **changes})


async def test_a_transient_stripe_failure_is_retried_with_the_same_call() -> None:
    fake = FakeStripeGateway()
    fake.fail_next(2)

    created = await stripe_call(
        deps(fake),
        lambda: fake.create_customer(
            stripe_account=ACCOUNT,
            email="a@example.com",
            name="A",
            metadata={},
            idempotency_key="customer:1",
        ),
    )

    assert created.startswith("cus_")
    assert len(fake.customers) == 1


async def test_stripe_down_for_longer_becomes_a_transient_error_for_the_caller() -> None:
    fake = FakeStripeGateway()
    fake.fail_next(5)
    with pytest.raises(TransientError):
        await stripe_call(
            deps(fake),
            lambda: fake.create_customer(
                stripe_account=ACCOUNT,
                email=None,
                name=None,
                metadata={},
                idempotency_key="customer:2",
            ),
        )


def sign(payload: bytes, *, secret: str = SECRET, at: float | None = None) -> str:
    timestamp = int(at if at is not None else time.time())
    digest = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def test_a_signed_webhook_is_accepted() -> None:
    payload = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded"}).encode()
    assert webhooks.verify(deps(), payload, sign(payload))["id"] == "evt_1"


@pytest.mark.parametrize(
    ("payload", "signature"),
    [
        (b'{"id": "evt_1"}', sign(b'{"id": "evt_1"}', secret="whsec_other")),
        (b'{"id": "evt_1"}', sign(b'{"id": "evt_1"}', at=time.time() - 3600)),
        (b'{"id": "evt_1"}', sign(b'{"id": "evt_2"}')),
        (b"not json", sign(b"not json")),
        (b'["evt_1"]', sign(b'["evt_1"]')),
        (b'{"id": "evt_1"}', None),
    ],
    ids=["forged", "stale", "tampered", "malformed", "not-an-event", "unsigned"],
)
def test_bad_webhooks_are_refused(payload: bytes, signature: str | None) -> None:
    with pytest.raises(webhooks.InvalidWebhook):
        webhooks.verify(deps(), payload, signature)


def test_without_a_signing_secret_no_webhook_is_accepted() -> None:
    payload = b'{"id": "evt_1"}'
    with pytest.raises(webhooks.InvalidWebhook, match="not configured"):
        webhooks.verify(deps(webhook_secret=""), payload, sign(payload))


@pytest.mark.parametrize(
    ("changes", "belongs"),
    [
        ({}, True),
        ({"amount": 4199}, False),
        ({"currency": "eur"}, False),
        ({"metadata": {"charge_id": str(uuid.UUID(int=8))}}, False),
        ({"payment_intent_id": "pi_other"}, False),
    ],
)
def test_only_the_charges_own_payment_intent_completes_it(
    changes: dict[str, Any], belongs: bool
) -> None:
    assert link_payments._belongs_to(intent(**changes), charge()) is belongs


def test_an_intent_waiting_for_authentication_fails_as_authentication_required() -> None:
    failure = outcomes.failure_of(intent(status="requires_action"), charge())
    assert failure is not None and failure.reason is FailureReason.AUTHENTICATION_REQUIRED
    declined = Failure(FailureReason.CARD_DECLINED, "Declined.", "generic_decline", False)
    mapped = outcomes.failure_of(
        intent(status="requires_payment_method", failure=declined), charge()
    )
    assert mapped is not None and (mapped.reason, mapped.decline_code) == (
        FailureReason.CARD_DECLINED,
        "generic_decline",
    )


def test_only_a_card_on_file_with_a_payment_intent_and_permission_continues_as_a_link() -> None:
    assert outcomes.continues_as_link(charge())
    assert not outcomes.continues_as_link(charge(fallback_to_link=False))
    assert not outcomes.continues_as_link(charge(method=ChargeMethod.NEW_CARD))
    assert not outcomes.continues_as_link(charge(stripe_payment_intent_id=None))


def test_a_failed_new_card_charge_may_take_another_card() -> None:
    declined = Failure(FailureReason.CARD_DECLINED, "Declined.")
    assert charge(
        method=ChargeMethod.NEW_CARD, status=ChargeStatus.FAILED, failure=declined
    ).can_try_another_card()
    not_connected = Failure(FailureReason.STRIPE_NOT_CONNECTED, "Connect Stripe.")
    assert not charge(
        method=ChargeMethod.NEW_CARD, status=ChargeStatus.FAILED, failure=not_connected
    ).can_try_another_card()
    assert not charge(status=ChargeStatus.FAILED, failure=declined).can_try_another_card()
