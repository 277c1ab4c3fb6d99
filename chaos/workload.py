"""The chaos workload: a seeded mix of charges driven through the real services, the way staff,
internal services and customers use them.

- staff over HTTP: card on file, new card (saved or not), declined cards, cards that need
  authentication (the charge continues as a payment link), payment links (paid, cancelled,
  expired), the same request sent twice with the same `charge_id` (bookpay's idempotency key),
  two charges for the same bookings at once, partial payments (most charges pay part of a
  booking; some pay a booking's whole balance);
- internal services over Kafka: ChargeRequested for a card on file, some delivered twice byte
  for byte, and a few poisoned messages (malformed on purpose, each with a marker) that must
  end in the dead-letter topic and nowhere else;
- customers on the payment page: the page's own HTTP flow (page, CSRF token, POST payment,
  Stripe.js's confirm through the stack's Stripe.js stand-in, success page).

Every request is retried while the system is down (the same `charge_id`, so a retry can never
charge twice); retries are counted. The workload records every charge the system accepted
(`Accepted`): the invariant checker expects exactly those, each once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from bookpay_shared import topics
from bookpay_shared.auth import ACCOUNT_SCOPES
from bookpay_shared.events import ChargeMethod, ChargeRequested
from bookpay_shared.kafka_acls import INTERNAL_PUBLISHER

from chaos.harness import Harness
from chaos.invariants import Accepted

log = logging.getLogger("chaos.workload")

VISA = "4242424242424242"
DECLINED = "4000000000000341"
"""Declined when charged (localstripe)."""
DECLINED_ON_ATTACH = "4000000000000002"
"""Declined when attached to a customer (saving it)."""
NEEDS_AUTHENTICATION = ("4000002500003155", "4000002760003184")
CONSENT = "The customer agrees that the business may keep this card for future bookings."
POISON_MARKER = "chaos-poison-"

SCENARIOS: dict[str, float] = {
    "card_on_file": 24,
    "full_balance": 4,
    "new_card": 8,
    "new_card_saved": 4,
    "declined_on_file": 6,
    "declined_new_card": 3,
    "declined_on_attach": 2,
    "authentication_fallback": 7,
    "link_paid": 13,
    "link_cancelled": 5,
    "link_expired": 3,
    "duplicate_http": 8,
    "duplicate_kafka": 5,
    "kafka_card_on_file": 3,
    "concurrent_same_bookings": 5,
}
"""Relative weights of the scenarios."""

CHARGES_PER_SCENARIO = {"concurrent_same_bookings": 2}
"""Charges a scenario asks for, where not one."""

RETRY_FOR_SECONDS = 150.0
"""How long one request is retried while the system is down (a Kafka restart, a killed
service) before the workload gives up on that step."""


class GaveUp(Exception):
    """A step kept failing for RETRY_FOR_SECONDS."""


@dataclass
class Customer:
    account_id: str
    customer_id: str
    booking_ids: list[str]
    card: str
    stripe_account_id: str
    index: int
    """Its place in the setup, so that seeded picks do not depend on which setup ended first."""


@dataclass
class Stats:
    operations: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    retry_reasons: Counter[str] = field(default_factory=Counter)
    """`<step>:<status or exception>` of every retried answer."""
    gave_up: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    """Requests answered with a 4xx the workload accepts (e.g. a balance already used up)."""


class LinkWatcher:
    """Follows payment-link-created (no consumer group) and hands each charge's link over."""

    def __init__(self, harness: Harness) -> None:
        self._consumer = AIOKafkaConsumer(
            **harness.stack.kafka_client_args(), enable_auto_commit=False, group_id=None
        )
        self.links: dict[str, dict[str, Any]] = {}
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        spec = next(t for t in topics.ALL_TOPICS if t.name == topics.PAYMENT_LINK_CREATED)
        partitions = [TopicPartition(spec.name, p) for p in range(spec.partitions)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    async def _follow(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=300)
            for messages in batches.values():
                for message in messages:
                    try:
                        body = json.loads(message.value or b"")
                        charge_id = str(body["charge_id"])
                    except (ValueError, KeyError, TypeError):
                        continue
                    self.links[charge_id] = body
                    for waiter in self._waiters.pop(charge_id, []):
                        if not waiter.done():
                            waiter.set_result(body)

    async def link_of(self, charge_id: str, timeout: float) -> dict[str, Any]:
        if charge_id in self.links:
            return self.links[charge_id]
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(charge_id, []).append(future)
        return await asyncio.wait_for(future, timeout)


class Workload:
    def __init__(
        self,
        harness: Harness,
        *,
        seed: int,
        charges: int,
        duration: float | None,
        concurrency: int = 10,
    ) -> None:
        self.h = harness
        self.rng = random.Random(seed)
        self.charges = charges
        self.duration = duration
        self.concurrency = concurrency
        self.stats = Stats()
        self.accepted: dict[str, Accepted] = {}
        self.poisoned: set[str] = set()
        self.customers: dict[str, list[Customer]] = {}
        self.stripe_accounts: list[str] = []
        self.notify_admins: dict[str, bool] = {}
        self._keys: dict[str, str] = {}
        self._unfinished_links: set[str] = set()
        self.finished = 0
        self.internal_errors: list[str] = []
        """Every 500 a service answered (a 500 is a bug)."""
        """Scenarios done (or given up)."""
        stack, services = harness.stack, harness.services
        platform = {"Authorization": f"Bearer {stack.config.platform_key}"}
        self.booking = httpx.AsyncClient(
            base_url=services.url("booking-service"), timeout=20, headers=platform
        )
        self.charge = [
            httpx.AsyncClient(
                base_url=services.url("charge-service", n), timeout=20, headers=platform
            )
            for n in (1, 2)
        ]
        self.link = httpx.AsyncClient(
            base_url=services.url("link-service"), timeout=20, headers=platform
        )
        self.stripe = httpx.AsyncClient(
            base_url=stack.stripe_url, auth=(stack.config.stripe_api_key, ""), timeout=20
        )
        self.watcher = LinkWatcher(harness)
        self.producer = AIOKafkaProducer(
            **stack.kafka_client_args(INTERNAL_PUBLISHER), acks="all", enable_idempotence=True
        )

    async def close(self) -> None:
        await self.watcher.stop()
        await self.producer.stop()
        for client in (self.booking, *self.charge, self.link, self.stripe):
            await client.aclose()

    # --- requests that ride out faults ------------------------------------------------------

    async def _retrying(
        self, what: str, attempt: Callable[[], Awaitable[httpx.Response]], ok: tuple[int, ...]
    ) -> httpx.Response:
        """`attempt` until its status is in `ok` (or a 4xx other than 401/404/409/429, which
        is returned as it is); transport errors, 5xx and 401/404/429 (a projection not caught
        up yet, a key not known yet) are retried with backoff."""
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        delay = 0.2
        while True:
            try:
                response = await attempt()
                if response.status_code in ok:
                    return response
                transient = response.status_code >= 500 or response.status_code in (401, 404, 429)
                if not transient:
                    return response
                problem = f"{response.status_code} {response.text[:200]}"
                if response.status_code == 500:
                    self.internal_errors.append(f"{what} {response.request.url.path}: {problem}")
                self.stats.retry_reasons[f"{what}:{response.status_code}"] += 1
            except httpx.HTTPError as exc:
                problem = repr(exc)
                self.stats.retry_reasons[f"{what}:{type(exc).__name__}"] += 1
            self.stats.retries[what] += 1
            if time.monotonic() > deadline:
                self.stats.gave_up[what] += 1
                raise GaveUp(f"{what}: {problem}")
            await asyncio.sleep(delay)
            delay = min(2.0, delay * 1.6)

    def _charge_client(self) -> httpx.AsyncClient:
        return self.charge[self.rng.randrange(len(self.charge))]

    async def post(
        self, client: httpx.AsyncClient | None, path: str, body: dict[str, Any], what: str
    ) -> httpx.Response:
        """POST, retried; `client` None means any charge-service instance (a killed instance
        is routed around the way a load balancer would)."""
        return await self.send("POST", client, path, body, what)

    async def send(
        self,
        method: str,
        client: httpx.AsyncClient | None,
        path: str,
        body: dict[str, Any] | None,
        what: str,
    ) -> httpx.Response:
        async def attempt() -> httpx.Response:
            target = client or self._charge_client()
            return await target.request(method, path, json=body, headers=self._auth(path))

        return await self._retrying(what, attempt, (200, 201, 202))

    async def setup_step(
        self, method: str, client: httpx.AsyncClient, path: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """A setup request, which must succeed."""
        response = await self.send(method, client, path, body, "setup")
        if response.status_code not in (200, 201, 202):
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        answer: dict[str, Any] = response.json()
        return answer

    def _auth(self, path: str) -> dict[str, str]:
        parts = path.split("/")
        key = self._keys.get(parts[3]) if len(parts) > 3 else None
        return {"Authorization": f"Bearer {key}"} if key else {}

    # --- setup ------------------------------------------------------------------------------

    async def setup(self, customers: int) -> None:
        await self.producer.start()
        await self.watcher.start()
        for notify, admins in ((True, 2), (True, 1), (False, 2)):
            await self._new_account(notify, admins)
        accounts = list(self.customers)
        cards = [VISA] * 5 + [DECLINED] + list(NEEDS_AUTHENTICATION)
        gate = asyncio.Semaphore(6)

        seeds = [self.rng.getrandbits(64) for _ in range(customers)]

        async def one(i: int) -> None:
            async with gate:
                account, card = accounts[i % len(accounts)], cards[i % len(cards)]
                await self._new_customer(account, card, random.Random(seeds[i]), i)

        await asyncio.gather(*(one(i) for i in range(customers)))

    async def _new_account(self, notify: bool, admins: int) -> None:
        created = await self.setup_step(
            "POST",
            self.booking,
            "/v1/accounts",
            {
                "name": f"Chaos Tours {len(self.customers) + 1}",
                "admins": [
                    {"name": f"Admin {i}", "email": f"admin{i}-{secrets.token_hex(3)}@example.com"}
                    for i in range(admins)
                ],
                "notify_admins_on_link_payment": notify,
            },
        )
        account_id: str = created["account_id"]
        key = await self.setup_step(
            "POST",
            self.booking,
            f"/v1/accounts/{account_id}/api-keys",
            {"scopes": sorted(ACCOUNT_SCOPES), "description": "chaos"},
        )
        stripe_account = await self._retrying(
            "setup",
            lambda: self.stripe.post("/v1/accounts", data={"type": "standard"}),
            (200,),
        )
        stripe_account_id: str = stripe_account.json()["id"]
        await self.setup_step(
            "PUT",
            self.charge[0],
            f"/v1/accounts/{account_id}/stripe-connection",
            {"stripe_account_id": stripe_account_id},
        )
        self._keys[account_id] = key["key"]
        self.customers[account_id] = []
        self.notify_admins[account_id] = notify
        self.stripe_accounts.append(stripe_account_id)

    async def _new_customer(
        self, account_id: str, card: str, rng: random.Random, index: int
    ) -> None:
        base = f"/v1/accounts/{account_id}"
        created = await self.setup_step(
            "POST",
            self.booking,
            f"{base}/customers",
            {"name": "Ada Chaos", "email": f"ada-{secrets.token_hex(4)}@example.com"},
        )
        customer_id: str = created["customer_id"]
        booking_ids = []
        for i in range(rng.randint(2, 3)):
            booked = await self.setup_step(
                "POST",
                self.booking,
                f"{base}/bookings",
                {
                    "customer_id": customer_id,
                    "title": f"Chaos tour #{i + 1}",
                    "starts_at": f"2027-06-{i + 1:02d}T09:00:00Z",
                    "amount": rng.randrange(20_000, 60_000, 100),
                    "currency": "usd",
                },
            )
            booking_ids.append(booked["booking_id"])
        payment_method = await self.tokenize(card)
        await self.setup_step(
            "POST",
            self.charge[0],
            f"{base}/customers/{customer_id}/payment-methods",
            {"payment_method_id": payment_method, "make_default": True},
        )
        stripe_account = self.stripe_accounts[list(self.customers).index(account_id)]
        self.customers[account_id].append(
            Customer(account_id, customer_id, booking_ids, card, stripe_account, index)
        )

    async def tokenize(self, number: str) -> str:
        """What Stripe.js does in the browser: a PaymentMethod from a test card number."""
        response = await self._retrying(
            "tokenize",
            lambda: self.stripe.post(
                "/v1/payment_methods",
                data={
                    "type": "card",
                    "card[number]": number,
                    "card[exp_month]": "12",
                    "card[exp_year]": "2034",
                    "card[cvc]": "123",
                },
            ),
            (200,),
        )
        payment_method: str = response.json()["id"]
        return payment_method

    # --- the run ----------------------------------------------------------------------------

    async def run(self) -> None:
        """`charges` charges, `concurrency` at once (spread evenly over `duration` seconds
        when given); then every link the workload did not pay, cancel or expire is cancelled."""
        names = list(SCENARIOS)
        weights = [SCENARIOS[n] for n in names]
        planned: list[str] = []
        asked = 0
        while asked < self.charges:
            planned.append(self.rng.choices(names, weights)[0])
            asked += CHARGES_PER_SCENARIO.get(planned[-1], 1)
        poison_at = set(self.rng.sample(range(len(planned)), max(2, len(planned) // 150)))
        gate = asyncio.Semaphore(self.concurrency)
        tasks: list[asyncio.Task[None]] = []
        started = time.monotonic()
        for index, scenario in enumerate(planned):
            if self.duration is not None:
                # Paced: the charges are spread over the duration, so faults meet traffic.
                await asyncio.sleep(
                    max(0.0, started + index * self.duration / len(planned) - time.monotonic())
                )
            await gate.acquire()
            seed = self.rng.getrandbits(64)
            task = asyncio.create_task(self._one(scenario, seed, gate))
            tasks.append(task)
            if index in poison_at:
                await self.poison()
        await asyncio.gather(*tasks)
        await self._finish_links()

    async def _one(self, scenario: str, seed: int, gate: asyncio.Semaphore) -> None:
        rng = random.Random(seed)
        try:
            self.stats.operations[scenario] += 1
            await getattr(self, f"_{scenario}")(rng)
        except GaveUp as exc:
            log.warning("gave up: %s", exc)
        except Exception:
            log.exception("scenario %s broke", scenario)
            self.stats.gave_up[f"error:{scenario}"] += 1
        finally:
            self.finished += 1
            gate.release()

    def _pick(self, rng: random.Random, cards: tuple[str, ...] | None = None) -> Customer:
        pool = sorted((c for cs in self.customers.values() for c in cs), key=lambda c: c.index)
        if cards is not None:
            pool = [c for c in pool if c.card in cards] or pool
        return rng.choice(pool)

    def _bookings(self, rng: random.Random, customer: Customer) -> list[str]:
        count = rng.randint(1, len(customer.booking_ids))
        return rng.sample(customer.booking_ids, count)

    async def _ask(
        self,
        customer: Customer,
        scenario: str,
        body: dict[str, Any],
        *,
        charge_id: str | None = None,
    ) -> str | None:
        """POST a charge; record it as accepted on 202; None when refused (a 4xx)."""
        charge_id = charge_id or str(uuid.uuid4())
        body = {"charge_id": charge_id, "customer_id": customer.customer_id, **body}
        body.setdefault("currency", "usd")
        response = await self.post(
            None, f"/v1/accounts/{customer.account_id}/charges", body, "charge"
        )
        if response.status_code != 202:
            self.stats.refused[f"{scenario}:{response.status_code}"] += 1
            return None
        self._accept(customer, scenario, charge_id, body["booking_ids"], body["amount"])
        return charge_id

    def _accept(
        self, customer: Customer, scenario: str, charge_id: str, bookings: list[str], amount: int
    ) -> None:
        self.accepted.setdefault(
            charge_id,
            Accepted(
                charge_id=charge_id,
                account_id=customer.account_id,
                customer_id=customer.customer_id,
                booking_ids=tuple(bookings),
                amount=amount,
                scenario=scenario,
            ),
        )

    def _amount(self, rng: random.Random) -> int:
        return rng.randrange(500, 4_000, 50)

    async def _card_on_file(self, rng: random.Random, scenario: str = "card_on_file") -> None:
        customer = self._pick(rng, (VISA,))
        body = {
            "booking_ids": self._bookings(rng, customer),
            "amount": self._amount(rng),
            "method": "card_on_file",
        }
        await self._ask(customer, scenario, body)

    async def _full_balance(self, rng: random.Random) -> None:
        """A charge for a booking's whole balance (charged in full, if nothing else is)."""
        customer = self._pick(rng, (VISA,))
        booking_id = rng.choice(customer.booking_ids)
        response = await self._retrying(
            "booking",
            lambda: self.booking.get(
                f"/v1/accounts/{customer.account_id}/bookings/{booking_id}",
                headers=self._auth(f"/v1/accounts/{customer.account_id}"),
            ),
            (200,),
        )
        balance = int(response.json()["balance_due"])
        if balance <= 0:
            self.stats.operations["full_balance:nothing_due"] += 1
            return
        body = {"booking_ids": [booking_id], "amount": balance, "method": "card_on_file"}
        await self._ask(customer, "full_balance", body)

    async def _new_card(
        self, rng: random.Random, card: str = VISA, save: bool = False, scenario: str = "new_card"
    ) -> None:
        customer = self._pick(rng)
        body: dict[str, Any] = {
            "booking_ids": self._bookings(rng, customer),
            "amount": self._amount(rng),
            "method": "new_card",
            "payment_method_id": await self.tokenize(card),
            "save_card": save,
        }
        if save:
            body["save_card_consent"] = CONSENT
        await self._ask(customer, scenario, body)

    async def _new_card_saved(self, rng: random.Random) -> None:
        await self._new_card(rng, VISA, save=True, scenario="new_card_saved")

    async def _declined_on_file(self, rng: random.Random) -> None:
        customer = self._pick(rng, (DECLINED,))
        body = {
            "booking_ids": self._bookings(rng, customer),
            "amount": self._amount(rng),
            "method": "card_on_file",
            "fallback_to_link": False,
        }
        await self._ask(customer, "declined_on_file", body)

    async def _declined_new_card(self, rng: random.Random) -> None:
        await self._new_card(rng, DECLINED, scenario="declined_new_card")

    async def _declined_on_attach(self, rng: random.Random) -> None:
        await self._new_card(rng, DECLINED_ON_ATTACH, save=True, scenario="declined_on_attach")

    async def _authentication_fallback(self, rng: random.Random) -> None:
        """A card on file that needs authentication: the charge continues as a payment link,
        which the customer pays on the page."""
        customer = self._pick(rng, NEEDS_AUTHENTICATION)
        body = {
            "booking_ids": self._bookings(rng, customer),
            "amount": self._amount(rng),
            "method": "card_on_file",
        }
        charge_id = await self._ask(customer, "authentication_fallback", body)
        if charge_id is not None:
            await self._pay_link(customer, charge_id, rng)

    async def _link(
        self, rng: random.Random, scenario: str, **extra: Any
    ) -> tuple[Customer, str | None]:
        customer = self._pick(rng)
        body = {
            "booking_ids": self._bookings(rng, customer),
            "amount": self._amount(rng),
            "method": "payment_link",
            "message": "Thanks for booking with us",
            **extra,
        }
        return customer, await self._ask(customer, scenario, body)

    async def _link_paid(self, rng: random.Random) -> None:
        customer, charge_id = await self._link(rng, "link_paid")
        if charge_id is not None:
            await self._pay_link(customer, charge_id, rng)

    async def _link_cancelled(self, rng: random.Random) -> None:
        customer, charge_id = await self._link(rng, "link_cancelled")
        if charge_id is not None:
            await asyncio.sleep(rng.uniform(0, 2))
            await self._cancel_link(customer.account_id, charge_id)

    async def _link_expired(self, rng: random.Random) -> None:
        """A link with the shortest expiry the API takes (1 hour), moved into the past in
        link-service's database (the passage of an hour), then closed by its sweep."""
        _customer, charge_id = await self._link(rng, "link_expired", link_expires_in_hours=1)
        if charge_id is None:
            return
        try:
            link = await self.watcher.link_of(charge_id, RETRY_FOR_SECONDS)
        except TimeoutError:
            self._unfinished_links.add(charge_id)
            return
        await self._expire(str(link["link_id"]))

    async def _duplicate_http(self, rng: random.Random) -> None:
        """The same charge (same `charge_id`) posted twice at once, then once more later."""
        customer = self._pick(rng, (VISA,))
        charge_id = str(uuid.uuid4())
        body = {
            "booking_ids": self._bookings(rng, customer),
            "amount": self._amount(rng),
            "method": "card_on_file",
        }
        await asyncio.gather(
            *(self._ask(customer, "duplicate_http", body, charge_id=charge_id) for _ in range(2))
        )
        await asyncio.sleep(rng.uniform(0.5, 3))
        await self._ask(customer, "duplicate_http", body, charge_id=charge_id)

    async def _kafka_card_on_file(self, rng: random.Random, twice: bool = False) -> None:
        customer = self._pick(rng, (VISA,))
        charge_id = uuid.uuid4()
        bookings = self._bookings(rng, customer)
        event = ChargeRequested(
            correlation_id=charge_id,
            charge_id=charge_id,
            account_id=uuid.UUID(customer.account_id),
            customer_id=uuid.UUID(customer.customer_id),
            booking_ids=[uuid.UUID(b) for b in bookings],
            amount=self._amount(rng),
            currency="usd",
            method=ChargeMethod.CARD_ON_FILE,
            requested_by="reservations-service",
        )
        value = event.to_json()
        scenario = "duplicate_kafka" if twice else "kafka_card_on_file"
        await self._publish(value, event.key())
        self._accept(customer, scenario, str(charge_id), bookings, event.amount)
        if twice:
            await asyncio.sleep(rng.uniform(0, 3))
            await self._publish(value, event.key())

    async def _duplicate_kafka(self, rng: random.Random) -> None:
        await self._kafka_card_on_file(rng, twice=True)

    async def _concurrent_same_bookings(self, rng: random.Random) -> None:
        customer = self._pick(rng, (VISA,))
        bookings = self._bookings(rng, customer)
        bodies = [
            {"booking_ids": bookings, "amount": self._amount(rng), "method": "card_on_file"}
            for _ in range(2)
        ]
        await asyncio.gather(*(self._ask(customer, "concurrent_same_bookings", b) for b in bodies))

    async def _publish(self, value: bytes, key: str) -> None:
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        while True:
            try:
                await self.producer.send_and_wait(
                    topics.CHARGE_REQUESTED, value=value, key=key.encode()
                )
                return
            except Exception as exc:
                self.stats.retries["kafka_publish"] += 1
                if time.monotonic() > deadline:
                    self.stats.gave_up["kafka_publish"] += 1
                    raise GaveUp(f"publish: {exc!r}") from exc
                await asyncio.sleep(1.0)

    async def poison(self) -> None:
        """A malformed ChargeRequested (on purpose): it must be dead-lettered, and be the
        only kind of dead letter."""
        marker = f"{POISON_MARKER}{uuid.uuid4()}"
        value = (
            '{"event_type": "ChargeRequested", "marker": "' + marker + '", "charge_id": '
        ).encode()
        self.stats.operations["poisoned_message"] += 1
        try:
            await self._publish(value, marker)
            self.poisoned.add(marker)
        except GaveUp:
            pass

    # --- payment links ----------------------------------------------------------------------

    async def _pay_link(self, customer: Customer, charge_id: str, rng: random.Random) -> None:
        """Open the link's page and pay as a customer does; if that keeps failing, the link
        is cancelled at the end (so the charge still ends)."""
        link = await self._wait_link(customer, charge_id)
        if link is None:
            return
        url = str(link["url"])
        forwarded = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        async with httpx.AsyncClient(
            timeout=20, headers={"X-Forwarded-For": forwarded}, follow_redirects=False
        ) as page:
            try:
                secret = await self._start_payment(page, url)
                if secret is not None:
                    await self._confirm(secret)
                    await self._retrying(
                        "success_page", lambda: page.get(f"{url}/success"), (200, 303)
                    )
                    self.stats.operations["link_payments_confirmed"] += 1
                    return
            except GaveUp:
                pass
        self._unfinished_links.add(charge_id)

    async def _wait_link(self, customer: Customer, charge_id: str) -> dict[str, Any] | None:
        """The charge's PaymentLinkCreated, or None once the charge ended without a link (a
        card on file that did not need authentication after all, a refused charge)."""
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        path = f"/v1/accounts/{customer.account_id}/charges/{charge_id}"
        while time.monotonic() < deadline:
            try:
                return await self.watcher.link_of(charge_id, 5.0)
            except TimeoutError:
                pass
            status = await self._retrying(
                "charge_status",
                lambda: self._charge_client().get(path, headers=self._auth(path)),
                (200,),
            )
            if status.status_code == 200 and status.json()["status"] in ("succeeded", "failed"):
                return None
        self.stats.gave_up["link_not_created"] += 1
        self._unfinished_links.add(charge_id)
        return None

    async def _start_payment(self, page: httpx.AsyncClient, url: str) -> str | None:
        """The page's Pay button: the page (for its CSRF token), then POST payment; the
        client secret, or None when the page says it cannot be paid."""
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        while time.monotonic() < deadline:
            shown = await self._retrying("payment_page", lambda: page.get(url), (200, 410))
            if shown.status_code == 410:
                return None
            marker = 'data-csrf="'
            if marker in shown.text:
                csrf = shown.text.split(marker, 1)[1].split('"', 1)[0]
                headers = {"X-CSRF-Token": csrf}
                started = await self._retrying(
                    "payment_start",
                    lambda: page.post(f"{url}/payment", json={}, headers=headers),  # noqa: B023
                    (200,),
                )
                if started.status_code == 200:
                    secret: str = started.json()["client_secret"]
                    return secret
                self.stats.refused[f"payment_start:{started.status_code}"] += 1
            self.stats.retries["payment_page_not_ready"] += 1
            await asyncio.sleep(1.0)
        raise GaveUp("payment page never ready")

    async def _confirm(self, client_secret: str) -> None:
        """What Stripe.js does on Pay: confirm the PaymentIntent with the typed card."""
        key = self.h.stack.config.stripe_publishable_key
        await self._retrying(
            "stripe_js_confirm",
            lambda: self.stripe.post(
                "/bookpay-test/v3/confirm",
                json={
                    "key": key,
                    "client_secret": client_secret,
                    "card": {"number": VISA, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
                },
            ),
            (200, 400, 402),
        )

    async def _cancel_link(self, account_id: str, charge_id: str) -> None:
        try:
            link = await self.watcher.link_of(charge_id, RETRY_FOR_SECONDS)
        except TimeoutError:
            self.stats.gave_up["link_not_created"] += 1
            return
        path = f"/v1/accounts/{account_id}/links/{link['link_id']}/cancel"
        response = await self._retrying(
            "link_cancel",
            lambda: self.link.post(path, headers=self._auth(path)),
            (200, 409),
        )
        self.stats.operations[f"link_cancel:{response.status_code}"] += 1

    async def _expire(self, link_id: str) -> None:
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        while True:
            try:
                conn = await asyncpg.connect(self.h.stack.postgres_dsn("link"))
                try:
                    await conn.execute(
                        "UPDATE links SET expires_at = now() - interval '1 minute'"
                        " WHERE link_id = $1 AND state = 'active'",
                        uuid.UUID(link_id),
                    )
                    return
                finally:
                    await conn.close()
            except (OSError, asyncpg.PostgresError) as exc:
                self.stats.retries["link_expire"] += 1
                if time.monotonic() > deadline:
                    raise GaveUp(f"expire: {exc!r}") from exc
                await asyncio.sleep(1.0)

    async def _finish_links(self) -> None:
        """Cancel every link the workload meant to pay but could not (staff would)."""
        for charge_id in sorted(self._unfinished_links):
            accepted = self.accepted.get(charge_id)
            if accepted is not None:
                with contextlib.suppress(GaveUp):
                    await self._cancel_link(accepted.account_id, charge_id)
