import uuid
from datetime import UTC, datetime

import pytest
from bookpay_shared.http import ApiError
from bookpay_shared.pagination import Cursor


def test_a_cursor_round_trips_and_is_opaque() -> None:
    cursor = Cursor(datetime(2026, 12, 2, 14, 3, 4, 567890, tzinfo=UTC), uuid.uuid4())
    text = cursor.encode()
    assert "|" not in text and "=" not in text
    assert Cursor.decode(text) == cursor


@pytest.mark.parametrize("bad", ["", "not-a-cursor", "MjAyNi0xMi0wMlQxNDowMzowNA", "%%%"])
def test_a_made_up_cursor_is_refused(bad: str) -> None:
    with pytest.raises(ApiError) as refused:
        Cursor.decode(bad)
    assert (refused.value.status_code, refused.value.code) == (400, "invalid_cursor")
