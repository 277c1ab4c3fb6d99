"""An in-memory `StripeGateway` for fast tests, behaving like Stripe where tests can tell.

Like Stripe it knows which accounts are connected to the platform (`connect_account`) and
scopes customers and PaymentIntents to the connected account, replays the
stored result of a call repeated with the same idempotency key (and rejects the key reused
with other parameters), declines cards off-session with `authentication_required` when they
want 3-D Secure, and reports a PaymentIntent that was already confirmed instead of charging
it twice. Tests program it (`connect_account`, `add_card`, `decline`, `require_authentication`, `fail_next`,
`meanwhile`)
and read what happened (`calls`, `intents`, `customers`, `cards`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar, cast

from charge_service.domain.model import Failure
from charge_service.usecases.stripe_types import (
    CardDetails,
    ConnectedAccount,
    IntentResult,
    StripeAccountNotConnected,
    StripeCardRejected,
    StripeGateway,
    StripeRequestRejected,
    StripeUnavailable,
    payment_failure,
)

__all__ = ["FakeCall", "FakeCard", "FakeCustomer", "FakeIntent", "FakeStripeGateway"]

_T = TypeVar("_T")

_CONFIRMED = frozenset({"succeeded", "processing", "requires_capture"})


@dataclass(frozen=True)
class FakeCall:
    method: str
    kwargs: Mapping[str, object]


@dataclass
class FakeCard:
    details: CardDetails
    stripe_account: str | None
    customer_id: str | None = None
    decline: Failure | None = None
    decline_on_attach: bool = False
    requires_authentication: bool = False


@dataclass
class FakeIntent:
    payment_intent_id: str
    stripe_account: str
    amount: int
    currency: str
    customer_id: str
    metadata: dict[str, str]
    description: str | None
    status: str = "requires_payment_method"
    payment_method_id: str | None = None
    failure: Failure | None = None
    confirmations: int = 0
    client_secret: str = ""
    save_card_on_success: bool = False
    created: int = 0
    """Unix seconds, as Stripe's `created`."""


@dataclass
class FakeCustomer:
    customer_id: str
    stripe_account: str
    email: str | None
    name: str | None
    metadata: dict[str, str]
    default_payment_method: str | None = None


@dataclass
class _Stored:
    method: str
    kwargs: Mapping[str, object]
    result: object


@dataclass
class _Faults:
    before: int = 0
    after: int = 0


