"""Session rows ordered by day, so the views read only the days no rollup covers.

``session_versions`` is ordered by organization, clip and session id: the
per-session branch of m0101's views, which wants only the days not yet built,
read and merged (``FINAL``) every session of a clip, built days included. At
ten million sessions of one clip that merge took seconds (docs/benchmarks.md).

* ``session_days``: every row inserted into ``session_versions`` is copied
  here (the columns the views need) by the materialized view
  ``session_days_copy``, in the same insert, so the sink and its close to
  queryable path are unchanged. Ordered by organization, clip, day and
  session id, so a query for some days reads only those days' index
  ranges. The views never read it with ``FINAL``: they take each session's
  newest version with ``argMax`` over the rows they read, so a repeated row
  (a replayed batch, this migration's backfill run twice) changes nothing,
  and the engine may collapse a session's versions of one day in the
  background, nothing more.
* ``rollup_moved``: per build of a day, the sessions whose newest version is
  on that day and which have a version on another day. A session's day can
  move between versions (an earlier event arriving late), so an older
  version may sit on a day that is still read per session; the views drop
  the sessions listed here for the day's newest usable build. Written by
  ``sinks/rollups.py`` before the build is recorded, like the other rollup
  tables, and deduplicated the same way.

The first backfill copies the rows written before this migration (a row
inserted while it runs may be copied twice, which the views ignore, as
above). The second lists the moved sessions of every build recorded before
this migration, which wrote none: without them m0102 would count such a
session on its built day and again, at an older version, on a live one.
"""

from sinks.ddl import Backfill, Copy, Step, Table, render

DEDUPLICATION = (("non_replicated_deduplication_window", "1000"),)
COLUMNS = (("organization_id", "String"),
           ("clip_id", "String"),
           ("day", "Date"),
           ("session_id", "String"),
           ("version", "UInt64"),
           ("source", "LowCardinality(String)"),
           ("kept", "UInt8"),
           ("duration_seconds", "Float64"),
           ("unique_seconds", "Float64"),
           ("furthest_seconds", "Float64"),
           ("clip_length_seconds", "Nullable(Float64)"),
           ("edges", "Array(UInt32)"),
           ("listener_steps", "Array(Int32)"),
           ("listen_steps", "Array(Int32)"))


def steps(database: str) -> list[Step]:
    db = database
    names = ", ".join(name for name, _ in COLUMNS)
    return [
        Table(db, "session_days", columns=COLUMNS, engine="ReplacingMergeTree",
              engine_args=("version",),
              order_by=("organization_id", "clip_id", "day", "session_id")),
        Table(db, "rollup_moved",
              columns=(("organization_id", "String"),
                       ("day", "Date"),
                       ("build", "UInt64"),
                       ("clip_id", "String"),
                       ("session_id", "String")),
              engine="ReplacingMergeTree",
              order_by=("organization_id", "day", "build", "clip_id", "session_id"),
              settings=DEDUPLICATION),
        Copy(db, "session_days_copy", "session_versions", "session_days",
             tuple(name for name, _ in COLUMNS)),
        Backfill(f"INSERT INTO {db}.session_days ({names}) "
                 f"SELECT {names} FROM {db}.session_versions"),
        # GLOBAL: on a cluster both sides are Distributed tables (harmless on one server).
        Backfill(f"""
            INSERT INTO {db}.rollup_moved (organization_id, day, build, clip_id, session_id)
            SELECT b.organization_id, b.day, b.build, m.clip_id, m.session_id
            FROM {db}.rollup_days AS b
            GLOBAL INNER JOIN (
                SELECT organization_id, clip_id, session_id, argMax(day, version) AS newest_day
                FROM {db}.session_days
                GROUP BY organization_id, clip_id, session_id
                HAVING min(day) != max(day)
            ) AS m ON b.organization_id = m.organization_id AND b.day = m.newest_day
            """),
    ]


def statements(database: str) -> list[str]:
    return render(steps(database), None)
