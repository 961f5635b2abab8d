"""Sessions and their histogram contributions, stored so replays cannot double count.

Faust delivers at least once and a session can be re-closed after a late
event, so every closed session is written as a whole *version* (its number of
distinct events, which only grows). ``session_versions`` keeps the newest
version per session (ReplacingMergeTree); ``session_buckets`` holds each
version's buckets, and identical replays collapse on their full key. The
analysts' views read only the newest version of each kept session, so a sum
over them is exact however often a session was written.
"""


from sinks.ddl import GLOBAL, Step, Table, View, render


def steps(database: str) -> list[Step]:
    db = database
    return [
        Table(db, "session_versions",
              columns=(("organization_id", "String"),
                       ("clip_id", "String"),
                       ("session_id", "String"),
                       ("source", "LowCardinality(String)"),
                       ("day", "Date"),
                       ("started_at", "DateTime64(3, 'UTC')"),
                       ("ended_at", "DateTime64(3, 'UTC')"),
                       ("duration_seconds", "Float64"),
                       ("kept", "UInt8"),
                       ("interval_starts", "Array(Float64)"),
                       ("interval_ends", "Array(Float64)"),
                       ("version", "UInt64")),
              engine="ReplacingMergeTree", engine_args=("version",),
              order_by=("organization_id", "clip_id", "session_id")),
        Table(db, "session_buckets",
              columns=(("organization_id", "String"),
                       ("clip_id", "String"),
                       ("session_id", "String"),
                       ("version", "UInt64"),
                       ("source", "LowCardinality(String)"),
                       ("day", "Date"),
                       ("bucket", "UInt32"),
                       ("listens", "UInt32")),
              engine="ReplacingMergeTree",
              order_by=("organization_id", "clip_id", "session_id", "version", "bucket")),
        View(db, "sessions", f"""
            SELECT organization_id, clip_id, session_id, source, started_at, duration_seconds, kept
            FROM {db}.session_versions FINAL
            """, replace=False),
        View(db, "consumption_by_bucket", f"""
            SELECT organization_id, clip_id, source, day, bucket,
                   count() AS listeners, sum(listens) AS listens
            FROM {db}.session_buckets FINAL
            WHERE (organization_id, clip_id, session_id, version) {GLOBAL}IN (
                SELECT organization_id, clip_id, session_id, version
                FROM {db}.session_versions FINAL
                WHERE kept
            )
            GROUP BY organization_id, clip_id, source, day, bucket
            """, replace=False),
    ]


def statements(database: str) -> list[str]:
    return render(steps(database), None)
