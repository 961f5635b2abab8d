"""The analysts' views read a final day's rollups where one is built and per-session data elsewhere.

Same names, columns and numbers as m0100 (and m0004's ``consumption_by_bucket``);
only where the rows come from changes. For each organization and day, a view
reads either that day's newest usable build (``rollup_days``, m0007) or the
newest version of every session of the day, never both and never neither:

* the rollup branch keeps the rows whose (organization, day, build) is the
  newest build of the day with ``usable_from`` passed;
* the per-session branch keeps the sessions whose (organization, day) has no
  such build (the test is written with organizations numbered, as it runs
  once per session).

Both branches decide from ``rollup_days`` rows whose ``usable_from`` is at
or before ``now64(3)``, which ClickHouse evaluates once per query. A build
records its day with ``usable_from`` a settling time after its insert, so a
row that becomes visible while a query reads the table (between the two
branches' reads) is not yet usable in that query: the two branches cannot
disagree about a day unless an insert of one small row takes longer than the
settling time. ``sinks/rollups.py`` builds the days; docs/analytics.md explains.

``clip_daily``'s share and completion columns depend on the clip's length,
which a session of a later day may still raise: a rollup keeps the kept
sessions' unique and furthest seconds instead of their shares, and the view
computes shares and completions against the clip's length at query time, as
m0100 did per session. ``clip_lengths`` takes each built day's longest
reported length from its rollup.
"""

from sinks.ddl import GLOBAL, Step, View, render

COMPLETION_THRESHOLD = 0.95


def _builds(db: str) -> str:
    # The newest usable build of each built day (ties: the larger build id).
    return (f"(SELECT organization_id, day, argMax(build, (usable_from, build)) "
            f"FROM {db}.rollup_days WHERE usable_from <= now64(3) "
            f"GROUP BY organization_id, day)")


def _live(db: str) -> str:
    # "(organization_id, day) NOT IN (the built days)", but the per-session branch
    # tests millions of rows, and a set of (String, Date) costs about twice one of
    # (UInt64, Date): each organization with a build is numbered by its place in
    # the sorted list of them (0: none), the same list on both sides.
    usable = f"FROM {db}.rollup_days WHERE usable_from <= now64(3)"
    orgs = f"(SELECT arraySort(groupUniqArray(organization_id)) {usable})"
    number = f"toUInt64(transform(organization_id, {orgs}, arrayEnumerate({orgs}), 0))"
    return (f"({number}, day) {GLOBAL}NOT IN "
            f"(SELECT toUInt64(indexOf({orgs}, organization_id)), day {usable})")


def steps(database: str) -> list[Step]:
    db = database
    rolled = f"(organization_id, day, build) {GLOBAL}IN {_builds(db)}"
    live = _live(db)
    return [
        View(db, "clip_lengths", f"""
            SELECT organization_id, clip_id, max(reported) AS clip_length_seconds
            FROM (
                SELECT organization_id, clip_id, toNullable(reported_length_seconds) AS reported
                FROM {db}.rollup_daily FINAL
                WHERE reported > 0 AND {rolled}
                UNION ALL
                SELECT organization_id, clip_id, clip_length_seconds AS reported
                FROM {db}.session_versions FINAL
                WHERE reported > 0 AND {live}
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
                        FROM {db}.session_versions FINAL
                        ARRAY JOIN edges AS edge, listener_steps AS step_l, listen_steps AS step_n
                        WHERE kept AND {live}
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
                    FROM {db}.session_versions FINAL
                    WHERE {live}
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
                    FROM {db}.session_versions FINAL
                    WHERE kept AND {live}
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
                    FROM {db}.session_versions FINAL
                    ARRAY JOIN edges AS edge, listener_steps AS step
                    WHERE kept AND notEmpty(edges) AND {live}
                )
                WHERE step < 0
                GROUP BY organization_id, clip_id, day, source, bucket
            )
            GROUP BY organization_id, clip_id, day, source, bucket
            """),
    ]


def statements(database: str) -> list[str]:
    return render(steps(database), None)
