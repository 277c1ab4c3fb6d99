"""`bookpay-devstack keys list` shows every key of the account, however many pages they take."""

from __future__ import annotations

import argparse

import httpx
import pytest
from bookpay_devstack.keys import every_key, request

PATH = "/v1/accounts/acc/api-keys"
KEYS = [{"key_id": f"k{n:03}"} for n in range(450, 0, -1)]  # newest first


def booking_service(asked: list[httpx.URL]) -> httpx.MockTransport:
    """booking-service's key list, paged: the cursor is the index of the next key."""

    def answer(req: httpx.Request) -> httpx.Response:
        asked.append(req.url)
        start = int(req.url.params.get("cursor", "0"))
        end = start + int(req.url.params["limit"])
        more = end < len(KEYS)
        return httpx.Response(
            200, json={"api_keys": KEYS[start:end], "next_cursor": str(end) if more else None}
        )

    return httpx.MockTransport(answer)


async def test_listing_follows_next_cursor_to_the_last_page() -> None:
    asked: list[httpx.URL] = []
    async with httpx.AsyncClient(transport=booking_service(asked), base_url="http://b") as client:
        found = await every_key(client, PATH)

    assert found == KEYS
    assert [u.params.get("cursor") for u in asked] == [None, "200", "400"]
    assert {u.params["limit"] for u in asked} == {"200"}


async def test_a_refused_page_stops_the_listing_with_the_answer() -> None:
    refuse = httpx.MockTransport(lambda _: httpx.Response(401, json={"error": {}}))
    async with httpx.AsyncClient(transport=refuse, base_url="http://b") as client:
        with pytest.raises(SystemExit, match=f"GET {PATH}: 401"):
            await every_key(client, PATH)


def test_list_asks_for_the_account_keys() -> None:
    assert request(argparse.Namespace(action="list", account="acc")) == ("GET", PATH, None)
