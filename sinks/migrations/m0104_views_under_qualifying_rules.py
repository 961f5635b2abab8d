"""The analysts' views apply each organization's qualifying-play rules (m0010) to every day.

Until now a session's ``kept`` and histogram steps were what the worker
computed with the deployment's settings, and the completion threshold was
the constant 0.95. An organization may now set its own rules
(sinks/qualifying.py) from a UTC day on; the views restate its figures from
what every session row already stores (intervals, duration, unique and
furthest seconds), so a rule change needs no replay:

* the rules are read once per query into one sorted array (a scalar
  ``WITH``; a handful of rows), and each session (or ``clip_daily`` row)
  finds its rule in it: the source's own, else the organization's for every
  source, at the latest effective day on or before its day. Joins did the
  same at about twice the cost of a read over a million sessions, for
  organizations without rules too;
* sessions of an organization with rules are read from ``session_versions
  FINAL`` (as m0103 reads organizations without builds) in a branch of their
  own, which finds each session's rule first (index, minimum, width, as
  columns) and computes ``kept`` and the steps from those columns a level up:
  planned next to the lookup, the steps cost about 30 ms a read even where no
  organization has a rule. Under a rule ``kept`` is ``duration_seconds >=
  min_session_seconds`` and the steps are rebuilt from the intervals at the
  rule's width: each interval ``[a, b)`` touches buckets ``floor(a/w) ..
  ceil(b/w) - 1`` (listens), and the session is one listener wherever any of
  its intervals is (the steps ``processors.histogram.bucket_steps`` writes,
  except that a start and an end at one edge are two entries, which every
  sum nets). Without a rule: the stored ``kept`` and steps, read by m0103's
  two paths, which now leave out the organizations with rules;
* ``clip_daily`` takes the completion threshold of the rule in effect for
  each organization, day and source (0.95 without one);
* a build made under an old rule is not detected by the views: a
  restatement (sinks/rules.py) first records a **marker** for each built day
  the rule covers (a ``rollup_days`` row with build 0, usable at once, and
  again just after any build still settling), so the day is read per session
  until it is rebuilt under the new rule; only then does it store the rule.
  A day whose newest usable build is a marker is not built here; nothing
  else changes in how builds are chosen (m0103). ``sinks/rollups.py`` builds
  the days of organizations with rules from ``ruled_sessions``, the
  per-session read under the rules.

Same names and columns as m0103; ``bucket`` is the bucket index at the
width of the rule in effect for that day and source (docs/analytics.md).
Every view is restated here, as a migration imports no other.
"""

from sinks.ddl import GLOBAL, Step, View, render

COMPLETION_THRESHOLD = 0.95
NULLABLE = frozenset({"clip_length_seconds"})
CURVE = ("day", "source", "kept", "edges", "listener_steps", "listen_steps")
DAILY = ("day", "source", "kept", "duration_seconds", "unique_seconds", "furthest_seconds")
RULED = ("source", "day", "kept", "duration_seconds", "unique_seconds", "furthest_seconds",
         "clip_length_seconds", "edges", "listener_steps", "listen_steps")


def _rule_orgs(db: str) -> str:
    return f"(SELECT organization_id FROM {db}.qualifying_rules)"


def _rules(db: str) -> str:
    # Every rule in one array, sorted by organization, source and day: the last
    # match for a row is the rule in effect on its day. A handful of rows,
    # read once per query (a scalar), where m0104 joined them with every row.
    return (f"(SELECT arraySort(groupArray((organization_id, source, effective_day, "
            f"min_session_seconds, completion_threshold, bucket_seconds))) "
            f"FROM {db}.qualifying_rules FINAL)")


def _rule_at(row: str) -> str:
    """The index in ``rules`` of the rule for ``row``'s organization, source and day (0: none).

    The source's own rule wins; else the organization's rule for every source.
    """
    own = (f"arrayLastIndex(r -> r.1 = {row}.organization_id AND r.2 != '' "
           f"AND r.2 = toString({row}.source) AND r.3 <= {row}.day, rules)")
    every = (f"arrayLastIndex(r -> r.1 = {row}.organization_id AND r.2 = '' "
             f"AND r.3 <= {row}.day, rules)")
    return f"if({own} > 0, {own}, {every})"


def _builds(db: str) -> str:
    # The newest usable build of each built day (ties: the larger build id),
    # which may be a restatement's marker (build 0: read the day per session).
    return (f"(SELECT organization_id, day, argMax(build, (usable_from, build)) AS build "
            f"FROM {db}.rollup_days WHERE usable_from <= now64(3) "
            f"GROUP BY organization_id, day)")


def _built_days(db: str) -> str:
    # The days read from a rollup: their newest usable build is not a marker.
    return f"(SELECT organization_id, day FROM {_builds(db)} WHERE build != 0)"


