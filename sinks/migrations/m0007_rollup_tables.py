"""Rollup tables: a final day's curves and daily totals, built once instead of summed per session.

The views of m0101 read these for the days ``rollup_days`` records as built
and per-session data (``session_versions``) for every other day, so their
numbers do not depend on what has been built. ``sinks/rollups.py`` builds
them; docs/analytics.md says how and why it can never count twice.

* ``rollup_days``: one row per build of an organization's day. A build's rows
  in the other two tables count only once its row is here and its
  ``usable_from`` has passed; the newest usable build of a day wins. A crash
  before this row leaves rows nothing reads.
* ``rollup_steps``: per organization, clip, day, source, build and bucket
  edge, the kept sessions' summed histogram steps (what ``consumption_by_bucket``
  adds up) and how many heard runs end there (what ``drop_off`` counts).
* ``rollup_daily``: per organization, clip, day, source and build, the
  additive totals of ``clip_daily`` that need no clip length, the longest
  clip length the day's sessions reported, and the kept sessions' unique and
  furthest seconds, from which the share and completion columns are computed
  against the clip's length at query time (it may still grow).

Both rollup tables collapse repeated rows of one build (ReplacingMergeTree,
the build in the key, read with ``FINAL``) and deduplicate a retried insert
by its token, so a replayed build adds nothing.
"""

from sinks.ddl import Step, Table, render

DEDUPLICATION = (("non_replicated_deduplication_window", "1000"),)


def steps(database: str) -> list[Step]:
    db = database
    return [
        Table(db, "rollup_days",
              columns=(("organization_id", "String"),
                       ("day", "Date"),
                       ("build", "UInt64"),
                       ("usable_from", "DateTime64(3, 'UTC')"),
                       ("built_at", "DateTime64(3, 'UTC')"),
                       ("through", "Nullable(DateTime64(3, 'UTC'))"),
                       ("sessions", "UInt64")),
              engine="MergeTree", order_by=("organization_id", "day", "build")),
        Table(db, "rollup_steps",
              columns=(("organization_id", "String"),
                       ("clip_id", "String"),
                       ("day", "Date"),
                       ("source", "LowCardinality(String)"),
                       ("build", "UInt64"),
                       ("edge", "UInt32"),
                       ("listener_steps", "Int64"),
                       ("listen_steps", "Int64"),
                       ("leaving", "UInt64"),
                       ("ending", "UInt64")),
              engine="ReplacingMergeTree",
              order_by=("organization_id", "clip_id", "day", "source", "build", "edge"),
              settings=DEDUPLICATION),
        Table(db, "rollup_daily",
              columns=(("organization_id", "String"),
                       ("clip_id", "String"),
                       ("day", "Date"),
                       ("source", "LowCardinality(String)"),
                       ("build", "UInt64"),
                       ("sessions", "UInt64"),
                       ("kept_sessions", "UInt64"),
                       ("listened_seconds", "Float64"),
                       ("unique_seconds", "Float64"),
                       ("reported_length_seconds", "Float64"),
                       ("kept_unique_seconds", "Array(Float64)"),
                       ("kept_furthest_seconds", "Array(Float64)")),
              engine="ReplacingMergeTree",
              order_by=("organization_id", "clip_id", "day", "source", "build"),
              settings=DEDUPLICATION),
    ]


def statements(database: str) -> list[str]:
    return render(steps(database), None)
