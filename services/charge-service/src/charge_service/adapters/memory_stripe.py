"""An in-memory Stripe inside charge-service, for benchmarks (`CHARGE_STRIPE_STAND_IN=memory`).

It is `FakeStripeGateway` (the unit tests' Stripe) behind two knobs that mimic a remote API:
every call waits `latency_ms` (an `asyncio.sleep`, so hundreds of calls can be in flight), and
at most `max_concurrent` calls run at once (0: no cap), as Stripe's rate limit would allow.
Like Stripe's test mode, a test PaymentMethod id (`pm_card_visa`, `pm_card_mastercard`, …)
saved to a customer becomes a new PaymentMethod with its own `pm_…` id each time (only saving
a card takes them: a benchmark saves cards, then charges them off-session). Nothing is
kept beyond the process, no webhook is ever sent, and calls are not recorded (the state it
keeps per call is a dict entry: no call scans the store). Every `acct_…` id is taken as an
account connected to the platform, so a benchmark connects any account it names.

Several instances of charge-service share one Stripe in reality; here each has its own memory.
So that several instances can be measured, ids carry a per-process tag (no two instances make
the same PaymentIntent id), a saved test card's id names its test card
(`pm_m1f2e3d4000007_card_visa`), and an off-session charge naming a customer or card that
another instance made adopts them from their ids, as the shared Stripe would have them. Never for production: the settings
refuse it there.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from charge_service.adapters.fake_stripe import FakeCustomer, FakeStripeGateway
from charge_service.usecases.stripe_types import (
    CardDetails,
    ConnectedAccount,
    IntentResult,
    StripeGateway,
)

__all__ = ["TEST_PAYMENT_METHODS", "MemoryStripeGateway"]


@dataclass(frozen=True)
class _TestCard:
    brand: str
    last4: str
    decline_code: str | None = None
    requires_authentication: bool = False


TEST_PAYMENT_METHODS: Mapping[str, _TestCard] = {
    "pm_card_visa": _TestCard("visa", "4242"),
    "pm_card_mastercard": _TestCard("mastercard", "4444"),
    "pm_card_amex": _TestCard("amex", "8431"),
    "pm_card_chargeDeclined": _TestCard("visa", "0341", decline_code="generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": _TestCard(
        "visa", "9995", decline_code="insufficient_funds"
    ),
    "pm_card_authenticationRequired": _TestCard("visa", "3184", requires_authentication=True),
}
"""Stripe's test PaymentMethod ids this stand-in knows (Stripe's own names and last 4)."""


class MemoryStripeGateway:
    """`StripeGateway` in memory, with a latency and a concurrency cap per call."""

    def __init__(self, *, latency_ms: float = 0.0, max_concurrent: int = 0) -> None:
        if latency_ms < 0 or max_concurrent < 0:
            raise ValueError("latency_ms and max_concurrent must not be negative")
        self.stripe = FakeStripeGateway(record_calls=False, id_tag="m" + secrets.token_hex(4))
        self._latency = latency_ms / 1000
        self._cap = asyncio.Semaphore(max_concurrent) if max_concurrent else None
        self.in_flight = 0
        """Calls under way now (waiting out their latency); for tests and metrics."""
        self.most_in_flight = 0

    @contextlib.asynccontextmanager
    async def _call(self) -> AsyncIterator[None]:
        async with self._cap or contextlib.nullcontext():
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                if self._latency:
                    await asyncio.sleep(self._latency)
                yield
            finally:
                self.in_flight -= 1

    def _test_card(self, payment_method_id: str, stripe_account: str) -> str:
        """A new PaymentMethod for a test id, as Stripe's test mode makes; others unchanged."""
        test = TEST_PAYMENT_METHODS.get(payment_method_id)
        if test is None:
            return payment_method_id
        made = self._new_test_card(
            test,
            payment_method_id,
            stripe_account,
            f"{self.stripe._new_id('pm')}_{payment_method_id[3:]}",
        )
        return made

    def _new_test_card(
        self, test: _TestCard, test_id: str, stripe_account: str, payment_method_id: str
    ) -> str:
        made = self.stripe.add_card(
            brand=test.brand,
            last4=test.last4,
            stripe_account=stripe_account,
            fingerprint=f"fp_{test_id}",
            payment_method_id=payment_method_id,
        )
        if test.decline_code is not None:
            self.stripe.decline(made, decline_code=test.decline_code)
        if test.requires_authentication:
            self.stripe.require_authentication(made)
        return made

    def _adopt(self, stripe_account: str, customer_id: str, payment_method_id: str) -> None:
        """A customer and saved test card another instance made (see the module's doc)."""
        if customer_id not in self.stripe.customers and customer_id.startswith("cus_m"):
            self.stripe.customers[customer_id] = FakeCustomer(
                customer_id, stripe_account, None, None, {}
            )
        _, _, test_name = payment_method_id.partition("_card_")
        test = TEST_PAYMENT_METHODS.get(f"pm_card_{test_name}")
        if payment_method_id not in self.stripe.cards and test is not None:
            self._new_test_card(test, f"pm_card_{test_name}", stripe_account, payment_method_id)
            self.stripe.cards[payment_method_id].customer_id = customer_id

    async def create_customer(
        self,
        *,
        stripe_account: str,
        email: str | None,
        name: str | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> str:
        async with self._call():
            return await self.stripe.create_customer(
                stripe_account=stripe_account,
                email=email,
                name=name,
                metadata=metadata,
                idempotency_key=idempotency_key,
            )

    async def attach_payment_method(
        self, *, stripe_account: str, customer_id: str, payment_method_id: str
    ) -> CardDetails:
        async with self._call():
            return await self.stripe.attach_payment_method(
                stripe_account=stripe_account,
                customer_id=customer_id,
                payment_method_id=self._test_card(payment_method_id, stripe_account),
            )

    async def detach_payment_method(self, *, stripe_account: str, payment_method_id: str) -> None:
        async with self._call():
            await self.stripe.detach_payment_method(
                stripe_account=stripe_account, payment_method_id=payment_method_id
            )

    async def set_default_payment_method(
        self, *, stripe_account: str, customer_id: str, payment_method_id: str
    ) -> None:
        async with self._call():
            await self.stripe.set_default_payment_method(
                stripe_account=stripe_account,
                customer_id=customer_id,
                payment_method_id=payment_method_id,
            )

    async def create_payment_intent(
        self,
        *,
        stripe_account: str,
        amount: int,
        currency: str,
        customer_id: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
        description: str | None,
    ) -> IntentResult:
        async with self._call():
            return await self.stripe.create_payment_intent(
                stripe_account=stripe_account,
                amount=amount,
                currency=currency,
                customer_id=customer_id,
                metadata=metadata,
                idempotency_key=idempotency_key,
                description=description,
            )

    async def charge_off_session(
        self,
        *,
        stripe_account: str,
        amount: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
        description: str | None,
    ) -> IntentResult:
        async with self._call():
            self._adopt(stripe_account, customer_id, payment_method_id)
            return await self.stripe.charge_off_session(
                stripe_account=stripe_account,
                amount=amount,
                currency=currency,
                customer_id=customer_id,
                payment_method_id=payment_method_id,
                metadata=metadata,
                idempotency_key=idempotency_key,
                description=description,
            )

    async def find_payment_intent(
        self,
        *,
        stripe_account: str,
        customer_id: str,
        created_since: int | None,
        metadata: Mapping[str, str],
    ) -> IntentResult | None:
        async with self._call():
            return await self.stripe.find_payment_intent(
                stripe_account=stripe_account,
                customer_id=customer_id,
                created_since=created_since,
                metadata=metadata,
            )

    async def confirm_off_session(
        self,
        *,
        stripe_account: str,
        payment_intent_id: str,
        payment_method_id: str,
        idempotency_key: str,
    ) -> IntentResult:
        async with self._call():
            return await self.stripe.confirm_off_session(
                stripe_account=stripe_account,
                payment_intent_id=payment_intent_id,
                payment_method_id=payment_method_id,
                idempotency_key=idempotency_key,
            )

    async def confirm_on_session(
        self,
        *,
        stripe_account: str,
        payment_intent_id: str,
        payment_method_id: str,
        save_card: bool,
        idempotency_key: str,
    ) -> IntentResult:
        async with self._call():
            return await self.stripe.confirm_on_session(
                stripe_account=stripe_account,
                payment_intent_id=payment_intent_id,
                payment_method_id=payment_method_id,
                save_card=save_card,
                idempotency_key=idempotency_key,
            )

    async def retrieve_payment_intent(
        self, *, stripe_account: str, payment_intent_id: str
    ) -> IntentResult:
        async with self._call():
            return await self.stripe.retrieve_payment_intent(
                stripe_account=stripe_account, payment_intent_id=payment_intent_id
            )

    async def platform_account_id(self) -> str:
        async with self._call():
            return await self.stripe.platform_account_id()

    async def retrieve_connected_account(self, *, stripe_account_id: str) -> ConnectedAccount:
        async with self._call():
            known = stripe_account_id in self.stripe.accounts
            if not known and stripe_account_id != self.stripe.platform_account:
                self.stripe.connect_account(stripe_account_id)
            return await self.stripe.retrieve_connected_account(stripe_account_id=stripe_account_id)


def _conforms(gateway: MemoryStripeGateway) -> StripeGateway:
    return gateway  # mypy checks that the class keeps up with the StripeGateway Protocol
