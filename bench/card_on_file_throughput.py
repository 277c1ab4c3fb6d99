"""Card-on-file charges, end to end, on the local stack: how many per second, and how long each
takes from `POST /charges` to PaymentSucceeded and to the last BookingCharged.

    uv run python bench/card_on_file_throughput.py --charges 200 --concurrency 20

(`make bench` measures this and more in one run: see bench/README.md.)

It starts its own stack (Kafka, PostgreSQL, localstripe, SMTP sink) and the four services on
ports of its own (the bench ports of `benchkit`: the test ports + 1000), seeds one account with
`--charges` customers, each with a saved Visa and one booking, then fires the charges with at
most `--concurrency` requests in flight. Every figure depends on the machine and on
localstripe (a single-threaded Python fake of Stripe), so it measures bookpay's pipeline with
that stand-in, not Stripe's own latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
import uuid

import benchkit
import httpx
from bookpay_devstack.config import find_repo_root
from bookpay_devstack.events import EventLog, about
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services, SystemConfig
from bookpay_shared import topics

SYSTEM: SystemConfig = benchkit.system_config()


async def seed_customer(
    booking: httpx.AsyncClient, charge: httpx.AsyncClient, stripe: httpx.AsyncClient, account: str
) -> tuple[str, str]:
    customer = (
        await booking.post(
            f"/v1/accounts/{account}/customers",
            json={"name": "Bench", "email": "bench@example.com"},
        )
    ).json()["customer_id"]
    booked = await booking.post(
        f"/v1/accounts/{account}/bookings",
        json={
            "customer_id": customer,
            "title": "Bench tour",
            "starts_at": "2027-01-01T10:00:00Z",
            "amount": 5000,
            "currency": "usd",
        },
    )
    booking_id = booked.json()["booking_id"]
    pm = (
        await stripe.post(
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": "4242424242424242",
                "card[exp_month]": "12",
                "card[exp_year]": "2034",
                "card[cvc]": "123",
            },
        )
    ).json()["id"]
    for _ in range(200):
        saved = await charge.post(
            f"/v1/accounts/{account}/customers/{customer}/payment-methods",
            json={"payment_method_id": pm},
        )
        if saved.status_code == 201:
            break
        await asyncio.sleep(0.1)  # charge-service learns the customer from booking-service's events
    return customer, booking_id


async def run(charges: int, concurrency: int) -> dict[str, object]:
    root = find_repo_root()
    async with Stack(benchkit.stack_config(root)) as stack:
        services = Services(stack, SYSTEM)
        log = EventLog(stack.kafka_connection())
        await log.start()
        try:
            await services.start_all()
            return await measure(services, stack, log, charges, concurrency)
        finally:
            await services.stop_all()
            await log.stop()


async def measure(
    services: Services, stack: Stack, log: EventLog, charges: int, concurrency: int
) -> dict[str, object]:
    credential = {"Authorization": f"Bearer {stack.config.platform_key}"}
    async with (
        httpx.AsyncClient(
            base_url=services.url("booking-service"), timeout=30, headers=credential
        ) as booking,
        httpx.AsyncClient(
            base_url=services.url("charge-service"), timeout=30, headers=credential
        ) as charge,
        httpx.AsyncClient(
            base_url=stack.stripe_url, auth=(stack.config.stripe_api_key, ""), timeout=30
        ) as stripe,
    ):
        account = (await booking.post("/v1/accounts", json={"name": "Bench", "admins": []})).json()[
            "account_id"
        ]
        # charge-service asks Stripe whether the account is connected to the platform: make
        # one on the local stand-in, as Connect onboarding would.
        connected = (await stripe.post("/v1/accounts", data={"type": "standard"})).json()["id"]
        put = await charge.put(
            f"/v1/accounts/{account}/stripe-connection", json={"stripe_account_id": connected}
        )
        put.raise_for_status()
        limit = asyncio.Semaphore(8)

        async def seeded() -> tuple[str, str]:
            async with limit:
                return await seed_customer(booking, charge, stripe, account)

        customers = await asyncio.gather(*(seeded() for _ in range(charges)))
        await asyncio.sleep(2)  # let the last projections land before the clock starts
        sent: dict[str, float] = {}
        gate = asyncio.Semaphore(concurrency)

        async def fire(customer: str, booking_id: str) -> None:
            charge_id = str(uuid.uuid4())
            async with gate:
                sent[charge_id] = time.monotonic()
                response = await charge.post(
                    f"/v1/accounts/{account}/charges",
                    json={
                        "charge_id": charge_id,
                        "customer_id": customer,
                        "booking_ids": [booking_id],
                        "amount": 5000,
                        "currency": "usd",
                        "method": "card_on_file",
                    },
                )
                assert response.status_code == 202, response.text

        start = time.monotonic()
        await asyncio.gather(*(fire(c, b) for c, b in customers))
        accepted = time.monotonic() - start
        done_paid, done_booked = await completion_times(log, sent, timeout=600)
        total = max(done_booked.values()) - start
    paid = [done_paid[c] - sent[c] for c in sent]
    booked = [done_booked[c] - sent[c] for c in sent]
    return {
        "charges": charges,
        "concurrency": concurrency,
        "accepted_per_second": round(charges / accepted, 1),
        "completed_per_second": round(charges / total, 1),
        "seconds_total": round(total, 2),
        "to_payment_succeeded_ms": percentiles(paid),
        "to_booking_charged_ms": percentiles(booked),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }


async def completion_times(
    log: EventLog, sent: dict[str, float], timeout: float
) -> tuple[dict[str, float], dict[str, float]]:
    """When each charge's PaymentSucceeded and BookingCharged were seen (monotonic clock)."""
    paid: dict[str, float] = {}
    booked: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(booked) < len(sent):
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(booked)} of {len(sent)} charges completed")
        now = time.monotonic()
        for charge_id in sent:
            if charge_id not in paid and log.matching(
                topics.PAYMENT_SUCCEEDED, about("charge_id", charge_id)
            ):
                paid[charge_id] = now
            if charge_id not in booked and log.matching(
                topics.BOOKING_CHARGED, about("charge_id", charge_id)
            ):
                booked[charge_id] = now
        failed = [c for c in sent if log.matching(topics.PAYMENT_FAILED, about("charge_id", c))]
        if failed:
            raise RuntimeError(f"{len(failed)} charges failed, e.g. {failed[0]}")
        await asyncio.sleep(0.05)
    return paid, booked


def percentiles(values_seconds: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values_seconds)
    quantiles = statistics.quantiles(ms, n=100)
    return {"p50": round(quantiles[49], 1), "p95": round(quantiles[94], 1), "max": round(ms[-1], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--charges", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.charges, args.concurrency)), indent=2))


if __name__ == "__main__":
    main()
