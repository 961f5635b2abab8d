"""Sessions and their histogram contributions, stored so replays cannot double count.

Faust delivers at least once and a session can be re-closed after a late
event, so every closed session is written as a whole *version* (its number of
distinct events, which only grows). ``session_versions`` keeps the newest
version per session (ReplacingMergeTree); ``session_buckets`` holds each
version's buckets, and identical replays collapse on their full key. The
analysts' views read only the newest version of each kept session, so a sum
over them is exact however often a session was written.
"""


def statements(database: str) -> list[str]:
    return [
        f"""
        CREATE TABLE IF NOT EXISTS {database}.session_versions (
            organization_id String,
            clip_id String,
            session_id String,
            source LowCardinality(String),
            day Date,
            started_at DateTime64(3, 'UTC'),
            ended_at DateTime64(3, 'UTC'),
            duration_seconds Float64,
            kept UInt8,
            interval_starts Array(Float64),
            interval_ends Array(Float64),
            version UInt64
        ) ENGINE = ReplacingMergeTree(version)
        ORDER BY (organization_id, clip_id, session_id)
        """,
        f"""
        CREATE TABLE IF NOT EXISTS {database}.session_buckets (
            organization_id String,
            clip_id String,
            session_id String,
            version UInt64,
            source LowCardinality(String),
            day Date,
            bucket UInt32,
            listens UInt32
        ) ENGINE = ReplacingMergeTree
        ORDER BY (organization_id, clip_id, session_id, version, bucket)
        """,
        f"""
        CREATE VIEW IF NOT EXISTS {database}.sessions AS
        SELECT organization_id, clip_id, session_id, source, started_at, duration_seconds, kept
        FROM {database}.session_versions FINAL
        """,
        f"""
        CREATE VIEW IF NOT EXISTS {database}.consumption_by_bucket AS
        SELECT organization_id, clip_id, source, day, bucket,
               count() AS listeners, sum(listens) AS listens
        FROM {database}.session_buckets FINAL
        WHERE (organization_id, clip_id, session_id, version) IN (
            SELECT organization_id, clip_id, session_id, version
            FROM {database}.session_versions FINAL
            WHERE kept
        )
        GROUP BY organization_id, clip_id, source, day, bucket
        """,
    ]
