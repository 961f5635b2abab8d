"""Qualifying-play rules per organization live in the warehouse, where the views apply them.

Each organization may say what a qualifying play is (minimum duration,
completion threshold, bucket width), for all its sources or one, from a UTC
day on (sinks/qualifying.py). The views (m0104) and the rollup builds need
the rules at query time, so they are a table here, not a worker setting:
the workers store every session's intervals, duration and furthest
position whatever the rule, and a rule change restates past figures from
those rows.

* ``qualifying_rules``: one row per organization, source ('' for every
  source) and effective day; setting it again with other values replaces
  it (newest ``set_at`` wins, read with ``FINAL``).
* ``restatements``: the log of rule changes that were applied: which rule,
  from which day, who asked, and which built days were rebuilt under it.
  No personal data.
"""

from sinks.ddl import Step, Table, render


def steps(database: str) -> list[Step]:
    db = database
    return [
        Table(db, "qualifying_rules",
              columns=(("organization_id", "String"),
                       ("source", "String"),
                       ("effective_day", "Date"),
                       ("min_session_seconds", "Float64"),
                       ("completion_threshold", "Float64"),
                       ("bucket_seconds", "UInt32"),
                       ("set_at", "DateTime64(3, 'UTC')"),
                       ("set_by", "String")),
              engine="ReplacingMergeTree", engine_args=("set_at",),
              order_by=("organization_id", "source", "effective_day")),
        Table(db, "restatements",
              columns=(("organization_id", "String"),
                       ("source", "String"),
                       ("effective_day", "Date"),
                       ("min_session_seconds", "Float64"),
                       ("completion_threshold", "Float64"),
                       ("bucket_seconds", "UInt32"),
                       ("requested_at", "DateTime64(3, 'UTC')"),
                       ("requested_by", "String"),
                       ("days_rebuilt", "Array(Date)"),
                       ("builds", "Array(UInt64)")),
              engine="MergeTree", order_by=("organization_id", "requested_at")),
    ]


def statements(database: str) -> list[str]:
    return render(steps(database), None)
