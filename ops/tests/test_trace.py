"""bookpay-ops trace: one charge's events and what the services recorded of it, merged into one
timeline in time order, each line naming its source; a source that cannot answer is named and
the rest still shown."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from bookpay_ops.cli import app
from bookpay_ops.decoding import decode
from bookpay_ops.services import Charge, Link, Notification, StaffApi
from bookpay_ops.trace import (
    Found,
    first_account,
    read_services,
    render,
    timeline,
    to_json,
    unknown,
)
from pydantic import SecretStr
from typer.testing import CliRunner

from .records import (
    ACCOUNT,
    BOOKINGS,
    CHARGE,
    CUSTOMER,
    T0,
    booking_charged,
    of,
    record,
    requested,
    succeeded,
)

URLS = {
    "charge-service": "http://charge",
    "link-service": "http://link",
    "notification-service": "http://notification",
}


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


CHARGE_JSON: dict[str, Any] = {
    "charge_id": str(CHARGE),
    "account_id": str(ACCOUNT),
    "customer_id": str(CUSTOMER),
    "booking_ids": [str(b) for b in BOOKINGS],
    "amount": 17_500,
    "currency": "usd",
    "method": "card_on_file",
    "status": "succeeded",
    "requested_by": "staff:ada",
    "attempts": 1,
    "history": [
        {"at": at(-0.1), "status": "requested", "note": "charge requested"},
        {"at": at(0.5), "status": "processing", "note": "charging the saved visa ending 4242"},
        {"at": at(0.95), "status": "succeeded", "note": "paid"},
    ],
}
LINK_JSON: dict[str, Any] = {
    "link_id": str(uuid.UUID(int=5)),
    "charge_id": str(CHARGE),
    "customer_id": str(CUSTOMER),
    "amount": 17_500,
    "currency": "usd",
    "state": "paid",
    "origin": "payment_link",
    "expires_at": at(86_400),
    "created_at": at(0.2),
    "paid_at": at(0.9),
    "times_sent": 1,
}
EMAIL_JSON: dict[str, Any] = {
    "notification_id": str(uuid.UUID(int=6)),
    "kind": "admin_link_paid",
    "charge_id": str(CHARGE),
    "recipient": "admin@example.com",
    "subject": "Payment received",
    "status": "sent",
    "attempts": 1,
    "created_at": at(2.5),
    "sent_at": at(3),
}


def found(**changes: Any) -> Found:
    fields: dict[str, Any] = {
        "events": [decode(of(e)) for e in (booking_charged(), requested(), succeeded())],
        "charge": Charge.model_validate(CHARGE_JSON),
        "links": [Link.model_validate(LINK_JSON)],
        "notifications": [Notification.model_validate(EMAIL_JSON)],
    }
    return Found(**{**fields, **changes})


def test_every_source_is_merged_in_time_order_each_line_naming_its_source() -> None:
    merged = timeline(found())

    assert [(e.at - T0).total_seconds() for e in merged] == sorted(
        (e.at - T0).total_seconds() for e in merged
    )
    assert [(e.source, e.text.split(":")[0].split()[0]) for e in merged] == [
        ("charge-service", "requested"),
        ("charge-requested[0]@0", "ChargeRequested"),
        ("link-service", "link"),
        ("charge-service", "processing"),
        ("link-service", "link"),
        ("charge-service", "succeeded"),
        ("payment-succeeded[0]@0", "PaymentSucceeded"),
        ("booking-charged[0]@0", "BookingCharged"),
        ("notification-service", "email"),
    ]


def test_an_event_comes_before_what_a_service_recorded_at_the_same_instant() -> None:
    same = {**CHARGE_JSON, "history": [{"at": at(1), "status": "succeeded", "note": "paid"}]}

    merged = timeline(found(charge=Charge.model_validate(same), links=[], notifications=[]))

    assert [e.source for e in merged][1:3] == ["payment-succeeded[0]@0", "charge-service"]


def test_the_lines_name_the_charge_then_the_timeline_then_what_could_not_be_read() -> None:
    shown = render(CHARGE, ACCOUNT, found(problems=["link-service: service down: no answer"]))

    assert shown[0] == f"charge {CHARGE} (account {ACCOUNT})"
    assert shown[1] == (
        "2027-05-01 09:29:59.900  charge-service          requested: charge requested"
    )
    assert "2027-05-01 09:30:03.000  notification-service    email admin_link_paid to " in shown[-2]
    assert shown[-1] == "PROBLEM: link-service: service down: no answer"


def test_the_json_form_holds_each_line_with_what_its_source_said() -> None:
    shown = to_json(CHARGE, ACCOUNT, found(links=[], notifications=[]))

    assert shown["charge_id"] == str(CHARGE)
    assert shown["problems"] == []
    first, second = shown["timeline"][:2]
    assert (first["source"], first["data"]["status"], first["data"]["note"]) == (
        "charge-service",
        "requested",
        "charge requested",
    )
    assert second["data"]["event"]["event_type"] == "ChargeRequested"
    assert second["data"]["topic"] == "charge-requested"


def test_the_account_is_the_first_event_that_names_one() -> None:
    broken = decode(record("charge-requested", b"{"))

    assert first_account([broken, decode(of(succeeded()))]) == ACCOUNT
    assert first_account([broken]) is None


def services(*, down: str | None = None, charge: int = 200) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == down:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.host == "charge":
            return httpx.Response(charge, json=CHARGE_JSON if charge == 200 else {})
        if request.url.host == "link":
            return httpx.Response(200, json={"links": [LINK_JSON], "next_cursor": None})
        return httpx.Response(200, json={"notifications": [EMAIL_JSON], "next_cursor": None})

    return httpx.MockTransport(answer)


async def test_the_services_say_the_history_the_links_and_the_emails_of_the_charge() -> None:
    async with StaffApi(URLS, SecretStr("k"), transport=services()) as api:
        said = await read_services(api, ACCOUNT, CHARGE)

    assert said.charge is not None
    assert [h.status for h in said.charge.history] == ["requested", "processing", "succeeded"]
    assert [link.link_id for link in said.links] == [uuid.UUID(int=5)]
    assert [e.kind for e in said.notifications] == ["admin_link_paid"]
    assert (said.problems, said.notes) == ([], [])


async def test_a_service_down_is_a_problem_and_the_others_still_answer() -> None:
    async with StaffApi(URLS, SecretStr("k"), transport=services(down="link")) as api:
        said = await read_services(api, ACCOUNT, CHARGE)

    assert said.charge is not None
    assert said.links == []
    assert len(said.notifications) == 1
    assert said.problems == [
        "link-service: service down: no answer at http://link/v1/accounts/"
        f"{ACCOUNT}/links (ConnectError)"
    ]


async def test_a_charge_charge_service_does_not_know_is_a_note_not_a_problem() -> None:
    async with StaffApi(URLS, SecretStr("k"), transport=services(charge=404)) as api:
        said = await read_services(api, ACCOUNT, CHARGE)

    assert said.charge is None
    assert said.problems == []
    assert said.notes == [f"charge-service: no charge {CHARGE} in account {ACCOUNT}"]


def test_nothing_found_says_whether_the_services_were_asked() -> None:
    assert unknown(CHARGE, None).endswith("(give --account to ask the services too)")
    assert unknown(CHARGE, ACCOUNT).endswith(f"and account {ACCOUNT}'s services do not know it")
    assert not Found().anything


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [(["c-42"], "'c-42' is not an id"), ([str(CHARGE), "--account", "a"], "'a' is not an id")],
)
def test_the_command_refuses_ids_that_are_none(arguments: list[str], complaint: str) -> None:
    result = CliRunner().invoke(app, ["trace", *arguments])

    assert result.exit_code == 2
    assert complaint in result.output
