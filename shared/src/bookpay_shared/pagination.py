"""Cursor pagination for list routes: newest first, keyed on (created_at, id).

A page answers its items and `next_cursor`, an opaque string that asks for the items after the
last one shown (None on the last page). Keyset rather than offset: a page is as cheap deep in a
list as at its start, and rows added meanwhile neither repeat nor skip an item.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime

from bookpay_shared.http import ApiError

DEFAULT_LIMIT = 100
MAX_LIMIT = 200


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
            at, _, id_ = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
            created_at = datetime.fromisoformat(at)
            if created_at.tzinfo is None:
                raise ValueError("naive time")
            return cls(created_at, uuid.UUID(id_))
        except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
            raise ApiError("cursor is not one this API gave out", code="invalid_cursor") from exc
