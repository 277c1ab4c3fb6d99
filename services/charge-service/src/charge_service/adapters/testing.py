"""A small world for the use cases' unit tests, wired as main wires the service but in memory:
an account connected to its Stripe account and a customer with one booking (100.00 due) in the
`FakeUnitOfWork`, and the `FakeStripeGateway`. Tests drive the use cases as the entrypoints
do (`charge_requested`, `link_paid`, `webhook`, `sweep`, …) and read what was committed and
published. Ships with the package, next to the fakes, for tests of the use cases."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypeVar

from bookpay_shared.events import (
    ChargeMethod,
    ChargeRequested,
    Event,
    PaymentLinkClosed,
    PaymentLinkPaid,
)
from bookpay_shared.faults import NO_FAULTS

from charge_service.adapters.fake_stripe import FakeStripeGateway
from charge_service.adapters.fake_unit_of_work import FakeUnitOfWork
from charge_service.domain.model import Charge, HistoryEntry
from charge_service.usecases import cards, charging, link_payments, reconcile, webhooks
from charge_service.usecases.deps import Deps

E = TypeVar("E", bound=Event)

ACCOUNT = uuid.UUID("00000000-0000-0000-0000-00000000a001")
CUSTOMER = uuid.UUID("00000000-0000-0000-0000-00000000c001")
BOOKING = uuid.UUID("00000000-0000-0000-0000-00000000b001")
STRIPE_ACCOUNT = "acct_unit_shop"
WEBHOOK_SECRET = "whsec_unit_tests_only"
BALANCE_DUE = 10_000


@dataclass
class World:
    uow: FakeUnitOfWork = field(default_factory=FakeUnitOfWork)
    stripe: FakeStripeGateway = field(default_factory=FakeStripeGateway)
    max_attempts_per_charge: int = 5
    account: uuid.UUID = ACCOUNT
    customer: uuid.UUID = CUSTOMER
    booking: uuid.UUID = BOOKING
    stripe_account: str = STRIPE_ACCOUNT
    balance_due: int = BALANCE_DUE

    def __post_init__(self) -> None:
        self.stripe.connect_account(STRIPE_ACCOUNT)
        self.uow.connect(ACCOUNT, STRIPE_ACCOUNT)
        self.uow.add_customer(ACCOUNT, CUSTOMER)
        self.uow.add_booking(ACCOUNT, CUSTOMER, BOOKING, balance_due=BALANCE_DUE)

    @property
    def deps(self) -> Deps:
        """One Stripe attempt per call: a Stripe outage is a TransientError at once."""
        return Deps(
            stripe=self.stripe,
            faults=NO_FAULTS,
            stripe_max_attempts=1,
            webhook_secret=WEBHOOK_SECRET,
            max_attempts_per_charge=self.max_attempts_per_charge,
        )

    # --- what booking-service and staff would have done ------------------------------------

    async def saved_card(self, *, last4: str = "4242", make_default: bool = False) -> str:
        """A card saved on the customer's profile through the use case; its id."""
        payment_method_id = self.stripe.add_card(last4=last4)
        await cards.save_card(
            self.deps,
            self.uow,
            ACCOUNT,
            CUSTOMER,
            payment_method_id,
            make_default=make_default,
        )
        return payment_method_id

    def request(
        self,
        method: ChargeMethod = ChargeMethod.CARD_ON_FILE,
        *,
        amount: int = 4_500,
        charge_id: uuid.UUID | None = None,
        booking_ids: tuple[uuid.UUID, ...] = (BOOKING,),
        **fields: Any,
    ) -> ChargeRequested:
        charge_id = charge_id or uuid.uuid4()
        return ChargeRequested(
            correlation_id=charge_id,
            charge_id=charge_id,
            account_id=fields.pop("account_id", ACCOUNT),
            customer_id=fields.pop("customer_id", CUSTOMER),
            booking_ids=list(booking_ids),
            amount=amount,
            currency=fields.pop("currency", "usd"),
            method=method,
            requested_by="key:unit",
            **fields,
        )

    async def charge_requested(self, event: ChargeRequested) -> Charge:
        """ChargeRequested handled as the consumer does; the charge as then committed."""
        await charging.process_charge_requested(self.deps, self.uow, event)
        return self.charge(event.charge_id)

    # --- payment links, as link-service and the customer would do them -----------------------

    async def link_payment_intent(
        self, charge: Charge, *, paid: bool = True, **metadata: str
    ) -> str:
        """The PaymentIntent link-service makes for a payment-link charge, paid by the customer
        on the page (or not)."""
        intent = await self.stripe.create_payment_intent(
            stripe_account=STRIPE_ACCOUNT,
            amount=charge.amount,
            currency=charge.currency,
            customer_id=await self.page_customer(),
            metadata={"charge_id": str(charge.charge_id), **metadata},
            idempotency_key=f"link:{charge.charge_id}",
            description=None,
        )
        if paid:
            await self.stripe.confirm_on_session(
                stripe_account=STRIPE_ACCOUNT,
                payment_intent_id=intent.payment_intent_id,
                payment_method_id=self.stripe.add_card(last4="1881"),
                save_card=False,
                idempotency_key=f"link:{charge.charge_id}:confirm",
            )
        return intent.payment_intent_id

    async def page_customer(self) -> str:
        """The Stripe customer a payment page pays as."""
        return await self.stripe.create_customer(
            stripe_account=STRIPE_ACCOUNT,
            email=None,
            name=None,
            metadata={},
            idempotency_key="page-customer",
        )

    async def link_paid(self, charge: Charge, payment_intent_id: str, **fields: Any) -> Charge:
        await link_payments.on_payment_link_paid(
            self.deps,
            self.uow,
            PaymentLinkPaid(
                correlation_id=charge.charge_id,
                charge_id=charge.charge_id,
                account_id=charge.account_id,
                customer_id=charge.customer_id,
                link_id=uuid.uuid4(),
                stripe_payment_intent_id=payment_intent_id,
                **fields,
            ),
        )
        return self.charge(charge.charge_id)

    async def link_closed(
        self, charge: Charge, reason: Literal["expired", "cancelled"] = "expired"
    ) -> Charge:
        await link_payments.on_payment_link_closed(
            self.deps,
            self.uow,
            PaymentLinkClosed(
                correlation_id=charge.charge_id,
                charge_id=charge.charge_id,
                account_id=charge.account_id,
                customer_id=charge.customer_id,
                link_id=uuid.uuid4(),
                reason=reason,
            ),
        )
        return self.charge(charge.charge_id)

    # --- Stripe's webhook and the sweep ------------------------------------------------------

    async def webhook(
        self,
        payment_intent_id: str,
        event_type: str = "payment_intent.succeeded",
        *,
        event_id: str | None = None,
        last_payment_error: dict[str, str] | None = None,
    ) -> str:
        intent = self.stripe.intents[payment_intent_id]
        obj: dict[str, Any] = {
            "object": "payment_intent",
            "id": payment_intent_id,
            "metadata": intent.metadata,
        }
        if last_payment_error is not None:
            obj["last_payment_error"] = last_payment_error
        return await self.signed_webhook(
            {
                "id": event_id or f"evt_{uuid.uuid4().hex}",
                "type": event_type,
                "account": intent.stripe_account,
                "data": {"object": obj},
            }
        )

    async def signed_webhook(self, event: Any) -> str:
        """Any JSON, correctly signed, as Stripe's webhook would deliver it."""
        payload = json.dumps(event).encode()
        return await webhooks.receive(self.deps, self.uow, payload, sign(payload))

    async def sweep(self, *, idle: timedelta = timedelta(minutes=1)) -> int:
        """The reconciliation sweep, once every charge in flight has been idle for `idle`."""
        for charge in list(self.uow.state.charges.values()):
            self.uow.backdate(charge.charge_id, idle.total_seconds())
        return await reconcile.sweep_once(self.deps, self.uow, idle_seconds=30)

    # --- reading what was committed ----------------------------------------------------------

    def charge(self, charge_id: uuid.UUID) -> Charge:
        return self.uow.state.charges[charge_id]

    def history(self, charge_id: uuid.UUID) -> list[HistoryEntry]:
        return self.uow.state.history.get(charge_id, [])

    def published(self, kind: type[E]) -> list[E]:
        return [e for e in self.uow.state.published if isinstance(e, kind)]

    def payments_at_stripe(self) -> list[str]:
        """The PaymentIntents that took money."""
        return [
            i.payment_intent_id for i in self.stripe.intents.values() if i.status == "succeeded"
        ]


def sign(payload: bytes) -> str:
    timestamp = int(time.time())
    digest = hmac.new(
        WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"
