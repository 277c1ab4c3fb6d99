"""Cursor pagination for list routes: newest first, keyed on (created_at, id).

A page answers its items and `next_cursor`, an opaque string that asks for the items after the
last one shown (None on the last page). Keyset rather than offset: a page is as cheap deep in a
list as at its start, and rows added meanwhile neither repeat nor skip an item.

A route takes `limit: PageLimit` and `after: After` (the `cursor` query parameter, decoded; a
bad one is 400 `invalid_cursor`); its repository asks for `limit + 1` rows

    WHERE ... AND (created_at, id) < ($after_at, $after_id)
    ORDER BY created_at DESC, id DESC LIMIT $limit_plus_one

where the first page's position is `START`, before the newest row (one query, one plan, for
every page); `Page.of` makes the page of what came back. An index on (..., created_at, id)
serves that order.

A cursor is not signed: it names a position in a list and grants nothing, since the query that
takes it still keeps to the caller's account and filters.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query

from bookpay_shared.http import ApiError

DEFAULT_LIMIT = 100
MAX_LIMIT = 200

T = TypeVar("T")


class InvalidCursor(ApiError):
    """400 `invalid_cursor`: a cursor this API did not give out (made up, cut short, altered)."""

    code = "invalid_cursor"


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        text = f"{self.created_at.isoformat()}|{self.id}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            padded = value + "=" * (-len(value) % 4)
            raw = base64.urlsafe_b64decode(padded.encode("ascii"))
            at, separator, id_ = raw.decode().partition("|")
            created_at = datetime.fromisoformat(at)
            if not separator or created_at.tzinfo is None:
                raise ValueError("not a time with its offset and an id")
            return cls(created_at.astimezone(UTC), uuid.UUID(id_))
        except (ValueError, OverflowError, UnicodeError, binascii.Error) as exc:
            raise InvalidCursor(
                "cursor is not one this API gave out: pass a page's next_cursor as it came"
            ) from exc


START = Cursor(datetime.max.replace(tzinfo=UTC), uuid.UUID(int=(1 << 128) - 1))
"""Where a list starts, before its newest row: the position when no cursor is given."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its items, and the cursor for the rest (None on the last page)."""

    items: list[T]
    next_cursor: str | None

    @classmethod
    def of(cls, found: Sequence[T], limit: int, position: Callable[[T], Cursor]) -> Page[T]:
        """The page of `found`, the rows a query gave for `LIMIT limit + 1`: the extra row
        only says that there is a next page, which starts after the last one shown."""
        items = list(found[:limit])
        more = len(found) > limit
        return cls(items, position(items[-1]).encode() if more else None)


def _after(
    cursor: Annotated[
        str | None, Query(description="a page's `next_cursor`, for the page after it")
    ] = None,
) -> Cursor:
    return Cursor.decode(cursor) if cursor else START


PageLimit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"items a page, at most {MAX_LIMIT}")
]
After = Annotated[Cursor, Depends(_after)]
"""The `cursor` query parameter, decoded: `START` for the first page."""
