"""Organizations without a build read their sessions as before m0102: the views stay as fast there.

m0102's per-session branch takes each session's newest version with ``argMax``
grouped by session over ``session_days``: cheap over a few live days, but over
every session of an organization that has no usable build it costs three to
four times what ``session_versions FINAL`` did (docs/benchmarks.md). Now the
branch reads, per organization, either ``session_versions FINAL`` (no usable
build) or m0102's rows of ``session_days`` (some usable build), never both:
the two tests are each other's negation on the same set, computed once per
query with ``now64(3)`` as m0101 explains. Either read gives each session's
newest version: ``FINAL`` trivially, the other as m0102 argues. Same names,
columns and numbers.

m0102's reasons, unchanged: the ``session_days`` branch reads only the days
without a usable build, takes the newest version per session among them, and
drops the sessions that a build lists in ``rollup_moved`` (their newest
version is on the built day); a day is built only once final.
"""

from sinks.ddl import GLOBAL, Step, View, render

COMPLETION_THRESHOLD = 0.95
NULLABLE = frozenset({"clip_length_seconds"})
CURVE = ("day", "source", "kept", "edges", "listener_steps", "listen_steps")
DAILY = ("day", "source", "kept", "duration_seconds", "unique_seconds", "furthest_seconds")


def _builds(db: str) -> str:
    # The newest usable build of each built day (ties: the larger build id).
    return (f"(SELECT organization_id, day, argMax(build, (usable_from, build)) "
            f"FROM {db}.rollup_days WHERE usable_from <= now64(3) "
            f"GROUP BY organization_id, day)")


def _sessions(db: str, columns: tuple[str, ...]) -> str:
    # Per organization, one of two reads of each session's newest version.
    built = (f"(SELECT organization_id FROM {db}.rollup_days "
             f"WHERE usable_from <= now64(3))")
    plain = ", ".join(columns)
    # One argMax per column: over a tuple holding arrays it was about half as fast.
    # A Nullable column goes in a tuple, or argMax would skip a newest NULL.
    # argMax drops LowCardinality: put it back, or the views' column types change.
    newest = ", ".join(f"argMax(tuple({c}), version).1 AS newest_{c}" if c in NULLABLE
                       else f"toLowCardinality(argMax({c}, version)) AS newest_{c}"
                       if c == "source" else f"argMax({c}, version) AS newest_{c}"
                       for c in columns)
    named = ", ".join(f"newest_{c} AS {c}" for c in columns)
    return f"""(
                SELECT organization_id, clip_id, session_id, {plain}
                FROM {db}.session_versions FINAL
                WHERE organization_id {GLOBAL}NOT IN {built}
                UNION ALL
                SELECT organization_id, clip_id, session_id, {named}
                FROM (
                    SELECT organization_id, clip_id, session_id, {newest}
                    FROM {db}.session_days
                    WHERE organization_id {GLOBAL}IN {built}
                      AND (organization_id, day) {GLOBAL}NOT IN (
                        SELECT organization_id, day FROM {db}.rollup_days
                        WHERE usable_from <= now64(3))
                    GROUP BY organization_id, clip_id, session_id
                )
                WHERE (organization_id, clip_id, session_id) {GLOBAL}NOT IN (
                    SELECT organization_id, clip_id, session_id FROM {db}.rollup_moved
                    WHERE (organization_id, day, build) {GLOBAL}IN {_builds(db)})
            )"""


