"""Text and flags people send, checked where they enter (HTTP bodies): `Line` for a name, a
title or a description; `Paragraphs` for a message or a consent text, which may break lines.

PostgreSQL's text cannot hold NUL: it would fail at the database, after the request was
accepted. Other control characters in a name are never meant and would reach emails and pages.
So they are refused with the field named (422), before anything is stored or published. (A
lone surrogate, what JSON's `\\ud800` decodes to, is not text at all: pydantic's string type
refuses it already.)

`Flag` and `Count` accept JSON's true/false and integers only: `"yes"`, `0` or `"5"` are a
client's bug, better refused than guessed.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field, StrictBool, StrictInt

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
Flag = StrictBool
Count = StrictInt
