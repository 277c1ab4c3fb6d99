"""Text and flags people send, checked where they enter (HTTP bodies): `Line` for a name, a
title or a description; `Paragraphs` for a message or a consent text, which may break lines.

PostgreSQL's text cannot hold NUL: it would fail at the database, after the request was
accepted. Other control characters in a name are never meant and would reach emails and pages.
So they are refused with the field named (422), before anything is stored or published. (A
lone surrogate, what JSON's `\\ud800` decodes to, is not text at all: pydantic's string type
refuses it already.)

`Flag` accepts JSON's true/false only, `Count` JSON's integers only (5 or 5.0, as JSON Schema
has it): `"yes"`, `0` for false or `"5"` are a client's bug, better refused than guessed.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StrictBool

LINE_BREAKS = frozenset("\n\r\t")


def _refuse_unprintable(value: str, *, allowed: frozenset[str]) -> str:
    for position, char in enumerate(value):
        if unicodedata.category(char) == "Cc" and char not in allowed:
            raise ValueError(
                f"must not contain control characters (U+{ord(char):04X} at position {position})"
            )
    return value


def single_line(value: str) -> str:
    return _refuse_unprintable(value, allowed=frozenset())


def paragraphs(value: str) -> str:
    return _refuse_unprintable(value, allowed=LINE_BREAKS)


# The same rules as patterns in the OpenAPI documents (checked by the validators above, which
# say where the offending character is).
_NO_CONTROLS = r"^[^\u0000-\u001f\u007f-\u009f]*$"
_NO_CONTROLS_BUT_BREAKS = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"

Line = Annotated[
    str, AfterValidator(single_line), Field(json_schema_extra={"pattern": _NO_CONTROLS})
]
"""One line of text: no control characters at all."""
Paragraphs = Annotated[
    str,
    AfterValidator(paragraphs),
    Field(json_schema_extra={"pattern": _NO_CONTROLS_BUT_BREAKS}),
]
"""Text that may break lines (newline, carriage return, tab) but holds no other control
character."""


def json_integer(value: object) -> object:
    """An integer as JSON has it: `5` or `5.0` (JSON Schema counts 5.0 as an integer), never
    `"5"`, `true` or `5.5`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def iso_8601(value: object) -> object:
    """A date-time as ISO 8601 text (what the OpenAPI documents say), never a number of
    seconds: pydantic would read `0.5` as half a second after 1970."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE_TIME.match(value):
        raise ValueError("must be an ISO 8601 date-time with its offset, e.g. 2027-05-01T09:00:00Z")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(iso_8601)]
"""A moment, as ISO 8601 text with its UTC offset."""
Flag = StrictBool
Count = Annotated[int, BeforeValidator(json_integer)]
