"""Every query the read side runs, each scoped to one organization.

Values travel only as ClickHouse query parameters (``{name:Type}`` with
``parameters=``), so nothing a caller sends becomes SQL text; the database
name comes from settings and must be a plain identifier. Each query reads
the analysts' views (sinks/migrations/m0100_analyst_views.py), so the API,
`playhead report` and an analyst's SQL give the same numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from clickhouse_connect.driver.client import Client

from readapi.apivideo import LISTED_SQL

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# ClickHouse's Date type spans these days; periods beyond them are clamped.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2149, 6, 6)
# Every query is read-only on the server too (2 still lets the client send settings).
READ_ONLY = {"readonly": 2, "max_execution_time": 30}


@dataclass(frozen=True)
class SourceFigures:
    source: str
    sessions: int
    kept_sessions: int
    listened_seconds: float
    measured_sessions: int  # kept sessions whose clip length is known
    consumption_share_sum: float
    completed_sessions: int
    first_day: date
    last_day: date


@dataclass(frozen=True)
class ClipFigures:
    """A clip's figures over a range of days, for one source or all."""

    sources: list[SourceFigures]  # every source in the range, whatever the filter
    selected: list[SourceFigures]  # the ones the filter keeps
    clip_length_seconds: float | None
    # (bucket, listeners, listens) of every heard bucket, in order.
    histogram: list[tuple[int, int, int]] = field(default_factory=list)

    def total(self, name: str) -> Any:
        return sum(getattr(s, name) for s in self.selected)

    @property
    def average_consumption_share(self) -> float | None:
        measured = self.total("measured_sessions")
        return self.total("consumption_share_sum") / measured if measured else None

    @property
    def completion_rate(self) -> float | None:
        measured = self.total("measured_sessions")
        return self.total("completed_sessions") / measured if measured else None


def clamp(first: date | None, last: date | None) -> tuple[date, date]:
    return (min(max(first or FIRST_DAY, FIRST_DAY), LAST_DAY),
            max(min(last or LAST_DAY, LAST_DAY), FIRST_DAY))


