"""Builds the rollups of final days (m0007), which the analysts' views then read (m0101).

A build of one organization's day computes that day's rows from the newest
version of each session, writes them under a new build id, and only then
records the build in ``rollup_days``. The views count a build's rows only
once it is recorded and settled, and only the newest recorded build of a day,
so:

* a crash before the record leaves rows nothing reads (the next build
  writes its own, under another id);
* a retried insert of the same rows is dropped by its deduplication token,
  and were it not, the rows share their key and build, and the views read
  the tables with ``FINAL``, which keeps one;
* building a day again writes a complete second copy and switches to it in
  one one-row insert; the two are equal when the day was final.

Which days are final is not decided here: the caller names an instant
(``through``) before which nothing changes, normally the organization's
complete-through watermark (the ``completeness`` view), and every day that
ended by then is built.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from clickhouse_connect.driver.client import Client

from sinks.client import utc
from sinks.identifiers import check_database

# Long enough that a one-row insert is committed before queries may use it
# (m0101 explains why the views need that); short enough not to matter.
SETTLE_SECONDS = 10.0


class NoWatermark(RuntimeError):
    """Nothing says which days are final: no --through and no ``completeness`` view."""


@dataclass(frozen=True)
class BuiltDay:
    organization_id: str
    day: date
    build: int
    sessions: int


def _token(table: str, organization: str, day: date, build: int) -> str:
    return f"rollup/{table}/{organization}/{day.isoformat()}/{build}"


def build_day(client: Client, database: str, organization: str, day: date, *,
              through: datetime | None = None,
              settle_seconds: float = SETTLE_SECONDS) -> BuiltDay:
    """Build one organization's day and record it; returns what was recorded."""
    build = time.time_ns()
    sessions = write_build(client, database, organization, day, build)
    # The record comes last: until it exists, nothing reads this build.
    record_build(client, database, BuiltDay(organization, day, build, sessions), through,
                 settle_seconds)
    return BuiltDay(organization, day, build, sessions)


def write_build(client: Client, database: str, organization: str, day: date,
                build: int) -> int:
    """Write a day's rollup rows under ``build`` (read by nothing yet); returns its sessions."""
    check_database(database)
    db = database
    where = {"org": organization, "day": day, "build": build}
    sessions_read = _sessions_read(client, db, organization)
    client.command(f"""
        INSERT INTO {db}.rollup_steps (organization_id, clip_id, day, source, build, edge,
                                       listener_steps, listen_steps, leaving, ending)
        SELECT organization_id, clip_id, day, source, {{build:UInt64}}, edge,
               sum(toInt64(step_l)), sum(toInt64(step_n)),
               countIf(step_l < 0), countIf(step_l < 0 AND edge = last_edge)
        FROM (
            SELECT organization_id, clip_id, day, source, edge, step_l, step_n,
                   arrayMax(edges) AS last_edge
            FROM {sessions_read}
            ARRAY JOIN edges AS edge, listener_steps AS step_l, listen_steps AS step_n
            WHERE organization_id = {{org:String}} AND day = {{day:Date}} AND kept
        )
        GROUP BY organization_id, clip_id, day, source, edge
        """, parameters=where,
        settings={"insert_deduplication_token": _token("steps", organization, day, build)})
    client.command(f"""
        INSERT INTO {db}.rollup_daily (organization_id, clip_id, day, source, build, sessions,
            kept_sessions, listened_seconds, unique_seconds, reported_length_seconds,
            kept_unique_seconds, kept_furthest_seconds)
        SELECT organization_id, clip_id, day, source, {{build:UInt64}}, count(),
               countIf(kept = 1), sumIf(duration_seconds, kept = 1),
               sumIf(unique_seconds, kept = 1),
               ifNull(maxIf(clip_length_seconds, clip_length_seconds > 0), 0),
               groupArrayIf(unique_seconds, kept = 1), groupArrayIf(furthest_seconds, kept = 1)
        FROM {sessions_read}
        WHERE organization_id = {{org:String}} AND day = {{day:Date}}
        GROUP BY organization_id, clip_id, day, source
        """, parameters=where,
        settings={"insert_deduplication_token": _token("daily", organization, day, build)})
    # Sessions whose newest version is on this day and an older one elsewhere: the
    # views read the other day per session (m0102) and must not count them there.
    # From session_days, which keeps a row per session and day: session_versions
    # may already have merged the older version away.
    client.command(f"""
        INSERT INTO {db}.rollup_moved (organization_id, day, build, clip_id, session_id)
        SELECT organization_id, {{day:Date}}, {{build:UInt64}}, clip_id, session_id
        FROM {db}.session_days
        WHERE organization_id = {{org:String}}
        GROUP BY organization_id, clip_id, session_id
        HAVING min(day) != max(day) AND argMax(day, version) = {{day:Date}}
        """, parameters=where,
        settings={"insert_deduplication_token": _token("moved", organization, day, build)})
    return int(client.query(
        f"SELECT sum(sessions) FROM {db}.rollup_daily FINAL WHERE organization_id = {{org:String}}"
        " AND day = {day:Date} AND build = {build:UInt64}", parameters=where).result_rows[0][0])