def _ruled(db: str, where: str, columns: tuple[str, ...] = RULED) -> str:
    """Newest versions of sessions matching ``where``, with ``kept`` and steps under their rule.

    Only ``columns`` are computed, and in two steps: the rule's parts per
    session first (from the rules array), then the steps from those columns.
    Planning the steps' array expressions next to the rules array cost about
    30 ms more per query, even where no organization has a rule.
    """
    stored = ("source", "day", "duration_seconds", "unique_seconds", "furthest_seconds",
              "clip_length_seconds")
    steps = bool({"edges", "listener_steps", "listen_steps"} & set(columns))
    read = {"organization_id", "clip_id", "session_id", "source", "day",
            *(c for c in stored if c in columns)}
    if "kept" in columns:
        read |= {"kept", "duration_seconds"}
    if steps:
        read |= {"edges", "listener_steps", "listen_steps", "interval_starts", "interval_ends"}
    inner = [f"s.{c} AS {c}" for c in sorted(read)]
    if steps or "kept" in columns:
        inner += [f"{_rule_at('s')} AS r_at", "r_at > 0 AS r_ruled",
                  "rules[r_at].4 AS r_min", "toFloat64(if(r_ruled, rules[r_at].6, 1)) AS r_width"]
    outer = [f"t.{c} AS {c}" for c in ("organization_id", "clip_id", "session_id", *stored)
             if c in columns or c in ("organization_id", "clip_id", "session_id")]
    if "kept" in columns:
        outer.append("if(t.r_ruled, toUInt8(t.duration_seconds >= t.r_min), t.kept) AS kept")
    if steps:
        starts = "arrayMap(a -> (toUInt32(floor(a / t.r_width)), toInt8(-1)), t.interval_starts)"
        ends = "arrayMap(b -> (toUInt32(ceil(b / t.r_width)), toInt8(1)), t.interval_ends)"
        # Starts sort before ends at one edge, so the coverage never dips to 0
        # where one interval ends and the next begins.
        outer += [
            f"arraySort(arrayConcat({starts}, {ends})) AS r_points",
            "arrayMap(p -> -toInt32(p.2), r_points) AS r_listens",
            "arrayMap(c -> toInt32(c > 0), arrayCumSum(r_listens)) AS r_heard",
            "if(t.r_ruled, arrayMap(p -> p.1, r_points), t.edges) AS edges",
            "if(t.r_ruled, arrayMap(d -> toInt32(d), arrayPopFront(arrayDifference("
            "arrayPushFront(r_heard, 0)))), t.listener_steps) AS listener_steps",
            "if(t.r_ruled, r_listens, t.listen_steps) AS listen_steps"]
    rules = f"WITH {_rules(db)} AS rules" if "r_at" in " ".join(inner) else ""
    selected = ",\n               ".join(outer)
    return f"""(
        SELECT {selected}
        FROM (
            {rules}
            SELECT {", ".join(inner)}
            FROM (
                SELECT {", ".join(sorted(read))}
                FROM {db}.session_versions FINAL
                WHERE {where}
            ) AS s
        ) AS t
    )"""


def _sessions(db: str, columns: tuple[str, ...]) -> str:
    # Per organization, one of three reads of each session's newest version.
    built = (f"(SELECT organization_id FROM {db}.rollup_days "
             f"WHERE usable_from <= now64(3))")
    ruled = _rule_orgs(db)
    plain = ", ".join(columns)
    # One argMax per column: over a tuple holding arrays it was about half as fast.
    # A Nullable column goes in a tuple, or argMax would skip a newest NULL.
    # argMax drops LowCardinality: put it back, or the views' column types change.
    newest = ", ".join(f"argMax(tuple({c}), version).1 AS newest_{c}" if c in NULLABLE
                       else f"toLowCardinality(argMax({c}, version)) AS newest_{c}"
                       if c == "source" else f"argMax({c}, version) AS newest_{c}"
                       for c in columns)
    named = ", ".join(f"newest_{c} AS {c}" for c in columns)
    live = (f"organization_id {GLOBAL}IN {ruled} AND (organization_id, day) {GLOBAL}NOT IN "
            f"{_built_days(db)}")
    return f"""(
                SELECT organization_id, clip_id, session_id, {plain}
                FROM {db}.session_versions FINAL
                WHERE organization_id {GLOBAL}NOT IN {built}
                  AND organization_id {GLOBAL}NOT IN {ruled}
                UNION ALL
                SELECT organization_id, clip_id, session_id, {named}
                FROM (
                    SELECT organization_id, clip_id, session_id, {newest}
                    FROM {db}.session_days
                    WHERE organization_id {GLOBAL}IN {built}
                      AND organization_id {GLOBAL}NOT IN {ruled}
                      AND (organization_id, day) {GLOBAL}NOT IN {_built_days(db)}
                    GROUP BY organization_id, clip_id, session_id
                )
                WHERE (organization_id, clip_id, session_id) {GLOBAL}NOT IN (
                    SELECT organization_id, clip_id, session_id FROM {db}.rollup_moved
                    WHERE (organization_id, day, build) {GLOBAL}IN {_builds(db)})
                UNION ALL
                SELECT organization_id, clip_id, session_id, {plain}
                FROM {_ruled(db, live, columns)}
            )"""


def steps(database: str) -> list[Step]:
    db = database
    rolled = f"(organization_id, day, build) {GLOBAL}IN {_builds(db)}"
    return [
        # What a rollup build of an organization with rules reads (sinks/rollups.py).
        View(db, "ruled_sessions", f"""
            SELECT organization_id, clip_id, session_id, {", ".join(RULED)}
            FROM {_ruled(db, "1")}
            """),
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
            SELECT organization_id, clip_id, day, source, sessions, kept_sessions,
                   listened_seconds, unique_seconds, measured_sessions,
                   consumption_share_sum, completed_sessions
            FROM (
                WITH {_rules(db)} AS rules
                SELECT d.organization_id AS organization_id, d.clip_id AS clip_id, d.day AS day,
                       d.source AS source, d.sessions AS sessions, d.kept_sessions AS kept_sessions,
                       d.listened_seconds AS listened_seconds, d.unique_seconds AS unique_seconds,
                       if(length > 0, d.kept_sessions, 0) AS measured_sessions,
                       if(length > 0, arraySum(u -> least(u / length, 1.0), d.uniques), 0)
                           AS consumption_share_sum,
                       {_rule_at("d")} AS rule_at,
                       if(rule_at > 0, rules[rule_at].5, {COMPLETION_THRESHOLD}) AS threshold,
                       if(length > 0,
                          toUInt64(arrayCount(f -> f >= threshold * length, d.furthest)),
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
            )
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
