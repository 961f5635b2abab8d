"""Every query the read side runs, each scoped to one organization.

Values travel only as ClickHouse query parameters (``{name:Type}`` with
``parameters=``), so nothing a caller sends becomes SQL text; the database
name comes from settings and must be a plain identifier. Each figure is read
from the analysts' views (sinks/migrations/m0100_analyst_views.py, m0101),
so the API, `playhead report` and an analyst's SQL give the same numbers, and
a final day whose rollup is built (sinks/rollups.py) is read from that rollup
rather than from each of its sessions.

The retention curve is summed from ``consumption_by_bucket`` into at most
``MAX_POINTS`` bins on the server (readapi/curve.py), once ``drop_off`` has
said where listening ends: that view spreads each run of listening over its
buckets (``range()``), which is bounded by the curve's span for any session
the bounds let in. A session written before the bounds existed can reach
bucket 1e9, and spreading it would build an array of a billion buckets; a
curve whose listening reaches past the longest clip is therefore summed from
the sessions' steps instead, which builds no array bigger than the answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from readapi.apivideo import LISTED_SQL
from readapi.curve import DEFAULT_MAX_POINTS, Bin, Binning, plan, points
from readapi.periods import FIRST_DAY, LAST_DAY, BadPeriod
from schemas.bounds import DEFAULT_MAX_CLIP_SECONDS
from sinks.client import utc
from sinks.completeness import SHARED
from sinks.identifiers import check_database
from sinks.qualifying import Rule, RuleEntry, rule_for

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
    # The curve: its span and bins, and the bins with anything heard, in order.
    binning: Binning = Binning(0)
    bins: list[Bin] = field(default_factory=list)
    # The width of the curve's buckets when a qualifying-play rule sets it
    # (None: the deployment's PLAYHEAD_BUCKET_SECONDS).
    bucket_seconds: float | None = None

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
    # The API refuses days outside these (periods.check_days); `playhead report`
    # and an open end of a range get the warehouse's whole span.
    return (min(max(first or FIRST_DAY, FIRST_DAY), LAST_DAY),
            max(min(last or LAST_DAY, LAST_DAY), FIRST_DAY))


class Reader:
    def __init__(self, client: Client, database: str, bucket_seconds: float = 1.0,
                 max_clip_seconds: float = DEFAULT_MAX_CLIP_SECONDS):
        check_database(database)
        self._client = client
        self._db = database
        self._bucket_seconds = bucket_seconds
        self._max_clip_seconds = max_clip_seconds

    def _rows(self, sql: str, **parameters: Any) -> Sequence[Sequence[Any]]:
        result = self._client.query(sql.replace("{db}", self._db), parameters=parameters,
                                    settings=READ_ONLY)
        return result.result_rows

    # -- completeness -----------------------------------------------------------

    def complete_through(self, org: str) -> datetime | None:
        """The organization's complete-through watermark (m0006): no figure dated before
        it changes again. None while nothing is known to be final."""
        rows = self._rows(
            "SELECT organization_id, complete_through FROM {db}.completeness "
            "WHERE organization_id IN ({org:String}, {shared:String})", org=org, shared=SHARED)
        found = {row[0]: row[1] for row in rows}
        # An organization with no session anywhere has the partitions' shared bound.
        stamp: datetime | None = found.get(org, found.get(SHARED))
        if stamp is None:
            return None
        return utc(stamp)

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
        # A session is filed under one clip (its first listening event's), but a
        # music-clips app session plays, adds and downloads several: those clips
        # are known by their content events (each under the event's own clip).
        rows = self._rows(
            "SELECT (SELECT count() FROM {db}.session_versions WHERE organization_id = "
            "{org:String} AND clip_id = {clip:String}) + (SELECT count() FROM "
            "{db}.content_events WHERE organization_id = {org:String} AND clip_id = "
            "{clip:String})", org=org, clip=clip)
        return bool(rows[0][0])

    def clip_sessions(self, org: str, clip: str, first: date | None, last: date | None,
                      offset: int, limit: int) -> tuple[int, list[tuple[Any, ...]]]:
        """(sessions in the range, this page's (session, started, ended, source, listened,
        kept)), oldest first."""
        start, end = clamp(first, last)
        # The clip's own sessions, and the sessions with content events of it (a
        # music-clips app session is filed under its first event's clip, often
        # none: its plays of this clip would otherwise list nowhere).
        where = ("organization_id = {org:String} AND day BETWEEN {start:Date} AND {end:Date} "
                 "AND (clip_id = {clip:String} OR session_id IN (SELECT session_id FROM "
                 "{db}.content_events WHERE organization_id = {org:String} "
                 "AND clip_id = {clip:String}))")
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
                     source: str | None, max_points: int = DEFAULT_MAX_POINTS) -> ClipFigures:
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
        value = length[0][0] if length else None
        # Infinity is no length (and no JSON number) a player can mean.
        clip_length = (float(value) if value is not None and 0 < value < math.inf else None)
        selected = f"{where} AND ({{source:String}} = '' OR source = {{source:String}})"
        width, ruled = self._bucket_width(org, selected, source or "", params)
        # Every run of listening ends with a listener leaving at its last bucket,
        # so the furthest bucket anyone left at is the last bucket heard.
        last_edge = self._rows(
            "SELECT if(count() = 0, 0, max(bucket) + 1) FROM {db}.drop_off "
            f"WHERE {selected}", **params, source=source or "")
        heard_to = int(last_edge[0][0] or 0) if last_edge else 0
        binning = plan(heard_to, clip_length, width, self._max_clip_seconds, max_points)
        # The sessions' stored steps are at the deployment's width and minimum:
        # under a rule the curve comes from the views only.
        if heard_to > binning.buckets and not ruled:
            bins = self._curve_bins_from_steps(f"{selected} AND kept", binning, **params,
                                               source=source or "")
        else:
            bins = self._curve_bins(selected, binning, **params, source=source or "")
        return ClipFigures(
            sources=sources,
            selected=[s for s in sources if source in (None, "", s.source)],
            clip_length_seconds=clip_length, binning=binning, bins=bins,
            bucket_seconds=width if ruled else None,
        )

    def _bucket_width(self, org: str, selected: str, source: str,
                      params: dict[str, Any]) -> tuple[float, bool]:
        """The width of the selected days' buckets, and whether a rule set any of them.

        Days under rules of different widths cannot share one curve (their
        bucket indices mean different seconds): that is a 400 naming them.
        """
        rules = [RuleEntry(org, str(r[0]), r[1], Rule(float(r[2]), float(r[3]), int(r[4])))
                 for r in self._rows(
                     "SELECT source, effective_day, min_session_seconds, completion_threshold, "
                     "bucket_seconds FROM {db}.qualifying_rules FINAL "
                     "WHERE organization_id = {org:String}", org=org)]
        if not rules:
            return self._bucket_seconds, False
        widths: dict[float, list[date]] = {}
        for day_source, day in self._rows(
                f"SELECT DISTINCT source, day FROM {{db}}.clip_daily WHERE {selected}",
                **params, source=source):
            rule = rule_for(rules, org, str(day_source), day)
            widths.setdefault(float(rule.bucket_seconds) if rule else self._bucket_seconds,
                              []).append(day)
        if len(widths) > 1:
            spans = "; ".join(f"{w:g} s buckets on {min(days)} … {max(days)}"
                              for w, days in sorted(widths.items()))
            raise BadPeriod(f"the organization's qualifying-play rules give these days "
                            f"different bucket widths ({spans}): ask for days of one width")
        return (next(iter(widths)) if widths else self._bucket_seconds), True

    def _curve_bins(self, selected: str, binning: Binning, **params: Any) -> list[Bin]:
        """The curve's bins, summed from ``consumption_by_bucket`` in the warehouse.

        Listeners and listens of a bucket add up over days and sources, as
        the steps they come from do; a bin then takes the most of any of its
        buckets and the sum of their listeners. Only for a span every
        session's listening fits in (see the module's docstring).
        """
        if not binning.buckets:
            return []
        rows = self._rows(
            "SELECT intDiv(bucket, {width:UInt64}) AS bin, max(heard), max(plays), sum(heard)"
            " FROM ("
            "  SELECT bucket, sum(listeners) AS heard, sum(listens) AS plays"
            "  FROM {db}.consumption_by_bucket"
            f"  WHERE {selected} AND bucket < {{buckets:UInt64}}"
            "  GROUP BY bucket"
            ")"
            " WHERE heard > 0"
            " GROUP BY bin ORDER BY bin",
            **params, width=binning.width, buckets=binning.buckets)
        return [Bin(int(b), int(n), int(k), int(total)) for b, n, k, total in rows]

    def _curve_bins_from_steps(self, kept: str, binning: Binning, **params: Any) -> list[Bin]:
        """The curve's bins, summed from the sessions' steps in the warehouse.

        The steps of the newest kept versions add up per edge and a running sum
        turns them into runs [edge, next edge) of constant listeners and
        listens (as ``consumption_by_bucket`` does); each run then meets the
        bins it overlaps, so no array is longer than ``binning.points``.
        """
        if not binning.buckets:
            return []
        rows = self._rows(
            "SELECT bin, max(listeners), max(listens), sum(listeners * toInt64("
            "least(stop, (bin + 1) * {width:UInt64}) - greatest(start, bin * {width:UInt64})))"
            " FROM ("
            "  SELECT start, least(next_edge, {buckets:UInt64}) AS stop, listeners, listens"
            "  FROM ("
            "    SELECT edge AS start, sum(d_listeners) OVER running AS listeners,"
            "           sum(d_listens) OVER running AS listens,"
            "           leadInFrame(edge, 1, edge) OVER (ORDER BY edge"
            "               ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS next_edge"
            "    FROM ("
            "      SELECT edge, sum(step_listeners) AS d_listeners,"
            "             sum(step_listens) AS d_listens"
            "      FROM {db}.session_versions FINAL"
            "      ARRAY JOIN edges AS edge, listener_steps AS step_listeners,"
            "                 listen_steps AS step_listens"
            f"      WHERE {kept} GROUP BY edge"
            "    )"
            "    WINDOW running AS (ORDER BY edge ROWS UNBOUNDED PRECEDING)"
            "  )"
            "  WHERE listeners > 0 AND start < {buckets:UInt64} AND next_edge > start"
            ")"
            " ARRAY JOIN range(intDiv(start, {width:UInt64}),"
            "                  intDiv(stop - 1, {width:UInt64}) + 1) AS bin"
            " GROUP BY bin ORDER BY bin",
            **params, width=binning.width, buckets=binning.buckets)
        return [Bin(int(b), int(n), int(k), int(total)) for b, n, k, total in rows]

    # -- quality, engagement, royalties ------------------------------------------

    def clip_quality(self, org: str, clip: str, first: date | None, last: date | None,
                     source: str | None) -> dict[str, Any]:
        """quality_daily's sums over the days (of the sessions' first events)."""
        names = ("sessions", "listened_seconds", "startup_measured", "startup_ms_sum",
                 "rebuffers", "rebuffer_ms", "sessions_with_rebuffers", "quality_changes",
                 "errors", "sessions_with_errors")
        row = self._clip_sums("quality_daily", names, org, clip, first, last, source)
        return {n: (v or 0) for n, v in zip(names, row, strict=True)}

    def clip_engagement(self, org: str, clip: str, first: date | None, last: date | None,
                        source: str | None) -> dict[str, int]:
        """engagement_by_clip's counts over the days (of the events themselves)."""
        names = ("impressions", "likes", "shares", "saves", "swipes", "completions")
        row = self._clip_sums("engagement_by_clip", names, org, clip, first, last, source)
        return {n: int(v or 0) for n, v in zip(names, row, strict=True)}

    def _clip_sums(self, view: str, names: Sequence[str], org: str, clip: str,
                   first: date | None, last: date | None, source: str | None
                   ) -> Sequence[Any]:
        """One row: each of ``names`` summed over a clip's days in ``view``, one source or all."""
        start, end = clamp(first, last)
        [row] = self._rows(
            f"SELECT {', '.join(f'sum({n})' for n in names)} FROM {{db}}.{view} "
            "WHERE organization_id = {org:String} AND clip_id = {clip:String} "
            "AND day BETWEEN {start:Date} AND {end:Date} "
            "AND ({source:String} = '' OR source = {source:String})",
            org=org, clip=clip, start=start, end=end, source=source or "")
        return row

    def clip_rights(self, org: str, clip: str, first: date | None, last: date | None
                    ) -> list[dict[str, Any]]:
        """rights_by_clip's counts per platform and method over the days (of the events)."""
        start, end = clamp(first, last)
        names = ("clip_plays", "denied_plays", "track_plays", "adds", "downloads")
        rows = self._rows(
            f"SELECT platform, method, {', '.join(f'sum({n})' for n in names)} "
            "FROM {db}.rights_by_clip WHERE organization_id = {org:String} "
            "AND clip_id = {clip:String} AND day BETWEEN {start:Date} AND {end:Date} "
            "GROUP BY platform, method ORDER BY platform, method",
            org=org, clip=clip, start=start, end=end)
        return [{"platform": str(r[0]), "method": str(r[1]),
                 **{n: int(v) for n, v in zip(names, r[2:], strict=True)}} for r in rows]

    def clip_organizations(self, clip: str) -> list[str]:
        """Organizations with sessions of ``clip``: for the operator's `playhead report`."""
        return [str(r[0]) for r in self._rows(
            "SELECT DISTINCT organization_id FROM {db}.session_versions "
            "WHERE clip_id = {clip:String} ORDER BY organization_id", clip=clip)]


def curve_points(figures: ClipFigures, bucket_seconds: float) -> list[dict[str, Any]]:
    """The curve's points, from 0 to its end, silent bins as zeros (readapi/curve.py)."""
    return points(figures.binning, figures.bins, figures.total("kept_sessions"), bucket_seconds)
