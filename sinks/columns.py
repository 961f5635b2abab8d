"""Session results as the columns of the ClickHouse tables (pure).

What ``sinks.rows`` builds, column by column: clickhouse-connect writes the
Native format a column at a time, so handing it columns
(``column_oriented=True``) skips its row-to-column pivot, and each column is
read by ``map(attrgetter(...))`` in C, without a Python tuple per row. The
values are the ones ``sinks.rows`` gives, except event timestamps:
``session_events.timestamp`` gets the DateTime64(3) ticks clickhouse-connect
would have computed from a ``datetime`` (tests/sinks/test_columns.py holds
both ways to the same bytes and the same rows).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from math import modf
from operator import attrgetter
from typing import Any

from processors.figures import ContentEvent
from processors.session import SessionResult

Columns = list[Sequence[Any]]

_EVENT_ID = attrgetter("event_id")
_SEQUENCE = attrgetter("sequence_number")
_TIMESTAMP = attrgetter("timestamp")
_KIND_OF = attrgetter("kind")
_KIND_VALUES: dict[Any, str] = {}  # EventKind -> its value, filled as kinds appear
_ACTION = attrgetter("action")
_POSITION = attrgetter("position_seconds")
_SEEK_TO = attrgetter("seek_to_seconds")
_ATTRIBUTES = attrgetter("attributes")


def millis_column(timestamps: Iterable[float]) -> list[int]:
    """DateTime64(3) ticks of ``datetime.fromtimestamp(t, UTC)`` for each, without the datetime.

    CPython rounds the fraction to microseconds half to even after splitting
    off the whole seconds (``_PyTime_DoubleToDenominator``); clickhouse-connect
    then floors the microseconds to milliseconds. Same steps, same integers.
    """
    return [(int(whole) * 1_000_000 + round(fraction * 1e6)) // 1000
            for fraction, whole in map(modf, timestamps)]


def _kind_values(kinds: list[Any]) -> list[str]:
    # A dict lookup in C rather than the enum's ``value`` property per event;
    # sinks may not import schemas (tests/test_package_layers.py).
    try:
        return list(map(_KIND_VALUES.__getitem__, kinds))
    except KeyError:
        _KIND_VALUES.update((kind, kind.value) for kind in set(kinds))
        return list(map(_KIND_VALUES.__getitem__, kinds))


def _repeat(target: list[Any], value: Any, times: int) -> None:
    target += [value] * times


def _column(name: str, of: Iterable[Any]) -> list[Any]:
    # A loop in C: no Python frame, and no tuple per row for the garbage collector.
    return list(map(attrgetter(name), of))


def session_columns(results: Sequence[SessionResult]) -> Columns:
    def column(name: str, of: Sequence[Any] = results) -> list[Any]:
        return _column(name, of)

    qualities, steps, intervals = column("quality"), column("steps"), column("intervals")
    return [
        column("organization_id"), column("clip_id"), column("session_id"), column("source"),
        column("day"), column("started_at"), column("ended_at"), column("duration_seconds"),
        list(map(int, column("kept"))),
        [[i.start for i in spans] for spans in intervals],
        [[i.end for i in spans] for spans in intervals],
        column("version"), column("unique_seconds"), column("furthest_seconds"),
        column("clip_length_seconds"), column("completion_share"),
        column("startup_ms", qualities), column("rebuffer_count", qualities),
        column("rebuffer_ms", qualities), column("quality_changes", qualities),
        column("errors", qualities),
        column("edges", steps), column("listener_steps", steps), column("listen_steps", steps),
    ]


def content_columns(results: Sequence[SessionResult]) -> Columns | None:
    orgs: list[str] = []
    sids: list[str] = []
    sources: list[str] = []
    content: list[ContentEvent] = []
    for r in results:
        n = len(r.content)
        if n:
            _repeat(orgs, r.organization_id, n)
            _repeat(sids, r.session_id, n)
            _repeat(sources, r.source, n)
            content += r.content
    if not content:
        return None
    return [orgs, _column("clip_id", content), _column("day", content),
            _column("action", content), sids, _column("event_id", content),
            _column("at", content), sources, _column("platform", content),
            _column("method", content), _column("rights", content)]


def event_columns(results: Sequence[SessionResult]) -> Columns | None:
    """Every event of each session at the session's version, for the read API's listings."""
    orgs: list[str] = []
    clips: list[str] = []
    sids: list[str] = []
    versions: list[int] = []
    timeline: list[Any] = []  # PlaybackEvent
    for r in results:
        n = len(r.timeline)
        if n:
            _repeat(orgs, r.organization_id, n)
            _repeat(clips, r.clip_id, n)
            _repeat(sids, r.session_id, n)
            _repeat(versions, r.version, n)
            timeline += r.timeline
    if not timeline:
        return None
    return [
        orgs, clips, sids, list(map(_EVENT_ID, timeline)), list(map(_SEQUENCE, timeline)),
        millis_column(map(_TIMESTAMP, timeline)),
        _kind_values(list(map(_KIND_OF, timeline))),
        list(map(_ACTION, timeline)), list(map(_POSITION, timeline)),
        list(map(_SEEK_TO, timeline)),
        [a if type(a) is dict else dict(a) for a in map(_ATTRIBUTES, timeline)], versions,
    ]
