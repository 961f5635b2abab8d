"""Engagement and music-rights events, one row per event id, so counts are exact.

Royalties are paid on clip_play, track_play, add and download, so these must
never count twice, and a play refused by the rights check (``rights =
'denied'``) is kept for the record but counted apart (``denied_plays``).
Each event is stored once under its event id in a ReplacingMergeTree (a
replayed or rewritten session writes identical rows, which collapse), and the
views count rows of ``FINAL``. Dimensions are the
event's own UTC day, clip, source and the dialect's platform and method.
"""


from sinks.ddl import Step, Table, View, render


def steps(database: str) -> list[Step]:
    db = database
    return [
        Table(db, "content_events",
              columns=(("organization_id", "String"),
                       ("clip_id", "String"),
                       ("day", "Date"),
                       ("action", "LowCardinality(String)"),
                       ("session_id", "String"),
                       ("event_id", "String"),
                       ("event_time", "DateTime64(3, 'UTC')"),
                       ("source", "LowCardinality(String)"),
                       ("platform", "LowCardinality(String)"),
                       ("method", "LowCardinality(String)"),
                       ("rights", "LowCardinality(String)")),
              engine="ReplacingMergeTree",
              order_by=("organization_id", "clip_id", "day", "action", "session_id",
                        "event_id")),
        View(db, "engagement_by_clip", f"""
            SELECT organization_id, clip_id, day, source,
                   countIf(action = 'impression') AS impressions,
                   countIf(action = 'like') AS likes,
                   countIf(action = 'share') AS shares,
                   countIf(action = 'save') AS saves,
                   countIf(action = 'swipe') AS swipes,
                   countIf(action = 'completion') AS completions
            FROM {db}.content_events FINAL
            WHERE action IN ('impression', 'like', 'share', 'save', 'swipe', 'completion')
            GROUP BY organization_id, clip_id, day, source
            """),
        View(db, "rights_by_clip", f"""
            SELECT organization_id, clip_id, day, platform, method,
                   countIf(action = 'clip_play' AND rights != 'denied') AS clip_plays,
                   countIf(action = 'clip_play' AND rights = 'denied') AS denied_plays,
                   countIf(action = 'track_play') AS track_plays,
                   countIf(action = 'add') AS adds,
                   countIf(action = 'download') AS downloads
            FROM {db}.content_events FINAL
            WHERE action IN ('clip_play', 'track_play', 'add', 'download')
            GROUP BY organization_id, clip_id, day, platform, method
            """),
    ]


def statements(database: str) -> list[str]:
    return render(steps(database), None)