def steps(database: str) -> list[Step]:
    db = database
    rolled = f"(organization_id, day, build) {GLOBAL}IN {_builds(db)}"
    return [
        View(db, "clip_lengths", f"""
            SELECT organization_id, clip_id, max(reported) AS clip_length_seconds
            FROM (
                SELECT organization_id, clip_id, toNullable(reported_length_seconds) AS reported
                FROM {db}.rollup_daily FINAL
                WHERE reported > 0 AND {rolled}
                UNION ALL
                SELECT organization_id, clip_id, clip_length_seconds AS reported
                FROM {_sessions(db, ("clip_length_seconds",))}
                WHERE reported > 0
            )
            GROUP BY organization_id, clip_id
            """),
        View(db, "consumption_by_bucket", f"""
            SELECT organization_id, clip_id, source, day, bucket, listeners, listens
            FROM (
                SELECT organization_id, clip_id, source, day, edge,
                       sum(d_listeners) OVER running AS listeners,
                       sum(d_listens) OVER running AS listens,
                       leadInFrame(edge, 1, edge) OVER (
                           PARTITION BY organization_id, clip_id, source, day ORDER BY edge
                           ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS next_edge
                FROM (
                    SELECT organization_id, clip_id, source, day, edge,
                           sum(step_listeners) AS d_listeners, sum(step_listens) AS d_listens
                    FROM (
                        SELECT organization_id, clip_id, source, day, edge,
                               listener_steps AS step_listeners, listen_steps AS step_listens
                        FROM {db}.rollup_steps FINAL
                        WHERE {rolled}
                        UNION ALL
                        SELECT organization_id, clip_id, source, day, edge,
                               toInt64(step_l) AS step_listeners, toInt64(step_n) AS step_listens
                        FROM {_sessions(db, CURVE)}
                        ARRAY JOIN edges AS edge, listener_steps AS step_l, listen_steps AS step_n
                        WHERE kept
                    )
                    GROUP BY organization_id, clip_id, source, day, edge
                )
                WINDOW running AS (PARTITION BY organization_id, clip_id, source, day
                                   ORDER BY edge ROWS UNBOUNDED PRECEDING)
            )
            ARRAY JOIN range(edge, next_edge) AS bucket
            WHERE listeners > 0
            """),
        View(db, "clip_daily", f"""
            SELECT d.organization_id AS organization_id, d.clip_id AS clip_id, d.day AS day,
                   d.source AS source, d.sessions AS sessions, d.kept_sessions AS kept_sessions,
                   d.listened_seconds AS listened_seconds, d.unique_seconds AS unique_seconds,
                   if(length > 0, d.kept_sessions, 0) AS measured_sessions,
                   if(length > 0, arraySum(u -> least(u / length, 1.0), d.uniques), 0)
                       AS consumption_share_sum,
                   if(length > 0,
                      toUInt64(arrayCount(f -> f >= {COMPLETION_THRESHOLD} * length, d.furthest)),
                      0) AS completed_sessions
            FROM (
                SELECT organization_id, clip_id, day, source,
                       sum(n) AS sessions, sum(k) AS kept_sessions,
                       sum(listened) AS listened_seconds, sum(heard) AS unique_seconds,
                       arrayFlatten(groupArray(us)) AS uniques,
                       arrayFlatten(groupArray(fs)) AS furthest
                FROM (
                    SELECT organization_id, clip_id, day, source, sessions AS n,
                           kept_sessions AS k, listened_seconds AS listened,
                           unique_seconds AS heard, kept_unique_seconds AS us,
                           kept_furthest_seconds AS fs
                    FROM {db}.rollup_daily FINAL
                    WHERE {rolled}
                    UNION ALL
                    SELECT organization_id, clip_id, day, source, count() AS n,
                           countIf(kept = 1) AS k,
                           sumIf(duration_seconds, kept = 1) AS listened,
                           sumIf(unique_seconds, kept = 1) AS heard,
                           groupArrayIf(unique_seconds, kept = 1) AS us,
                           groupArrayIf(furthest_seconds, kept = 1) AS fs
                    FROM {_sessions(db, DAILY)}
                    GROUP BY organization_id, clip_id, day, source
                )
                GROUP BY organization_id, clip_id, day, source
            ) AS d
            {GLOBAL}LEFT JOIN (
                SELECT organization_id, clip_id, ifNull(clip_length_seconds, 0) AS length
                FROM {db}.clip_lengths
            ) AS c ON d.organization_id = c.organization_id AND d.clip_id = c.clip_id
            """),
        View(db, "retention_curve", f"""
            SELECT b.organization_id AS organization_id, b.clip_id AS clip_id, b.day AS day,
                   b.source AS source, b.bucket AS bucket, b.listeners AS listeners,
                   b.listens AS listens, k.kept_sessions AS kept_sessions,
                   b.listeners / k.kept_sessions AS share_of_sessions
            FROM {db}.consumption_by_bucket AS b
            {GLOBAL}INNER JOIN (
                SELECT organization_id, clip_id, day, source, sum(kept_here) AS kept_sessions
                FROM (
                    SELECT organization_id, clip_id, day, source, kept_sessions AS kept_here
                    FROM {db}.rollup_daily FINAL
                    WHERE {rolled}
                    UNION ALL
                    SELECT organization_id, clip_id, day, source, count() AS kept_here
                    FROM {_sessions(db, ("day", "source", "kept"))}
                    WHERE kept
                    GROUP BY organization_id, clip_id, day, source
                )
                GROUP BY organization_id, clip_id, day, source
            ) AS k
                ON b.organization_id = k.organization_id AND b.clip_id = k.clip_id
               AND b.day = k.day AND b.source = k.source
            """),
        # A listener step of -1 at edge e ends a run of heard buckets at e - 1
        # (as in m0100); a rollup row counts those per edge already.
        View(db, "drop_off", f"""
            SELECT organization_id, clip_id, day, source, bucket,
                   sum(left_here) AS leaving, sum(ended_here) AS ending
            FROM (
                SELECT organization_id, clip_id, day, source, toUInt32(edge - 1) AS bucket,
                       leaving AS left_here, ending AS ended_here
                FROM {db}.rollup_steps FINAL
                WHERE leaving > 0 AND {rolled}
                UNION ALL
                SELECT organization_id, clip_id, day, source, toUInt32(edge - 1) AS bucket,
                       count() AS left_here, countIf(edge = last_edge) AS ended_here
                FROM (
                    SELECT organization_id, clip_id, day, source, edge, step,
                           arrayMax(edges) AS last_edge
                    FROM {_sessions(db, CURVE)}
                    ARRAY JOIN edges AS edge, listener_steps AS step
                    WHERE kept AND notEmpty(edges)
                )
                WHERE step < 0
                GROUP BY organization_id, clip_id, day, source, bucket
            )
            GROUP BY organization_id, clip_id, day, source, bucket
            """),
    ]


def statements(database: str) -> list[str]:
    return render(steps(database), None)
