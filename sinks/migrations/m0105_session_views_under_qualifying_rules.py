"""The per-session views say ``kept`` and ``completed`` under the qualifying-play rule in effect.

m0104 applies the rules (m0010) to the curves and daily totals; the views
with one row per session (``sessions``, ``session_figures``,
``session_consumption``) still showed the ``kept`` the worker stored (the
deployment's minimum) and ``completed`` at 95 %, so a listing disagreed
with ``clip_daily`` for an organization with rules. Now each session is
given the rule in effect for its organization, source and day (the
source's own, else the organization's, found in the rules read once per
query as one array, as in m0104): under a rule ``kept`` is ``duration_seconds >=
min_session_seconds`` and ``completed`` uses the rule's threshold; without
one, the stored ``kept`` and 0.95, as before. Same names, columns and types.
"""

from sinks.ddl import GLOBAL, Step, View, render

COMPLETION_THRESHOLD = 0.95


def _ruled(db: str, names: str) -> str:
    # Each session's newest version with its rule's minimum and threshold (NULL: none).
    columns = [name.strip() for name in names.split(",")]
    rules = (f"(SELECT arraySort(groupArray((organization_id, source, effective_day, "
             f"min_session_seconds, completion_threshold))) "
             f"FROM {db}.qualifying_rules FINAL)")
    own = ("arrayLastIndex(r -> r.1 = s.organization_id AND r.2 != '' "
           "AND r.2 = toString(s.source) AND r.3 <= s.day, rules)")
    every = "arrayLastIndex(r -> r.1 = s.organization_id AND r.2 = '' AND r.3 <= s.day, rules)"
    return f"""(
        WITH {rules} AS rules
        SELECT {", ".join(f"s.{c} AS {c}" for c in columns)},
               if({own} > 0, {own}, {every}) AS rule_at,
               if(rule_at > 0, toNullable(rules[rule_at].4), NULL) AS rule_min,
               if(rule_at > 0, rules[rule_at].5, {COMPLETION_THRESHOLD}) AS rule_threshold
        FROM (SELECT {", ".join(columns)} FROM {db}.session_versions FINAL) AS s
    )"""


def _kept(of: str = "") -> str:
    return (f"if(isNull({of}rule_min), {of}kept, "
            f"toUInt8({of}duration_seconds >= assumeNotNull({of}rule_min)))")


def steps(database: str) -> list[Step]:
    db = database
    figures = ("organization_id, clip_id, session_id, source, day, started_at, ended_at, "
               "duration_seconds, unique_seconds, furthest_seconds, clip_length_seconds, "
               "completion_share, startup_ms, rebuffer_count, rebuffer_ms, quality_changes, "
               "errors, kept, version")
    return [
        View(db, "sessions", f"""
            SELECT organization_id, clip_id, session_id, source, started_at, duration_seconds,
                   {_kept()} AS kept
            FROM {_ruled(db, "organization_id, clip_id, session_id, source, day, started_at, "
                             "duration_seconds, kept")}
            """),
        View(db, "session_figures", f"""
            SELECT organization_id, clip_id, session_id, source, day, started_at, ended_at,
                   duration_seconds AS listened_seconds, unique_seconds, furthest_seconds,
                   clip_length_seconds, completion_share, startup_ms, rebuffer_count,
                   rebuffer_ms, quality_changes, errors, {_kept()} AS kept, version
            FROM {_ruled(db, figures)}
            """),
        View(db, "session_consumption", f"""
            SELECT s.organization_id AS organization_id, s.clip_id AS clip_id,
                   s.session_id AS session_id, s.source AS source, s.day AS day,
                   s.started_at AS started_at, s.ended_at AS ended_at,
                   {_kept("s.")} AS kept,
                   s.duration_seconds AS listened_seconds, s.unique_seconds AS unique_seconds,
                   s.furthest_seconds AS furthest_seconds,
                   c.clip_length_seconds AS clip_length_seconds,
                   if(c.clip_length_seconds > 0,
                      least(s.unique_seconds / c.clip_length_seconds, 1.0), NULL)
                       AS consumption_share,
                   if(c.clip_length_seconds > 0,
                      toUInt8(s.furthest_seconds >= s.rule_threshold * c.clip_length_seconds),
                      NULL) AS completed
            FROM {_ruled(db, "organization_id, clip_id, session_id, source, day, started_at, "
                             "ended_at, kept, duration_seconds, unique_seconds, "
                             "furthest_seconds")} AS s
            {GLOBAL}LEFT JOIN {db}.clip_lengths AS c
                ON s.organization_id = c.organization_id AND s.clip_id = c.clip_id
            SETTINGS join_use_nulls = 1
            """),
    ]


def statements(database: str) -> list[str]:
    return render(steps(database), None)
