"""Retention curves from per-session steps: a few values per session, not a row per bucket.

Up to m0003 ``consumption_by_bucket`` joined one row per session, version and
bucket (``session_buckets``, FINAL) with the newest kept versions (an IN
subquery): a clip with a million half-hour sessions meant reading about two
billion rows. Now each ``session_versions`` row carries its histogram as steps:
the sorted bucket edges where the session's listeners (0 or 1) and listens
change. The view sums the steps of the newest kept versions per edge and runs
a cumulative sum per organization, clip, source and day, then spreads each
value over the buckets up to the next edge. Integers throughout, so it is
exact; and it reads only the newest version of each session, so replays and
re-closes keep it exact as before. Columns and meaning are unchanged.

``session_buckets`` is no longer written. Rows written before this migration
get their steps from it here (same version, inserted later, which
ReplacingMergeTree keeps).
"""

from sinks.ddl import AddColumn, Backfill, Step, View, render

# Written out, not imported from m0002: an applied migration never changes.
BASE = ("organization_id", "clip_id", "session_id", "source", "day", "started_at", "ended_at",
        "duration_seconds", "kept", "interval_starts", "interval_ends", "version",
        "unique_seconds", "furthest_seconds", "clip_length_seconds", "completion_share",
        "startup_ms", "rebuffer_count", "rebuffer_ms", "quality_changes", "errors")
STEP_COLUMNS = ("edges", "listener_steps", "listen_steps")


def steps(database: str) -> list[Step]:
    db = database
    return [
        AddColumn(db, "session_versions", "edges", "Array(UInt32)"),
        AddColumn(db, "session_versions", "listener_steps", "Array(Int32)"),
        AddColumn(db, "session_versions", "listen_steps", "Array(Int32)"),
        Backfill(_backfill(db)),
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
                    FROM {db}.session_versions FINAL
                    ARRAY JOIN edges AS edge, listener_steps AS step_listeners,
                               listen_steps AS step_listens
                    WHERE kept
                    GROUP BY organization_id, clip_id, source, day, edge
                )
                WINDOW running AS (PARTITION BY organization_id, clip_id, source, day
                                   ORDER BY edge ROWS UNBOUNDED PRECEDING)
            )
            ARRAY JOIN range(edge, next_edge) AS bucket
            WHERE listeners > 0
            """),
    ]


def statements(database: str) -> list[str]:
    return render(steps(database), None)


def _backfill(db: str) -> str:
    # Steps from the per-bucket rows: a run of consecutive buckets starts a
    # listener and ends one; listens step by their change from bucket to bucket.
    key = "organization_id, clip_id, session_id, version"
    return f"""
    INSERT INTO {db}.session_versions ({", ".join(BASE + STEP_COLUMNS)})
    SELECT {", ".join(f"v.{c}" for c in BASE)},
           arrayMap(s -> s.1, steps), arrayMap(s -> s.2, steps), arrayMap(s -> s.3, steps)
    FROM (SELECT * FROM {db}.session_versions FINAL WHERE kept AND empty(edges)) AS v
    INNER JOIN (
        SELECT {key}, arraySort(groupArray((edge, d_listeners, d_listens))) AS steps
        FROM (
            SELECT {key}, step.1 AS edge, sum(step.2) AS d_listeners, sum(step.3) AS d_listens
            FROM (
                SELECT {key}, bucket, listens,
                       row_number() OVER w = 1
                           OR lagInFrame(bucket) OVER w != bucket - 1 AS starts,
                       row_number() OVER w = count() OVER w
                           OR leadInFrame(bucket) OVER w != bucket + 1 AS ends,
                       lagInFrame(listens) OVER w AS previous
                FROM {db}.session_buckets FINAL
                WINDOW w AS (PARTITION BY {key} ORDER BY bucket
                             ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
            )
            ARRAY JOIN [
                (toUInt32(bucket), toInt32(starts),
                 toInt32(listens) - if(starts, 0, toInt32(previous))),
                (toUInt32(bucket + 1), -toInt32(ends), if(ends, -toInt32(listens), 0))
            ] AS step
            GROUP BY {key}, edge
            HAVING d_listeners != 0 OR d_listens != 0
        )
        GROUP BY {key}
    ) AS s USING ({key})
    """
