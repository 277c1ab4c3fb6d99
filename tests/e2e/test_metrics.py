"""Every service's /metrics on the real stack counts exactly the work done: N card-on-file
charges move charge-service's, booking-service's and the outbox's series by N, and the outbox
gauges are back at 0 once everything is relayed."""

from __future__ import annotations

import httpx
import pytest
from bookpay_devstack.system import Services
from bookpay_shared import topics
from bookpay_shared.consuming import consumer_group
from prometheus_client.parser import text_string_to_metric_families

from .support import Bookpay, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVICES = ("booking-service", "charge-service", "link-service", "notification-service")
CHARGES = 3
CHARGES_ROUTE = "/v1/accounts/{account_id}/charges"
OFF_SESSION = "create and confirm payment intent off-session"


class Scrape:
    """One reading of a service's /metrics."""

    def __init__(self, text: str) -> None:
        self.samples = [
            (s.name, s.labels, s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the series `name` whose labels include `labels` (0 when there is none)."""
        return sum(
            v
            for n, have, v in self.samples
            if n == name and all(have.get(k) == want for k, want in labels.items())
        )

    def has(self, name: str) -> bool:
        return any(n == name for n, _, _ in self.samples)


async def scrape(system: Services, service: str) -> Scrape:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(f"{system.url(service)}/metrics")  # no credential
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return Scrape(answer.text)


async def test_metrics_count_exactly_the_card_on_file_charges(
    bookpay: Bookpay, system: Services
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [1000] * CHARGES)
    await bookpay.save_card(customer)
    charge_before = await scrape(system, "charge-service")
    booking_before = await scrape(system, "booking-service")

    charge_ids = []
    for _ in range(CHARGES):
        accepted = await bookpay.charge_card_on_file(customer, 1000)
        assert accepted.status_code == 202, accepted.text
        charge_ids.append(accepted.json()["charge_id"])
    for charge_id in charge_ids:
        assert (await bookpay.wait_charge_done(customer, charge_id))["status"] == "succeeded"

    paid = topics.PAYMENT_SUCCEEDED
    expected = {
        ("charge-service", "bookpay_charges_total"): (
            {"method": "card_on_file", "outcome": "succeeded"},
            charge_before,
        ),
        ("charge-service", "bookpay_http_requests_total"): (
            {"method": "POST", "route": CHARGES_ROUTE, "status": "202"},
            charge_before,
        ),
        ("charge-service", "bookpay_outbox_events_published_total"): (
            {"topic": paid},
            charge_before,
        ),
        ("charge-service", "bookpay_stripe_request_seconds_count"): (
            {"operation": OFF_SESSION},
            charge_before,
        ),
        ("charge-service", "bookpay_messages_consumed_total"): (
            {"topic": topics.CHARGE_REQUESTED},
            charge_before,
        ),
        ("booking-service", "bookpay_messages_consumed_total"): (
            {"topic": paid, "group": consumer_group("booking-service", paid)},
            booking_before,
        ),
    }

    async def counted() -> bool:
        readings = {s: await scrape(system, s) for s in ("charge-service", "booking-service")}
        for (service, name), (labels, before) in expected.items():
            moved = readings[service].value(name, **labels) - before.value(name, **labels)
            assert moved == CHARGES, f"{service} {name}{labels} moved by {moved}"
        return True

    await eventually(counted, timeout=30)

    # Nothing failed or was dead-lettered on the way.
    charge_after = await scrape(system, "charge-service")
    for name in ("bookpay_messages_dead_lettered_total", "bookpay_stripe_errors_total"):
        assert charge_after.value(name) == charge_before.value(name), name
    assert charge_after.value("bookpay_charges_total", outcome="failed") == charge_before.value(
        "bookpay_charges_total", outcome="failed"
    )

    async def drained() -> bool:
        for service in SERVICES:
            reading = await scrape(system, service)
            assert reading.has("bookpay_outbox_unpublished_events"), service
            assert reading.value("bookpay_outbox_unpublished_events") == 0, service
            assert reading.value("bookpay_outbox_oldest_unpublished_age_seconds") == 0, service
        booking = await scrape(system, "booking-service")
        group = consumer_group("booking-service", paid)
        assert booking.has("bookpay_consumer_lag_messages")
        assert booking.value("bookpay_consumer_lag_messages", group=group) == 0
        return True

    await eventually(drained, timeout=30)


async def test_metrics_are_served_on_the_staff_apps_only(system: Services) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        for service in ("charge-service", "link-service"):
            answer = await client.get(f"{system.public_url(service)}/metrics")
            assert answer.status_code == 404, (service, answer.text)
    for service in SERVICES:
        first = await scrape(system, service)
        second = await scrape(system, service)
        scraped = {"route": "/metrics", "status": "200", "method": "GET"}
        counted = second.value("bookpay_http_requests_total", **scraped)
        assert counted == first.value("bookpay_http_requests_total", **scraped) + 1, service
        assert {labels.get("service") for _, labels, _ in second.samples} <= {None, service}
