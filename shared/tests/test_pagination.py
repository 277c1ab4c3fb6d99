import base64
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from bookpay_shared.http import ApiError
from bookpay_shared.pagination import START, Cursor, Page


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_a_cursor_round_trips_and_is_opaque() -> None:
    cursor = Cursor(datetime(2026, 12, 2, 14, 3, 4, 567890, tzinfo=UTC), uuid.uuid4())
    text = cursor.encode()
    assert "|" not in text and "=" not in text
    assert Cursor.decode(text) == cursor


def test_a_cursor_keeps_its_instant_whatever_the_offset_it_was_written_with() -> None:
    at = datetime(2026, 12, 2, 9, 3, 4, tzinfo=timezone(timedelta(hours=-5)))
    cursor = Cursor(at, uuid.uuid4())
    decoded = Cursor.decode(cursor.encode())
    assert decoded == cursor and decoded.created_at.tzinfo is UTC


def test_every_position_comes_after_the_start() -> None:
    newest = Cursor(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), uuid.UUID(int=0))
    key = (newest.created_at, newest.id)
    assert key < (START.created_at, START.id)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not-a-cursor",
        "MjAyNi0xMi0wMlQxNDowMzowNA",  # a time without its id
        "%%%",
        "Zm9v!",
        "é",
        cursor_of("2026-12-02T14:03:04|not-a-uuid"),
        cursor_of(f"2026-12-02T14:03:04|{uuid.uuid4()}"),  # no offset: which instant?
        cursor_of(f"yesterday|{uuid.uuid4()}"),
        cursor_of(f"0001-01-01T00:00:00+05:00|{uuid.uuid4()}"),  # before year 1 in UTC
        "\udcff",
    ],
)
def test_a_made_up_cursor_is_refused(bad: str) -> None:
    with pytest.raises(ApiError) as refused:
        Cursor.decode(bad)
    assert (refused.value.status_code, refused.value.code) == (400, "invalid_cursor")
    assert "next_cursor" in refused.value.message


def test_a_cursor_altered_or_cut_short_is_refused() -> None:
    text = Cursor(datetime(2026, 12, 2, 14, 3, 4, tzinfo=UTC), uuid.uuid4()).encode()
    for altered in (text[:-3], text[:20], "A" + text, text[:5] + "*" + text[6:]):
        with pytest.raises(ApiError) as refused:
            Cursor.decode(altered)
        assert refused.value.code == "invalid_cursor", altered


def position(n: int) -> Cursor:
    return Cursor(datetime(2026, 1, 1, tzinfo=UTC) - timedelta(minutes=n), uuid.UUID(int=n))


def test_a_page_of_one_row_more_than_its_limit_points_at_the_rest() -> None:
    page = Page.of([1, 2, 3], 2, position)
    assert page.items == [1, 2]
    assert page.next_cursor is not None and Cursor.decode(page.next_cursor) == position(2)


@pytest.mark.parametrize("found", [[], [1], [1, 2]])
def test_the_last_page_has_no_next_cursor(found: list[int]) -> None:
    assert Page.of(found, 2, position) == Page(found, None)
