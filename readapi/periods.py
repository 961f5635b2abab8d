"""api.video's ``period`` parameter as an inclusive range of UTC days (pure).

A day ``2018-01-01``, an ISO week ``2018-W01``, a month ``2018-01``, a year
``2018``, or a range of days ``2018-01-01/2018-01-15``.
"""

from __future__ import annotations

import re
from calendar import monthrange
from datetime import date, timedelta

_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class BadPeriod(ValueError):
    """The text is none of the accepted forms; the message says which are."""


FORMS = "a day 2018-01-01, a week 2018-W01, a month 2018-01, a year 2018 or 2018-01-01/2018-01-15"


def parse_period(text: str) -> tuple[date, date]:
    """(first day, last day), both included."""
    try:
        return _parse(text.strip())
    except ValueError as err:
        raise BadPeriod(f"period {text!r} is not {FORMS}") from err


def _parse(text: str) -> tuple[date, date]:
    if "/" in text:
        start, _, end = text.partition("/")
        first, last = _day(start), _day(end)
        if last < first:
            raise ValueError("range ends before it starts")
        return first, last
    if _DAY.match(text):
        day = _day(text)
        return day, day
    if match := _WEEK.match(text):
        monday = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
        return monday, monday + timedelta(days=6)
    if match := _MONTH.match(text):
        year, month = int(match.group(1)), int(match.group(2))
        return date(year, month, 1), date(year, month, monthrange(year, month)[1])
    if match := _YEAR.match(text):
        year = int(match.group(1))
        return date(year, 1, 1), date(year, 12, 31)
    raise ValueError("unknown form")


def _day(text: str) -> date:
    if not _DAY.match(text):
        raise ValueError(f"{text!r} is not YYYY-MM-DD")
    return date.fromisoformat(text)
