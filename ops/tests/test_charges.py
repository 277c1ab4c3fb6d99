"""bookpay-ops charges: an account's recent charges counted by status and method, with the
newest failures and their reasons, read through every page of charge-service's list."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bookpay_ops.charges import parse_duration, read_report, summarize
from bookpay_ops.cli import app
from bookpay_ops.services import ChargeSummary, ServiceRefused, StaffApi
from pydantic import SecretStr
from typer.testing import CliRunner

NOW = datetime(2027, 5, 1, 9, 30, tzinfo=UTC)
ACCOUNT = uuid.UUID(int=1)


def charge(n: int, status: str, method: str, reason: str | None = None) -> dict[str, Any]:
    return {
        "charge_id": str(uuid.UUID(int=100 + n)),
        "customer_id": str(uuid.UUID(int=2)),
        "booking_ids": [str(uuid.UUID(int=3))],
        "amount": 1000 + n,
        "currency": "usd",
        "method": method,
        "status": status,
        "failure": None
        if reason is None
        else {"reason": reason, "message": f"why {n}", "decline_code": None},
        "attempts": 1,
        "created_at": (NOW - timedelta(seconds=n)).isoformat(),
        "updated_at": NOW.isoformat(),
    }


CHARGES = [
    charge(1, "succeeded", "card_on_file"),
    charge(2, "failed", "card_on_file", "card_declined"),
    charge(3, "awaiting_customer", "payment_link"),
    charge(4, "failed", "payment_link", "link_expired"),
    charge(5, "succeeded", "new_card"),
    charge(6, "failed", "new_card", "authentication_required"),
    charge(7, "succeeded", "card_on_file"),
]


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
    ],
)
def test_a_window_is_a_number_and_a_unit(text: str, span: timedelta) -> None:
    assert parse_duration(text) == span


@pytest.mark.parametrize("text", ["", "15", "m", "1.5h", "-5m", "5x", "0m", "15 minutes"])
def test_anything_else_is_no_window(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_charges_are_counted_by_status_by_method_and_by_both() -> None:
    charges = [ChargeSummary.model_validate(c) for c in CHARGES]

    report = summarize(ACCOUNT, charges, NOW - timedelta(minutes=15), NOW, newest_failed=2)

    assert report.total == 7
    assert report.by_status == {"succeeded": 3, "failed": 3, "awaiting_customer": 1}
    assert report.by_method == {"card_on_file": 3, "payment_link": 2, "new_card": 2}
    assert report.by_status_and_method["failed"] == {
        "card_on_file": 1,
        "payment_link": 1,
        "new_card": 1,
    }
    assert report.by_status_and_method["succeeded"] == {"card_on_file": 2, "new_card": 1}
    assert [(f.amount, f.reason) for f in report.newest_failed] == [
        (1002, "card_declined"),
        (1004, "link_expired"),
    ]
    assert report.to_json()["newest_failed"][0]["message"] == "why 2"


def charge_service(asked: list[httpx.Request]) -> httpx.MockTransport:
    """charge-service's list of CHARGES, three a page, as the API pages it."""

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        assert request.url.path == f"/v1/accounts/{ACCOUNT}/charges"
        start = int(request.url.params.get("cursor", "0"))
        page = CHARGES[start : start + 3]
        more = start + 3 < len(CHARGES)
        return httpx.Response(
            200, json={"charges": page, "next_cursor": str(start + 3) if more else None}
        )

    return httpx.MockTransport(answer)


async def test_the_report_reads_every_page_of_the_window() -> None:
    asked: list[httpx.Request] = []
    urls = {"charge-service": "http://charges.test"}
    async with StaffApi(urls, SecretStr("k"), transport=charge_service(asked)) as api:
        report = await read_report(
            api, ACCOUNT, since=timedelta(minutes=15), statuses=["failed", "succeeded"], now=NOW
        )

    assert report.total == 7 and not report.truncated
    assert len(asked) == 3
    first = asked[0].url.params
    assert first.get_list("status") == ["failed", "succeeded"]
    assert datetime.fromisoformat(first["created_from"]) == NOW - timedelta(minutes=15)
    assert datetime.fromisoformat(first["created_to"]) == NOW
    assert [r.url.params.get("cursor") for r in asked] == [None, "3", "6"]
    assert all(r.url.params["created_from"] == first["created_from"] for r in asked)


async def test_a_window_busier_than_the_limit_is_reported_on_its_newest() -> None:
    urls = {"charge-service": "http://charges.test"}
    async with StaffApi(urls, SecretStr("k"), transport=charge_service([])) as api:
        report = await read_report(
            api, ACCOUNT, since=timedelta(minutes=15), now=NOW, max_charges=4
        )

    assert report.total == 4 and report.truncated


async def test_a_refusal_says_which_service_and_why() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401, json={"error": {"code": "unauthenticated", "message": "unknown API key"}}
        )

    urls = {"charge-service": "http://charges.test"}
    async with StaffApi(urls, SecretStr("k"), transport=httpx.MockTransport(refuse)) as api:
        with pytest.raises(ServiceRefused) as refused:
            await read_report(api, ACCOUNT, since=timedelta(minutes=1), now=NOW)

    assert refused.value.status == 401 and refused.value.code == "unauthenticated"
    assert str(refused.value) == "charge-service: 401 unauthenticated: unknown API key"


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        (["--account", "nope"], "is not an account id"),
        (["--account", str(ACCOUNT), "--since", "soon"], "is not a duration"),
        (["--account", str(ACCOUNT), "--status", "lost"], "unknown status lost"),
    ],
)
def test_the_command_refuses_what_it_cannot_read(options: list[str], complaint: str) -> None:
    result = CliRunner().invoke(app, ["charges", *options])

    assert result.exit_code == 2, result.output
    assert complaint in result.output
