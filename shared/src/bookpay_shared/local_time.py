"""Dates and times as the account's customers and staff read them: in the business's own time
zone, saying which (`Sat 1 May 2027, 07:00 EDT`).

Bookings and links keep UTC instants; only what people read is local. One function formats
every time on the payment pages, in every email and on the staff pages, so a booking reads the
same wherever it is shown. A zone whose rules have no letters for an offset (many zones in South
America, Asia and Africa) shows the offset instead: `UTC-03`.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

__all__ = ["DEFAULT_TIME_ZONE", "format_local", "is_time_zone", "zone"]

DEFAULT_TIME_ZONE = "UTC"

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


_NOT_PLACES = frozenset({"localtime", "posixrules", "Factory"})
"""Files some zone databases carry that name no place: the machine's own zone, a template."""


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_PLACES


def is_time_zone(name: str) -> bool:
    """An IANA zone name known to the zone database (`Europe/Paris`, `UTC`); file paths,
    `localtime` and empty names are not."""
    return name in _known_zones()


@cache
def zone(name: str) -> ZoneInfo:
    """The zone `name`; ValueError for a name that is not an IANA zone."""
    if not is_time_zone(name):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. 'America/New_York')")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone") from exc


def abbreviation(local: datetime) -> str:
    """The zone's letters at that moment (`EDT`, `AST`, `CET`), or the offset when the zone has
    none (`UTC-03`, `UTC+05:30`)."""
    name = local.tzname() or ""
    if name[:1] in ("+", "-"):
        return f"UTC{name}"
    return name or "UTC"


def format_local(moment: datetime, time_zone: str = DEFAULT_TIME_ZONE) -> str:
    """`moment` (an aware datetime) in `time_zone`, for people: `Sat 1 May 2027, 07:00 EDT`."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no instant to show; give it a time zone")
    t = moment.astimezone(zone(time_zone))
    return (
        f"{_DAYS[t.weekday()]} {t.day} {_MONTHS[t.month - 1]} {t.year}, {t:%H:%M} {abbreviation(t)}"
    )
