"""Read side: session events for the read API; views of retention, drop-off, consumption.

Numbered 0100 so the read side's migrations never collide with the worker's
(m0002 onwards). Everything here is derived from tables that are exact under
replays (newest version of each session, ``FINAL``), so every view is exact
too; views are ``CREATE OR REPLACE`` and the table ``IF NOT EXISTS``, so
applying this again changes nothing.

* ``session_events``: every event of a session as it was processed, written
  by the worker each time it writes the session (all events, every time).
  ReplacingMergeTree keyed by session, sequence number and event id, so a
  replayed or re-closed session's rows collapse; read it with ``FINAL``.
  ``attributes`` are the event's own (its dialect's name under ``event``, a
  position the player reported under ``reported_at`` where the gateway
  corrected it), so a listing can show what the player sent.
* ``clip_lengths``: the longest clip length any session of a clip reported.
* ``session_consumption``: one row per session (newest version) with its
  consumption share and whether it completed, against the clip's length.
* ``clip_daily``: additive daily totals per clip and source (sessions, kept
  sessions, listened seconds, sums for averages); sum them over any range.
* ``retention_curve``: listeners per bucket as a share of the kept sessions
  of the same organization, clip, day and source.
* ``drop_off``: per bucket, how many listeners' listening stopped there
  (``leaving``: a run of heard buckets ended; ``ending``: it was the furthest
  bucket the session heard). Additive over any grouping.
* ``quality_daily``: additive quality-of-experience totals per clip and day.
"""

from sinks.ddl import GLOBAL, Step, Table, View, render

# A session "completed" a clip when it heard as far as this share of its length.
COMPLETION_THRESHOLD = 0.95


def steps(database: str) -> list[Step]:
    db = database
    return [
        Table(db, "session_events",
              columns=(("organization_id", "String"),
                       ("clip_id", "String"),
                       ("session_id", "String"),
                       ("event_id", "String"),
                       ("sequence_number", "UInt64"),
                       ("timestamp", "DateTime64(3, 'UTC')"),
                       ("kind", "LowCardinality(String)"),
                       ("action", "LowCardinality(String)"),
                       ("position_seconds", "Float64"),
                       ("seek_to_seconds", "Nullable(Float64)"),
                       ("attributes", "Map(String, String)"),
                       ("version", "UInt64")),
              engine="ReplacingMergeTree", engine_args=("version",),
              order_by=("organization_id", "session_id", "sequence_number", "event_id")),
        View(db, "clip_lengths", f"""
            SELECT organization_id, clip_id, max(reported) AS clip_length_seconds
            FROM (
                SELECT organization_id, clip_id, clip_length_seconds AS reported
                FROM {db}.session_versions FINAL
                WHERE reported > 0
            )
            GROUP BY organization_id, clip_id
            """),
        # The clip's length, not the session's own report, so a session whose
        # player did not say how long the clip is still gets a share.
        View(db, "session_consumption", f"""
            SELECT s.organization_id AS organization_id, s.clip_id AS clip_id,
                   s.session_id AS session_id, s.source AS source, s.day AS day,
                   s.started_at AS started_at, s.ended_at AS ended_at, s.kept AS kept,
                   s.duration_seconds AS listened_seconds, s.unique_seconds AS unique_seconds,
                   s.furthest_seconds AS furthest_seconds,
                   c.clip_length_seconds AS clip_length_seconds,
                   if(c.clip_length_seconds > 0,
                      least(s.unique_seconds / c.clip_length_seconds, 1.0), NULL)
                       AS consumption_share,
                   if(c.clip_length_seconds > 0,
                      toUInt8(s.furthest_seconds >= {COMPLETION_THRESHOLD} * c.clip_length_seconds),
                      NULL) AS completed
            FROM {db}.session_versions AS s FINAL
            {GLOBAL}LEFT JOIN {db}.clip_lengths AS c
                ON s.organization_id = c.organization_id AND s.clip_id = c.clip_id
            SETTINGS join_use_nulls = 1
            """),
        View(db, "clip_daily", f"""
            SELECT organization_id, clip_id, day, source,
                   count() AS sessions,
                   countIf(kept = 1) AS kept_sessions,
                   sumIf(listened_seconds, kept = 1) AS listened_seconds,
                   sumIf(unique_seconds, kept = 1) AS unique_seconds,
                   countIf(kept = 1 AND consumption_share IS NOT NULL) AS measured_sessions,
                   sumIf(ifNull(consumption_share, 0), kept = 1) AS consumption_share_sum,
                   countIf(kept = 1 AND completed = 1) AS completed_sessions
            FROM {db}.session_consumption
            GROUP BY organization_id, clip_id, day, source
            """),
        View(db, "retention_curve", f"""
            SELECT b.organization_id AS organization_id, b.clip_id AS clip_id, b.day AS day,
                   b.source AS source, b.bucket AS bucket, b.listeners AS listeners,
                   b.listens AS listens, k.kept_sessions AS kept_sessions,
                   b.listeners / k.kept_sessions AS share_of_sessions
            FROM {db}.consumption_by_bucket AS b
            {GLOBAL}INNER JOIN (
                SELECT organization_id, clip_id, day, source, count() AS kept_sessions
                FROM {db}.session_versions FINAL
                WHERE kept
                GROUP BY organization_id, clip_id, day, source
            ) AS k
                ON b.organization_id = k.organization_id AND b.clip_id = k.clip_id
               AND b.day = k.day AND b.source = k.source
            """),
        # From the histogram steps (m0004): a listener step of -1 at edge e is a
        # run of heard buckets ending at bucket e - 1; the largest edge ends
        # the furthest run. Counting rows per session keeps it additive.
        View(db, "drop_off", f"""
            SELECT organization_id, clip_id, day, source, toUInt32(edge - 1) AS bucket,
                   count() AS leaving, countIf(edge = last_edge) AS ending
            FROM (
                SELECT organization_id, clip_id, day, source, edge, step,
                       arrayMax(edges) AS last_edge
                FROM {db}.session_versions FINAL
                ARRAY JOIN edges AS edge, listener_steps AS step
                WHERE kept AND notEmpty(edges)
            )
            WHERE step < 0
            GROUP BY organization_id, clip_id, day, source, bucket
            """),
        View(db, "quality_daily", f"""
            SELECT organization_id, clip_id, day, source,
                   count() AS sessions,
                   sum(listened) AS listened_seconds,
                   countIf(startup IS NOT NULL) AS startup_measured,
                   sum(ifNull(startup, 0)) AS startup_ms_sum,
                   sum(stalls) AS rebuffers,
                   sum(stalled_ms) AS rebuffer_ms,
                   countIf(stalls > 0) AS sessions_with_rebuffers,
                   sum(changes) AS quality_changes,
                   sum(failures) AS errors,
                   countIf(failures > 0) AS sessions_with_errors
            FROM (
                SELECT organization_id, clip_id, day, source, duration_seconds AS listened,
                       startup_ms AS startup, rebuffer_count AS stalls, rebuffer_ms AS stalled_ms,
                       quality_changes AS changes, errors AS failures
                FROM {db}.session_versions FINAL
            )
            GROUP BY organization_id, clip_id, day, source
            """),
    ]


def statements(database: str) -> list[str]:
    return render(steps(database), None)
