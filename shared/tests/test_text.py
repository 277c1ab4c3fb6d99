"""Text people send: control characters and lone surrogates are refused with the field named;
flags and counts take JSON's booleans and integers only."""

from __future__ import annotations

import pytest
from bookpay_shared.text import Count, Flag, Instant, Line, Paragraphs
from pydantic import BaseModel, Field, ValidationError


class Body(BaseModel):
    name: Line = Field(max_length=20)
    message: Paragraphs | None = None
    notify: Flag = True
    hours: Count | None = None


def refused(**fields: object) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        Body.model_validate({"name": "Ada", **fields})
    (error,) = caught.value.errors()
    return str(error["loc"][0]), error["msg"]


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\n", "\t"])
def test_a_line_refuses_every_control_character(char: str) -> None:
    field, message = refused(name=f"Ada{char}")
    assert field == "name"
    assert f"U+{ord(char):04X} at position 3" in message


def test_paragraphs_may_break_lines_but_hold_no_other_control_character() -> None:
    assert Body(name="Ada", message="Hi,\r\n\tsee you\n").message == "Hi,\r\n\tsee you\n"
    assert refused(message="Hi\x00") == (
        "message",
        "Value error, must not contain control characters (U+0000 at position 2)",
    )


def test_a_lone_surrogate_is_not_text() -> None:
    # What JSON's "\ud800" decodes to: not encodable as UTF-8, so never stored.
    field, message = refused(name="Ada\ud800")
    assert field == "name" and "unicode" in message


def test_ordinary_text_in_any_script_passes() -> None:
    for name in ("Zoë O'Brien", "渡辺 さくら", "Ёжик 🦔", "Ada\u00a0Lovelace"):
        assert Body(name=name).name == name


@pytest.mark.parametrize("value", ["yes", "off", "true", 0, 1, "1"])
def test_flags_are_json_booleans_only(value: object) -> None:
    assert refused(notify=value)[0] == "notify"


@pytest.mark.parametrize("value", ["5", 5.5, True, [5]])
def test_counts_are_json_integers_only(value: object) -> None:
    assert refused(hours=value)[0] == "hours"
    assert Body(name="A", hours=5).hours == 5
    # JSON Schema counts 5.0 as an integer; so do we.
    assert Body(name="A", hours=5.0).hours == 5


class Window(BaseModel):
    start: Instant


def test_a_moment_is_iso_8601_text_with_its_offset_never_a_number() -> None:
    assert Window(start="2027-05-01T09:00:00Z").start.isoformat() == "2027-05-01T09:00:00+00:00"
    assert Window(start="2027-05-01 09:00:00+02:00").start.utcoffset() is not None
    for value in ("0.5", 0.5, 1_800_000_000, "2027-05-01", "2027-05-01T09:00:00"):
        with pytest.raises(ValidationError) as caught:
            Window(start=value)
        assert caught.value.errors()[0]["loc"] == ("start",)
