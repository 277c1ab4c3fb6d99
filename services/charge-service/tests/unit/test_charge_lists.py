"""Staff lists of charges: what a list shows of a charge, and which filters it takes."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from bookpay_shared.events import ChargeMethod, FailureReason
from bookpay_shared.http import install_error_handlers
from bookpay_shared.pagination import Cursor, Page
from charge_service.domain.model import Charge, ChargeFilter, ChargeStatus, Failure
from charge_service.entrypoints.charge_lists import Filter, _position
from charge_service.entrypoints.views import ChargeSummaryOut
from fastapi import FastAPI

AT = datetime(2027, 5, 1, 9, tzinfo=UTC)


def recorded(n: int, **changes: object) -> Charge:
    fields: dict[str, object] = {
        "charge_id": uuid.UUID(int=n),
        "account_id": uuid.UUID(int=1),
        "customer_id": uuid.UUID(int=2),
        "booking_ids": (uuid.UUID(int=3),),
        "amount": 1000,
        "currency": "usd",
        "method": ChargeMethod.CARD_ON_FILE,
        "payment_method_id": None,
        "save_card": False,
        "message": None,
        "requested_by": "key:k1",
        "requested_at": AT - timedelta(minutes=n),
        "updated_at": AT,
    }
    return Charge(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_failed_charge_is_listed_with_why_it_failed() -> None:
    failed = recorded(
        7,
        status=ChargeStatus.FAILED,
        attempts=1,
        failure=Failure(FailureReason.NO_CARD_ON_FILE, "This customer has no saved card."),
    )

    shown = ChargeSummaryOut.of(failed).model_dump(mode="json")

    assert shown["status"] == "failed" and shown["attempts"] == 1
    assert shown["failure"] == {
        "reason": "no_card_on_file",
        "message": "This customer has no saved card.",
        "decline_code": None,
    }
    assert shown["created_at"] == "2027-05-01T08:53:00Z"
    assert shown["booking_ids"] == [str(uuid.UUID(int=3))]


def test_a_declined_charge_is_listed_with_the_banks_decline_code() -> None:
    declined = recorded(
        8,
        status=ChargeStatus.FAILED,
        failure=Failure(FailureReason.CARD_DECLINED, "Your card was declined.", "do_not_honor"),
    )

    failure = ChargeSummaryOut.of(declined).failure

    assert failure is not None
    assert (failure.reason, failure.decline_code) == (FailureReason.CARD_DECLINED, "do_not_honor")


def test_a_charge_that_went_on_after_a_failure_is_listed_without_one() -> None:
    went_on = recorded(
        7,
        status=ChargeStatus.AWAITING_CUSTOMER,
        failure=Failure(FailureReason.AUTHENTICATION_REQUIRED, "The bank wants the customer."),
    )

    assert ChargeSummaryOut.of(went_on).failure is None


def test_a_page_of_charges_ends_where_the_next_one_starts() -> None:
    found = [recorded(n) for n in (1, 2, 3)]  # newest first, one row beyond the page

    page = Page.of(found, 2, _position)

    assert page.items == found[:2]
    assert page.next_cursor is not None
    assert Cursor.decode(page.next_cursor) == Cursor(AT - timedelta(minutes=2), uuid.UUID(int=2))
    assert Page.of(found[:2], 2, _position).next_cursor is None


def test_a_date_range_must_start_before_it_ends() -> None:
    with pytest.raises(ValueError, match="created_from must be before created_to"):
        ChargeFilter(created_from=AT, created_to=AT)
    assert ChargeFilter(created_from=AT, created_to=AT + timedelta(seconds=1)).created_to


def app_showing_filters() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/charges")
    async def shown(only: Filter) -> dict[str, object]:
        return {
            "statuses": sorted(only.statuses),
            "method": only.method,
            "created_from": only.created_from,
            "failure_reasons": sorted(only.failure_reasons),
        }

    return app


async def get(query: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app_showing_filters())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(f"/charges?{query}")


async def test_filters_take_one_status_or_several() -> None:
    one = await get("status=failed")
    several = await get("status=failed&status=processing&method=payment_link")

    assert one.json()["statuses"] == ["failed"]
    assert several.json() == {
        "statuses": ["failed", "processing"],
        "method": "payment_link",
        "created_from": None,
        "failure_reasons": [],
    }


async def test_filters_take_one_failure_reason_or_several() -> None:
    one = await get("failure_reason=card_declined")
    several = await get("failure_reason=link_expired&failure_reason=link_cancelled")

    assert one.json()["failure_reasons"] == ["card_declined"]
    assert several.json()["failure_reasons"] == ["link_cancelled", "link_expired"]


@pytest.mark.parametrize(
    "query",
    [
        "status=lost",
        "method=cash",
        "created_from=yesterday",
        "created_from=2027-05-01T09:00:00",  # no offset: whose 9 o'clock?
        "created_from=2027-05-02T00:00:00Z&created_to=2027-05-01T00:00:00Z",
        "failure_reason=bad_luck",
    ],
)
async def test_a_filter_we_cannot_read_is_refused(query: str) -> None:
    refused = await get(query)

    assert refused.status_code == 422, refused.text