class Reader:
    def __init__(self, client: Client, database: str):
        if not _IDENTIFIER.match(database):
            raise ValueError(f"database name {database!r} must be a plain identifier")
        self._client = client
        self._db = database

    def _rows(self, sql: str, **parameters: Any) -> Sequence[Sequence[Any]]:
        result = self._client.query(sql.replace("{db}", self._db), parameters=parameters,
                                    settings=READ_ONLY)
        return result.result_rows

    # -- sessions ---------------------------------------------------------------

    def session_known(self, org: str, session: str) -> bool:
        # A session the worker wrote before it stored events is still known.
        rows = self._rows(
            "SELECT (SELECT count() FROM {db}.session_events WHERE organization_id = {org:String}"
            " AND session_id = {session:String}) + (SELECT count() FROM {db}.session_versions"
            " WHERE organization_id = {org:String} AND session_id = {session:String})",
            org=org, session=session)
        return bool(rows[0][0])

    def session_events(self, org: str, session: str, offset: int, limit: int
                       ) -> tuple[int, list[tuple[Any, ...]]]:
        """(listed events in all, this page's (kind, action, position, seek_to, timestamp,
        attributes))."""
        where = ("organization_id = {org:String} AND session_id = {session:String} AND "
                 + LISTED_SQL)
        total = self._rows(f"SELECT count() FROM {{db}}.session_events FINAL WHERE {where}",
                           org=org, session=session)[0][0]
        rows = self._rows(
            "SELECT kind, action, position_seconds, seek_to_seconds, timestamp, attributes "
            f"FROM {{db}}.session_events FINAL WHERE {where} "
            "ORDER BY sequence_number, timestamp, event_id "
            "LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
            org=org, session=session, limit=limit, offset=offset)
        return int(total), [tuple(r) for r in rows]

    def clip_known(self, org: str, clip: str) -> bool:
        rows = self._rows("SELECT count() FROM {db}.session_versions "
                          "WHERE organization_id = {org:String} AND clip_id = {clip:String}",
                          org=org, clip=clip)
        return bool(rows[0][0])

    def clip_sessions(self, org: str, clip: str, first: date | None, last: date | None,
                      offset: int, limit: int) -> tuple[int, list[tuple[Any, ...]]]:
        """(sessions in the range, this page's (session, started, ended, source, listened,
        kept)), oldest first."""
        start, end = clamp(first, last)
        where = ("organization_id = {org:String} AND clip_id = {clip:String} "
                 "AND day BETWEEN {start:Date} AND {end:Date}")
        params: dict[str, Any] = {"org": org, "clip": clip, "start": start, "end": end}
        total = self._rows(f"SELECT count() FROM {{db}}.session_consumption WHERE {where}",
                           **params)[0][0]
        rows = self._rows(
            "SELECT session_id, started_at, ended_at, source, listened_seconds, kept "
            f"FROM {{db}}.session_consumption WHERE {where} ORDER BY started_at, session_id "
            "LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
            **params, limit=limit, offset=offset)
        return int(total), [tuple(r) for r in rows]

    # -- clips ------------------------------------------------------------------

    def clip_figures(self, org: str, clip: str, first: date | None, last: date | None,
                     source: str | None) -> ClipFigures:
        start, end = clamp(first, last)
        params: dict[str, Any] = {"org": org, "clip": clip, "start": start, "end": end}
        where = ("organization_id = {org:String} AND clip_id = {clip:String} "
                 "AND day BETWEEN {start:Date} AND {end:Date}")
        sources = [SourceFigures(str(r[0]), int(r[1]), int(r[2]), float(r[3]), int(r[4]),
                                 float(r[5]), int(r[6]), r[7], r[8])
                   for r in self._rows(
            "SELECT source, sum(sessions), sum(kept_sessions), sum(listened_seconds), "
            "sum(measured_sessions), sum(consumption_share_sum), sum(completed_sessions), "
            f"min(day), max(day) FROM {{db}}.clip_daily WHERE {where} "
            "GROUP BY source ORDER BY source", **params)]
        length = self._rows("SELECT max(clip_length_seconds) FROM {db}.clip_lengths "
                            "WHERE organization_id = {org:String} AND clip_id = {clip:String}",
                            org=org, clip=clip)
        histogram = self._rows(
            "SELECT bucket, sum(listeners), sum(listens) FROM {db}.consumption_by_bucket "
            f"WHERE {where} AND ({{source:String}} = '' OR source = {{source:String}}) "
            "GROUP BY bucket ORDER BY bucket", **params, source=source or "")
        value = length[0][0] if length else None
        return ClipFigures(
            sources=sources,
            selected=[s for s in sources if source in (None, "", s.source)],
            clip_length_seconds=float(value) if value is not None and value > 0 else None,
            histogram=[(int(b), int(n), int(k)) for b, n, k in histogram],
        )

    def clip_organizations(self, clip: str) -> list[str]:
        """Organizations with sessions of ``clip``: for the operator's `playhead report`."""
        return [str(r[0]) for r in self._rows(
            "SELECT DISTINCT organization_id FROM {db}.session_versions "
            "WHERE clip_id = {clip:String} ORDER BY organization_id", clip=clip)]


def dense_curve(figures: ClipFigures, bucket_seconds: float) -> list[dict[str, Any]]:
    """Every bucket from 0 to the last heard (or the clip's end), silent ones as zeros,
    so a chart over the clip's timeline shows gaps as gaps."""
    heard = {bucket: (listeners, listens) for bucket, listeners, listens in figures.histogram}
    last = max(heard, default=-1)
    if figures.clip_length_seconds:
        last = max(last, math.ceil(figures.clip_length_seconds / bucket_seconds) - 1)
    kept = figures.total("kept_sessions")
    points = []
    for bucket in range(last + 1):
        listeners, listens = heard.get(bucket, (0, 0))
        points.append({
            "bucket": bucket,
            "startSeconds": round(bucket * bucket_seconds, 6),
            "listeners": listeners,
            "listens": listens,
            "shareOfSessions": listeners / kept if kept else 0.0,
        })
    return points
