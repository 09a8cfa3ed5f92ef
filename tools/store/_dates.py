"""FHIR date, dateTime and instant values as sortable UTC ranges.

A FHIR date is a range at its precision: ``2019`` is the whole year, ``2019-05-03`` the
whole day, ``2019-05-03T10:00:00+02:00`` one second. Each value becomes ``(start, end)``,
both ``YYYY-MM-DDTHH:MM:SS.ffffff`` in UTC, so plain string comparison orders them on
SQLite and PostgreSQL alike. Values without a time zone (dates, partial dates) are read as
UTC.
"""

from __future__ import annotations

import calendar
import functools
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

__all__ = ["MAX", "MIN", "date_range", "instant", "now_utc", "to_fhir_instant"]

MIN: Final = "0001-01-01T00:00:00.000000"
MAX: Final = "9999-12-31T23:59:59.999999"

_DATE_RE: Final = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="microseconds")


@functools.lru_cache(maxsize=65536)
def date_range(value: str) -> tuple[str, str]:
    """The UTC ``(start, end)`` range a FHIR date/dateTime/instant string denotes.

    Raises ``ValueError`` for anything that is not a FHIR date. Cached: a record repeats
    its timestamps (every Observation of an encounter shares one).
    """
    m = _DATE_RE.fullmatch(value)
    if m is None:
        raise ValueError(f"`{value}` is not a FHIR date, dateTime or instant")
    year_s, month_s, day_s, hour_s, minute_s, second_s, frac_s, tz_s = m.groups()
    year = int(year_s)
    if month_s is None:
        return f"{year:04d}-01-01T00:00:00.000000", f"{year:04d}-12-31T23:59:59.999999"
    month = int(month_s)
    if not 1 <= month <= 12:
        raise ValueError(f"`{value}` has no month {month}")
    if day_s is None:
        last = calendar.monthrange(year, month)[1]
        return (
            f"{year:04d}-{month:02d}-01T00:00:00.000000",
            f"{year:04d}-{month:02d}-{last:02d}T23:59:59.999999",
        )
    day = datetime(year, month, int(day_s))  # validates the day
    if hour_s is None:
        return _iso(day), _iso(day + timedelta(days=1, microseconds=-1))
    tz = UTC
    if tz_s and tz_s != "Z":
        sign = 1 if tz_s[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(tz_s[1:3]), minutes=int(tz_s[4:6])))
    micro = int((frac_s or "0")[:6].ljust(6, "0"))
    start = datetime(
        year, month, day.day, int(hour_s), int(minute_s), int(second_s or 0), micro, tzinfo=tz
    )
    start = start.astimezone(UTC).replace(tzinfo=None)
    if frac_s is not None:
        width = timedelta(0)
    elif second_s is not None:
        width = timedelta(seconds=1, microseconds=-1)
    else:
        width = timedelta(minutes=1, microseconds=-1)
    return _iso(start), _iso(start + width)


def instant(value: str) -> str:
    """The start of a FHIR date/dateTime/instant as a sortable UTC string."""
    return date_range(value)[0]


def now_utc() -> str:
    """The current time as a sortable UTC string."""
    return _iso(datetime.now(UTC).replace(tzinfo=None))


def to_fhir_instant(sortable: str) -> str:
    """A sortable UTC string back as a FHIR ``instant`` (``...Z``)."""
    return sortable + "Z"