@dataclass
class FakeStripeGateway:
    record_calls: bool = True
    """Keep every call in `calls` (off for long runs: the memory stand-in)."""
    calls: list[FakeCall] = field(default_factory=list)
    cards: dict[str, FakeCard] = field(default_factory=dict)
    customers: dict[str, FakeCustomer] = field(default_factory=dict)
    intents: dict[str, FakeIntent] = field(default_factory=dict)
    accounts: dict[str, ConnectedAccount] = field(default_factory=dict)
    """The accounts connected to the platform."""
    platform_account: str = "acct_fake_platform"
    """The platform's own Stripe account (not a connected one)."""
    id_tag: str = "fake"
    """Part of every id made here (`pi_fake000001`): processes with different tags never make
    the same id."""
    _intents_of_customer: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _keys: dict[tuple[str, str], _Stored] = field(default_factory=dict)
    _faults: _Faults = field(default_factory=_Faults)
    _meanwhile: dict[str, Callable[[], None]] = field(default_factory=dict)

    # --- programming -----------------------------------------------------------------------

    def connect_account(
        self, stripe_account_id: str | None = None, *, charges_enabled: bool = True
    ) -> str:
        """A Stripe account connected to the platform (onboarded unless `charges_enabled` is
        False); its id."""
        account_id = stripe_account_id or self._new_id("acct")
        self.accounts[account_id] = ConnectedAccount(
            account_id, charges_enabled=charges_enabled, details_submitted=charges_enabled
        )
        return account_id

    def add_card(
        self,
        *,
        last4: str = "4242",
        brand: str = "visa",
        exp_month: int = 12,
        exp_year: int = 2030,
        fingerprint: str | None = None,
        stripe_account: str | None = None,
        payment_method_id: str | None = None,
    ) -> str:
        """A card as Stripe.js would have tokenized it; `stripe_account=None`: any account."""
        pm_id = payment_method_id or self._new_id("pm")
        details = CardDetails(pm_id, brand, last4, exp_month, exp_year, fingerprint or f"fp{last4}")
        self.cards[pm_id] = FakeCard(details, stripe_account)
        return pm_id

    def decline(
        self,
        payment_method_id: str,
        *,
        code: str = "card_declined",
        decline_code: str | None = "generic_decline",
        message: str | None = None,
        on_attach: bool = False,
    ) -> None:
        """Decline charges of this card (and saving it, with `on_attach`)."""
        card = self._card(payment_method_id, None)
        card.decline = payment_failure(code, decline_code, message)
        card.decline_on_attach = on_attach

    def require_authentication(self, payment_method_id: str) -> None:
        """The card's bank wants 3-D Secure: off-session charges fail, on-session ones wait."""
        self._card(payment_method_id, None).requires_authentication = True

    def fail_next(self, count: int = 1, *, after_effect: bool = False) -> None:
        """Raise `StripeUnavailable` on the next `count` calls; with `after_effect`, only once
        Stripe has done the work (the response is lost), as after a timeout."""
        if after_effect:
            self._faults.after += count
        else:
            self._faults.before += count

    def meanwhile(self, method: str, action: Callable[[], None]) -> None:
        """Run `action` once, when the next call to `method` reaches Stripe: something that
        happens elsewhere while that request is in flight (another attempt, a webhook)."""
        self._meanwhile[method] = action

    def complete_authentication(self, payment_intent_id: str, *, success: bool = True) -> None:
        """The customer finishes (or fails) 3-D Secure in the browser."""
        intent = self.intents[payment_intent_id]
        if intent.status != "requires_action" or intent.payment_method_id is None:
            raise AssertionError(f"{payment_intent_id} is {intent.status}, not requires_action")
        if success:
            self._charge(intent, self.cards[intent.payment_method_id])
            self._save_if_asked(intent)
        else:
            intent.status = "requires_payment_method"
            intent.failure = payment_failure("payment_intent_authentication_failure", None, None)

    # --- inspection -------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[FakeCall]:
        return [call for call in self.calls if call.method == method]

    def intents_for(self, *, metadata_key: str, value: str) -> list[FakeIntent]:
        return [i for i in self.intents.values() if i.metadata.get(metadata_key) == value]

    # --- StripeGateway ----------------------------------------------------------------------

    async def create_customer(
        self,
        *,
        stripe_account: str,
        email: str | None,
        name: str | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> str:
        kwargs = dict(stripe_account=stripe_account, email=email, name=name, metadata=metadata)

        def effect() -> str:
            customer_id = self._new_id("cus")
            self.customers[customer_id] = FakeCustomer(
                customer_id, stripe_account, email, name, dict(metadata)
            )
            return customer_id

        return self._call("create_customer", kwargs, effect, idempotency_key)

    async def attach_payment_method(
        self, *, stripe_account: str, customer_id: str, payment_method_id: str
    ) -> CardDetails:
        kwargs = dict(
            stripe_account=stripe_account,
            customer_id=customer_id,
            payment_method_id=payment_method_id,
        )

        def effect() -> CardDetails:
            self._customer(customer_id, stripe_account)
            card = self._card(payment_method_id, stripe_account)
            if card.customer_id not in (None, customer_id):
                raise StripeRequestRejected("The payment method belongs to another customer.")
            if card.decline is not None and card.decline_on_attach:
                raise StripeCardRejected(card.decline, code="card_declined")
            card.customer_id = customer_id
            return card.details

        return self._call("attach_payment_method", kwargs, effect)

    async def detach_payment_method(self, *, stripe_account: str, payment_method_id: str) -> None:
        kwargs = dict(stripe_account=stripe_account, payment_method_id=payment_method_id)

        def effect() -> None:
            card = self._card(payment_method_id, stripe_account)
            customer = self.customers.get(card.customer_id or "")
            if customer is not None and customer.default_payment_method == payment_method_id:
                customer.default_payment_method = None
            card.customer_id = None

        self._call("detach_payment_method", kwargs, effect)

    async def set_default_payment_method(
        self, *, stripe_account: str, customer_id: str, payment_method_id: str
    ) -> None:
        kwargs = dict(
            stripe_account=stripe_account,
            customer_id=customer_id,
            payment_method_id=payment_method_id,
        )

        def effect() -> None:
            customer = self._customer(customer_id, stripe_account)
            if self._card(payment_method_id, stripe_account).customer_id != customer_id:
                raise StripeRequestRejected("The payment method is not attached to the customer.")
            customer.default_payment_method = payment_method_id

        self._call("set_default_payment_method", kwargs, effect)

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
        kwargs = dict(
            stripe_account=stripe_account,
            amount=amount,
            currency=currency,
            customer_id=customer_id,
            metadata=metadata,
            description=description,
        )

        def effect() -> IntentResult:
            intent = self._new_intent(
                stripe_account, amount, currency, customer_id, metadata, description
            )
            return self._result(intent, off_session=False)

        return self._call("create_payment_intent", kwargs, effect, idempotency_key)

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
        kwargs = dict(
            stripe_account=stripe_account,
            amount=amount,
            currency=currency,
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            metadata=metadata,
            description=description,
        )

        def effect() -> IntentResult:
            card = self._card(payment_method_id, stripe_account)
            if card.customer_id != customer_id:
                self._customer(customer_id, stripe_account)
                raise StripeRequestRejected(
                    "An off-session payment needs a card attached to the PaymentIntent's customer."
                )
            intent = self._new_intent(
                stripe_account, amount, currency, customer_id, metadata, description
            )
            intent.payment_method_id = payment_method_id
            intent.confirmations += 1
            if card.requires_authentication:  # Stripe: a 402 naming the PaymentIntent
                intent.status = "requires_payment_method"
                intent.failure = payment_failure("authentication_required", None, None)
            else:
                self._charge(intent, card)
            return self._result(intent, off_session=True)

        return self._call("charge_off_session", kwargs, effect, idempotency_key)

    async def find_payment_intent(
        self,
        *,
        stripe_account: str,
        customer_id: str,
        created_since: int | None,
        metadata: Mapping[str, str],
    ) -> IntentResult | None:
        kwargs = dict(
            stripe_account=stripe_account,
            customer_id=customer_id,
            created_since=created_since,
            metadata=metadata,
        )

        def effect() -> IntentResult | None:
            for intent_id in reversed(
                self._intents_of_customer.get((stripe_account, customer_id), [])
            ):
                intent = self.intents[intent_id]
                if created_since is not None and intent.created < created_since:
                    break  # newest first
                if all(intent.metadata.get(k) == v for k, v in metadata.items()):
                    return self._result(intent, off_session=True)
            return None

        return self._call("find_payment_intent", kwargs, effect)

    async def confirm_off_session(
        self,
        *,
        stripe_account: str,
        payment_intent_id: str,
        payment_method_id: str,
        idempotency_key: str,
    ) -> IntentResult:
        kwargs = dict(
            stripe_account=stripe_account,
            payment_intent_id=payment_intent_id,
            payment_method_id=payment_method_id,
        )

        def effect() -> IntentResult:
            intent = self._intent(payment_intent_id, stripe_account)
            if intent.status in _CONFIRMED or intent.status == "requires_action":
                return self._result(intent, off_session=True)
            card = self._card(payment_method_id, stripe_account)
            if card.customer_id != intent.customer_id:
                raise StripeRequestRejected(
                    "An off-session payment needs a card attached to the PaymentIntent's customer."
                )
            intent.payment_method_id = payment_method_id
            intent.confirmations += 1
            if card.requires_authentication:
                intent.status = "requires_payment_method"
                intent.failure = payment_failure("authentication_required", None, None)
            else:
                self._charge(intent, card)
            return self._result(intent, off_session=True)

        return self._call("confirm_off_session", kwargs, effect, idempotency_key)

    async def confirm_on_session(
        self,
        *,
        stripe_account: str,
        payment_intent_id: str,
        payment_method_id: str,
        save_card: bool,
        idempotency_key: str,
    ) -> IntentResult:
        kwargs = dict(
            stripe_account=stripe_account,
            payment_intent_id=payment_intent_id,
            payment_method_id=payment_method_id,
            save_card=save_card,
        )

        def effect() -> IntentResult:
            intent = self._intent(payment_intent_id, stripe_account)
            if intent.status in _CONFIRMED or intent.status == "requires_action":
                return self._result(intent, off_session=False)
            card = self._card(payment_method_id, stripe_account)
            intent.payment_method_id = payment_method_id
            intent.confirmations += 1
            intent.failure = None
            intent.save_card_on_success = save_card
            if card.requires_authentication:
                intent.status = "requires_action"
            else:
                self._charge(intent, card)
                self._save_if_asked(intent)
            return self._result(intent, off_session=False)

        return self._call("confirm_on_session", kwargs, effect, idempotency_key)

    async def retrieve_payment_intent(
        self, *, stripe_account: str, payment_intent_id: str
    ) -> IntentResult:
        kwargs = dict(stripe_account=stripe_account, payment_intent_id=payment_intent_id)

        def effect() -> IntentResult:
            return self._result(self._intent(payment_intent_id, stripe_account), off_session=False)

        return self._call("retrieve_payment_intent", kwargs, effect)

    async def platform_account_id(self) -> str:
        return self._call("platform_account_id", {}, lambda: self.platform_account)

    async def retrieve_connected_account(self, *, stripe_account_id: str) -> ConnectedAccount:
        def effect() -> ConnectedAccount:
            if stripe_account_id == self.platform_account:  # Stripe answers for our own account
                return ConnectedAccount(stripe_account_id, True, True)
            account = self.accounts.get(stripe_account_id)
            if account is None:
                raise StripeAccountNotConnected(
                    "The provided key does not have access to account "
                    f"'{stripe_account_id}' (or that account does not exist).",
                    code="account_invalid",
                    http_status=403,
                )
            return account

        return self._call(
            "retrieve_connected_account", dict(stripe_account_id=stripe_account_id), effect
        )

    # --- internals --------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        kwargs: Mapping[str, object],
        effect: Callable[[], _T],
        idempotency_key: str | None = None,
    ) -> _T:
        if self.record_calls:
            self.calls.append(FakeCall(method, {**kwargs, "idempotency_key": idempotency_key}))
        if method in self._meanwhile:
            self._meanwhile.pop(method)()
        if self._faults.before:
            self._faults.before -= 1
            raise StripeUnavailable("Stripe unavailable (simulated)")
        account = str(kwargs.get("stripe_account", ""))  # "": the platform's own call
        stored = self._keys.get((account, idempotency_key)) if idempotency_key else None
        if stored is not None:
            if (stored.method, stored.kwargs) != (method, kwargs):
                raise StripeRequestRejected(
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                    code="idempotency_key_in_use",
                )
            result = cast(_T, stored.result)
        else:
            result = effect()
            if idempotency_key:
                self._keys[(account, idempotency_key)] = _Stored(method, dict(kwargs), result)
        if self._faults.after:
            self._faults.after -= 1
            raise StripeUnavailable("Stripe response lost (simulated)")
        return result

    def _charge(self, intent: FakeIntent, card: FakeCard) -> None:
        if card.decline is not None:
            intent.status = "requires_payment_method"
            intent.failure = card.decline
        else:
            intent.status = "succeeded"
            intent.failure = None

    def _save_if_asked(self, intent: FakeIntent) -> None:
        if (
            intent.save_card_on_success
            and intent.status == "succeeded"
            and intent.payment_method_id
        ):
            self.cards[intent.payment_method_id].customer_id = intent.customer_id

    def _result(self, intent: FakeIntent, *, off_session: bool) -> IntentResult:
        failure = intent.failure
        if intent.status == "requires_action" and off_session:
            failure = payment_failure("authentication_required", None, None)
        card = self.cards.get(intent.payment_method_id or "")
        return IntentResult(
            payment_intent_id=intent.payment_intent_id,
            status=intent.status,
            card=card.details if card else None,
            failure=failure if intent.status != "succeeded" else None,
            client_secret=intent.client_secret,
            amount=intent.amount,
            currency=intent.currency,
            customer_id=intent.customer_id,
            metadata=dict(intent.metadata),
        )

    def _new_intent(
        self,
        stripe_account: str,
        amount: int,
        currency: str,
        customer_id: str,
        metadata: Mapping[str, str],
        description: str | None,
    ) -> FakeIntent:
        if amount <= 0 or len(currency) != 3 or currency != currency.lower():
            raise StripeRequestRejected("Invalid amount or currency.", code="parameter_invalid")
        self._customer(customer_id, stripe_account)
        intent_id = self._new_id("pi")
        intent = FakeIntent(
            intent_id,
            stripe_account,
            amount,
            currency,
            customer_id,
            dict(metadata),
            description,
            client_secret=f"{intent_id}_secret_fake",
            created=int(time.time()),
        )
        self.intents[intent_id] = intent
        self._intents_of_customer.setdefault((stripe_account, customer_id), []).append(intent_id)
        return intent

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{self.id_tag}{next(self._ids):06d}"

    def _card(self, payment_method_id: str, stripe_account: str | None) -> FakeCard:
        card = self.cards.get(payment_method_id)
        if card is None or (stripe_account and card.stripe_account not in (None, stripe_account)):
            raise StripeRequestRejected(
                f"No such PaymentMethod: '{payment_method_id}'", code="resource_missing"
            )
        return card

    def _customer(self, customer_id: str, stripe_account: str) -> FakeCustomer:
        customer = self.customers.get(customer_id)
        if customer is None or customer.stripe_account != stripe_account:
            raise StripeRequestRejected(
                f"No such customer: '{customer_id}'", code="resource_missing"
            )
        return customer

    def _intent(self, payment_intent_id: str, stripe_account: str) -> FakeIntent:
        intent = self.intents.get(payment_intent_id)
        if intent is None or intent.stripe_account != stripe_account:
            raise StripeRequestRejected(
                f"No such payment_intent: '{payment_intent_id}'", code="resource_missing"
            )
        return intent


def _conforms(gateway: FakeStripeGateway) -> StripeGateway:
    return gateway  # mypy checks that the class keeps up with the StripeGateway Protocol