def _sessions_read(client: Client, db: str, organization: str) -> str:
    # An organization with qualifying-play rules (m0010) is built from the
    # sessions under the rule in effect for each day and source (m0104's
    # ruled_sessions: kept and steps restated); the others from the stored rows.
    views = client.query("SELECT count() FROM system.tables WHERE database = {d:String} "
                         "AND name = 'ruled_sessions'", parameters={"d": db}).result_rows
    has_rules = views[0][0] and client.query(
        f"SELECT count() FROM {db}.qualifying_rules WHERE organization_id = {{org:String}}",
        parameters={"org": organization}).result_rows[0][0]
    return f"{db}.ruled_sessions" if has_rules else f"{db}.session_versions FINAL"


def record_build(client: Client, database: str, built: BuiltDay, through: datetime | None,
                 settle_seconds: float = SETTLE_SECONDS) -> None:
    """Make a written build the one the views read for its day, ``settle_seconds`` from now."""
    check_database(database)
    client.command(f"""
        INSERT INTO {database}.rollup_days (organization_id, day, build, usable_from, built_at,
                                            through, sessions)
        SELECT {{org:String}}, {{day:Date}}, {{build:UInt64}},
               now64(3) + toIntervalMillisecond({{settle:UInt64}}), now64(3),
               {{through:Nullable(DateTime64(3, 'UTC'))}}, {{sessions:UInt64}}
        """, parameters={"org": built.organization_id, "day": built.day, "build": built.build,
                         "settle": round(settle_seconds * 1000), "through": through,
                         "sessions": built.sessions})


def days_before(client: Client, database: str, through: datetime,
                organizations: Iterable[str] | None = None,
                rebuild: bool = False) -> list[tuple[str, date]]:
    """The (organization, day)s with sessions whose UTC day ended by ``through``.

    Without ``rebuild``, days already built are left out.
    """
    check_database(database)
    last = _day_before(through)
    orgs = None if organizations is None else sorted(set(organizations))
    scope = "" if orgs is None else " AND organization_id IN {orgs:Array(String)}"
    skip = "" if rebuild else (
        f" AND (organization_id, day) NOT IN (SELECT organization_id, day FROM {database}"
        ".rollup_days)")
    rows = client.query(
        f"SELECT DISTINCT organization_id, day FROM {database}.session_versions "
        f"WHERE day <= {{last:Date}}{scope}{skip} ORDER BY organization_id, day",
        parameters={"last": last, "orgs": orgs or []}).result_rows
    return [(row[0], row[1]) for row in rows]


def _day_before(instant: datetime) -> date:
    # A day is over when the instant is at or after the next midnight (UTC).
    moment = instant.astimezone(UTC) if instant.tzinfo else instant.replace(tzinfo=UTC)
    return moment.date() - timedelta(days=1)


def watermarks(client: Client, database: str) -> dict[str, datetime]:
    """Each organization's complete-through instant from the ``completeness`` view.

    The organization '' is the one for organizations without their own row.
    Raises ``NoWatermark`` when the view is missing.
    """
    check_database(database)
    exists = client.query("SELECT count() FROM system.tables WHERE database = {d:String} "
                          "AND name = 'completeness'", parameters={"d": database})
    if not exists.result_rows[0][0]:
        raise NoWatermark(
            f"{database}.completeness does not exist, so nothing says which days are final: "
            "pass --through ISO-INSTANT (every UTC day that ended by then is built), or run "
            "`playhead migrate` once the watermark's migration is there")
    rows = client.query(f"SELECT organization_id, complete_through FROM {database}.completeness "
                        "WHERE complete_through IS NOT NULL").result_rows
    return {row[0]: utc(row[1]) for row in rows}


def build_final_days(client: Client, database: str, through: datetime | None = None,
                     organization: str | None = None, rebuild: bool = False,
                     settle_seconds: float = SETTLE_SECONDS) -> list[BuiltDay]:
    """Build every day that ended by ``through`` (default: each organization's watermark)."""
    orgs = None if organization is None else [organization]
    if through is not None:
        pending = days_before(client, database, through, orgs, rebuild)
        bounds = {org: through for org, _ in pending}
    else:
        marks = watermarks(client, database)
        candidates = orgs if orgs is not None else [row[0] for row in client.query(
            f"SELECT DISTINCT organization_id FROM {database}.session_versions").result_rows]
        bounds = {org: marks[org] if org in marks else marks[""]
                  for org in candidates if org in marks or "" in marks}
        pending = [pair for org, bound in sorted(bounds.items())
                   for pair in days_before(client, database, bound, [org], rebuild)]
    return [build_day(client, database, org, day, through=bounds[org],
                      settle_seconds=settle_seconds) for org, day in pending]
