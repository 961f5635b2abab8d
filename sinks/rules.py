"""Qualifying-play rules in the warehouse (m0010): set, list, and restate the built days.

The views apply the rules at query time (m0104), so a rule change restates
every per-session figure at once. Rollups are the other source of figures,
built under the rule in effect when they were built. ``set_rule`` therefore
works in this order, each step leaving every figure exact:

1. a **marker** for each built day the rule covers (a ``rollup_days`` row
   with build 0, usable at once and again just after any build still
   settling): the views read those days per session, under the old rule;
2. the rule itself: from now on the views apply it, per session;
3. a build of each marked day under the new rule, which supersedes the
   marker once it settles; then one row in ``restatements``.

Setting the same rule again changes nothing and logs nothing, unless a
restatement was interrupted (a marker or a build older than the rule is
newest for some day): then it finishes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from clickhouse_connect.driver.client import Client

from sinks import rollups
from sinks.identifiers import check_database
from sinks.qualifying import Rule, RuleEntry, changes


@dataclass(frozen=True)
class StoredRule:
    entry: RuleEntry
    set_at: datetime
    set_by: str


@dataclass(frozen=True)
class Restatement:
    entry: RuleEntry
    requested_at: datetime
    requested_by: str
    days_rebuilt: tuple[date, ...]
    builds: tuple[int, ...]


def list_rules(client: Client, database: str, organization: str | None = None) -> list[StoredRule]:
    check_database(database)
    scope = "" if organization is None else " WHERE organization_id = {org:String}"
    rows = client.query(
        "SELECT organization_id, source, effective_day, min_session_seconds, "
        f"completion_threshold, bucket_seconds, set_at, set_by FROM {database}.qualifying_rules "
        f"FINAL{scope} ORDER BY organization_id, source, effective_day",
        parameters={"org": organization or ""}).result_rows
    return [StoredRule(RuleEntry(r[0], r[1], r[2], Rule(float(r[3]), float(r[4]), int(r[5]))),
                       r[6], r[7]) for r in rows]


def list_restatements(client: Client, database: str,
                      organization: str | None = None) -> list[Restatement]:
    check_database(database)
    scope = "" if organization is None else " WHERE organization_id = {org:String}"
    rows = client.query(
        "SELECT organization_id, source, effective_day, min_session_seconds, "
        "completion_threshold, bucket_seconds, requested_at, requested_by, days_rebuilt, builds "
        f"FROM {database}.restatements{scope} ORDER BY organization_id, requested_at",
        parameters={"org": organization or ""}).result_rows
    return [Restatement(RuleEntry(r[0], r[1], r[2], Rule(float(r[3]), float(r[4]), int(r[5]))),
                        r[6], r[7], tuple(r[8]), tuple(int(b) for b in r[9])) for r in rows]


def stale_days(client: Client, database: str, organization: str) -> list[date]:
    """The organization's built days left to rebuild: newest build a marker, or older than
    a rule change covering the day."""
    check_database(database)
    rows = client.query(f"""
        SELECT DISTINCT b.day
        FROM (SELECT organization_id, day, argMax(build, (usable_from, build)) AS newest,
                     argMax(built_at, (usable_from, build)) AS newest_built_at
              FROM {database}.rollup_days
              WHERE organization_id = {{org:String}} GROUP BY organization_id, day) AS b
        LEFT JOIN (SELECT organization_id, effective_day, set_at
                   FROM {database}.qualifying_rules FINAL
                   WHERE organization_id = {{org:String}}) AS r
            ON b.organization_id = r.organization_id
        WHERE b.newest = 0 OR (r.organization_id != '' AND r.effective_day <= b.day
                               AND r.set_at >= b.newest_built_at)
        ORDER BY b.day
        """, parameters={"org": organization}).result_rows
    return [row[0] for row in rows]


def mark_days(client: Client, database: str, organization: str, since: date) -> None:
    """Have the views read the organization's built days from ``since`` per session.

    A marker (build 0) is usable at once; a build recorded in the last few
    seconds is not usable yet and would then win over it, so a second marker
    becomes usable a millisecond after the newest build of the day does.
    """
    check_database(database)
    client.command(f"""
        INSERT INTO {database}.rollup_days (organization_id, day, build, usable_from, built_at,
                                            through, sessions)
        SELECT organization_id, day, 0, at, now64(3), NULL, 0
        FROM (SELECT organization_id, day, max(usable_from) AS latest
              FROM {database}.rollup_days
              WHERE organization_id = {{org:String}} AND day >= {{since:Date}}
              GROUP BY organization_id, day)
        ARRAY JOIN arrayDistinct([now64(3),
                                  greatest(now64(3), latest + toIntervalMillisecond(1))]) AS at
        """, parameters={"org": organization, "since": since})


def set_rule(client: Client, database: str, entry: RuleEntry, requested_by: str, *,
             settle_seconds: float = rollups.SETTLE_SECONDS,
             build: Callable[..., rollups.BuiltDay] = rollups.build_day) -> Restatement | None:
    """Store ``entry`` and restate the built days it changes; None when nothing changed.

    ``entry.rule`` must have been checked (``sinks.qualifying.check_rule``).
    The rule's ``set_at`` is the warehouse's clock, the one ``built_at`` is
    read from, so ``stale_days`` judges builds against the same clock.
    """
    check_database(database)
    existing = [stored.entry for stored in list_rules(client, database, entry.organization_id)]
    changed = changes(existing, entry)
    if changed:
        mark_days(client, database, entry.organization_id, entry.effective_day)
        client.command(f"""
            INSERT INTO {database}.qualifying_rules (organization_id, source, effective_day,
                min_session_seconds, completion_threshold, bucket_seconds, set_at, set_by)
            SELECT {{org:String}}, {{source:String}}, {{day:Date}}, {{min:Float64}},
                   {{threshold:Float64}}, {{width:UInt32}}, now64(3), {{by:String}}
            """, parameters=_rule_parameters(entry, requested_by))
    days = stale_days(client, database, entry.organization_id)
    if not changed and not days:
        return None
    built = [build(client, database, entry.organization_id, day, settle_seconds=settle_seconds)
             for day in days]
    client.command(f"""
        INSERT INTO {database}.restatements (organization_id, source, effective_day,
            min_session_seconds, completion_threshold, bucket_seconds, requested_at,
            requested_by, days_rebuilt, builds)
        SELECT {{org:String}}, {{source:String}}, {{day:Date}}, {{min:Float64}},
               {{threshold:Float64}}, {{width:UInt32}}, now64(3), {{by:String}},
               {{days:Array(Date)}}, {{builds:Array(UInt64)}}
        """, parameters={**_rule_parameters(entry, requested_by),
                         "days": [b.day for b in built], "builds": [b.build for b in built]})
    logged = list_restatements(client, database, entry.organization_id)
    return logged[-1] if logged else None


def _rule_parameters(entry: RuleEntry, by: str) -> dict[str, object]:
    return {"org": entry.organization_id, "source": entry.source, "day": entry.effective_day,
            "min": entry.rule.min_session_seconds,
            "threshold": entry.rule.completion_threshold,
            "width": entry.rule.bucket_seconds, "by": by}
