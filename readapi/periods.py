"""Days a request names: api.video's ``period`` and plain ``from``/``to`` days (pure).

``period`` is a day ``2018-01-01``, an ISO week ``2018-W01``, a month
``2018-01``, a year ``2018``, or a range of days ``2018-01-01/2018-01-15``.
Every day must fall inside ClickHouse's ``Date`` (``FIRST_DAY`` to
``LAST_DAY``): no session can be stored outside it, and a day beyond what
Python's ``date`` holds (the Sunday of ``9999-W52``) must be a refusal, not a
crash.
"""

from __future__ import annotations

import re
from calendar import monthrange
from datetime import date, timedelta

_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# ClickHouse's Date type spans these days.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2149, 6, 6)
DAYS = f"between {FIRST_DAY} and {LAST_DAY} (UTC)"


class BadPeriod(ValueError):
    """A period or day the API refuses (400); ``name`` is the parameter at fault."""

    def __init__(self, message: str, name: str = "period"):
        self.name = name
        super().__init__(message)


FORMS = "a day 2018-01-01, a week 2018-W01, a month 2018-01, a year 2018 or 2018-01-01/2018-01-15"


def parse_period(text: str) -> tuple[date, date]:
    """(first day, last day), both included and both inside the warehouse's days."""
    try:
        first, last = _parse(text.strip())
    except OverflowError as err:
        raise BadPeriod(f"period {text!r} reaches past year 9999; periods must fall {DAYS}"
                        ) from err
    except ValueError as err:
        raise BadPeriod(f"period {text!r} is not {FORMS}") from err
    if first < FIRST_DAY or last > LAST_DAY:
        raise BadPeriod(f"period {text!r} runs from {first} to {last}; periods must fall "
                        f"{DAYS}")
    return first, last


def check_days(first: date | None, last: date | None, names: tuple[str, str] = ("from", "to")
               ) -> None:
    """Refuse a day outside the warehouse's, or a range that ends before it starts."""
    for day, name in ((first, names[0]), (last, names[1])):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise BadPeriod(f"{name} is {day}; days must fall {DAYS}", name)
    if first is not None and last is not None and last < first:
        raise BadPeriod(f"{names[1]} ({last}) is before {names[0]} ({first}); swap them",
                        names[1])


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
