"""Times for people are shown in the business's zone, with the abbreviation in force then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from bookpay_shared.local_time import format_local, is_time_zone


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_summer_morning_in_new_york_reads_as_eastern_daylight_time() -> None:
    assert format_local(at("2027-07-10T11:00"), "America/New_York") == "Sat 10 Jul 2027, 07:00 EDT"


def test_a_winter_morning_in_new_york_reads_as_eastern_standard_time() -> None:
    assert format_local(at("2027-01-09T12:00"), "America/New_York") == "Sat 9 Jan 2027, 07:00 EST"


def test_the_same_instant_reads_differently_on_each_side_of_the_spring_change() -> None:
    # 14 March 2027, 2:00 local: clocks in New York jump to 3:00.
    before = at("2027-03-14T06:30")
    after = before + timedelta(hours=1)
    assert format_local(before, "America/New_York") == "Sun 14 Mar 2027, 01:30 EST"
    assert format_local(after, "America/New_York") == "Sun 14 Mar 2027, 03:30 EDT"


def test_the_repeated_hour_of_the_autumn_change_is_told_apart_by_its_abbreviation() -> None:
    # 7 November 2027, 2:00 local: clocks in Halifax fall back to 1:00.
    first = at("2027-11-07T04:30")
    second = first + timedelta(hours=1)
    assert format_local(first, "America/Halifax") == "Sun 7 Nov 2027, 01:30 ADT"
    assert format_local(second, "America/Halifax") == "Sun 7 Nov 2027, 01:30 AST"


def test_the_local_date_can_differ_from_the_utc_date() -> None:
    assert format_local(at("2027-05-01T02:00"), "America/Los_Angeles") == (
        "Fri 30 Apr 2027, 19:00 PDT"
    )


def test_a_zone_without_letters_shows_its_offset() -> None:
    assert (
        format_local(at("2027-05-01T11:00"), "America/Sao_Paulo") == "Sat 1 May 2027, 08:00 UTC-03"
    )


def test_utc_is_the_default_and_says_so() -> None:
    assert format_local(at("2027-05-01T11:00")) == "Sat 1 May 2027, 11:00 UTC"


def test_an_instant_given_with_another_offset_is_the_same_instant() -> None:
    paris = datetime(2027, 5, 1, 13, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_local(paris, "America/New_York") == "Sat 1 May 2027, 07:00 EDT"


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_local(datetime(2027, 5, 1, 11, 0), "UTC")


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "localtime", "../etc/passwd", "EDT"])
def test_only_iana_zone_names_are_zones(name: str) -> None:
    assert not is_time_zone(name)
    with pytest.raises(ValueError, match="IANA"):
        format_local(at("2027-05-01T11:00"), name)
