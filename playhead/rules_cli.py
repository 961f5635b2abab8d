"""``playhead rules``: qualifying-play rules per organization, and the restatements they made.

A rule lives in the warehouse (m0010) and the analysts' views apply it
(m0104); setting one rebuilds the rollups of the days it changes and logs a
restatement (sinks/rules.py, docs/operations/rules.md).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import date, datetime
from typing import Any

from config.settings import MAX_TIMELINE_BUCKETS, Settings


def add_commands(commands: Any) -> None:
    rules = commands.add_parser(
        "rules", help="qualifying-play rules per organization: set, list, restatements",
        description="What counts as a qualifying play for an organization (or one of its "
        "sources), from a UTC day on: the minimum listened seconds, the completion threshold "
        "and the bucket width. Setting a rule restates that organization's figures from the "
        "day on, rebuilding the rollups it changes; setting the same rule again changes "
        "nothing. See docs/operations/rules.md.")
    actions = rules.add_subparsers(dest="action", required=True, metavar="ACTION")
    put = actions.add_parser("set", help="set a rule from a UTC day on; restates the figures")
    put.set_defaults(run=_rules, act=_set)
    put.add_argument("--organization", required=True)
    put.add_argument("--source", default="",
                     help="only this source (dialect), e.g. omny; default every source")
    put.add_argument("--from", dest="since", required=True, type=_day, metavar="DAY",
                     help="the UTC day the rule starts on (sessions that started at or after "
                          "its midnight), e.g. 2026-11-01 or 2026-11-01T00:00:00Z")
    put.add_argument("--min-seconds", type=float, default=None,
                     help="minimum listened seconds of a qualifying play (default: as in "
                          "effect that day, else PLAYHEAD_MIN_SESSION_SECONDS)")
    put.add_argument("--completion-threshold", type=float, default=None, metavar="SHARE",
                     help="share of the clip a completed play reaches, e.g. 0.95")
    put.add_argument("--bucket-seconds", type=int, default=None,
                     help="histogram bucket width in whole seconds (default: as in effect "
                          "that day, else PLAYHEAD_BUCKET_SECONDS)")
    listing = actions.add_parser("list", help="the rules, and the restatements they made")
    listing.add_argument("--organization", default=None, help="one organization only")
    listing.set_defaults(run=_rules, act=_list)
    logged = actions.add_parser("restatements",
                                help="the log of rule changes and the days each rebuilt")
    logged.add_argument("--organization", default=None, help="one organization only")
    logged.set_defaults(run=_rules, act=_restatements)


def _day(text: str) -> date:
    from sinks.qualifying import InvalidRule, effective_day

    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return effective_day(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except (ValueError, InvalidRule) as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _rules(args: argparse.Namespace, settings: Settings) -> int:
    """Runs the action's ``act`` (set_defaults) with a warehouse client."""
    from sinks.client import connect
    from sinks.qualifying import InvalidRule

    client = connect(settings.clickhouse_url)
    try:
        code: int = args.act(client, args, settings)
        return code
    except InvalidRule as err:
        print(f"playhead rules: {err}", file=sys.stderr)
        return 2
    finally:
        client.close()


def _set(client: Any, args: argparse.Namespace, settings: Settings) -> int:
    from sinks.qualifying import RuleEntry, check_rule, deployment_rule, filled
    from sinks.rules import list_rules, set_rule

    database = settings.clickhouse_database
    entries = [stored.entry for stored in list_rules(client, database, args.organization)]
    rule = check_rule(filled(entries, args.organization, args.source, args.since,
                             deployment_rule(settings.min_session_seconds,
                                             settings.bucket_seconds),
                             args.min_seconds, args.completion_threshold, args.bucket_seconds),
                      settings.max_clip_seconds, MAX_TIMELINE_BUCKETS)
    entry = RuleEntry(args.organization, args.source, args.since, rule)
    restated = set_rule(client, database, entry, f"cli:{getpass.getuser()}")
    print(f"{_describe(entry)}")
    if restated is None:
        print("unchanged: the same rule was already set, nothing restated")
    else:
        days = ", ".join(d.isoformat() for d in restated.days_rebuilt) or "none built yet"
        print(f"restated from {entry.effective_day.isoformat()}; rollups rebuilt: {days}")
    return 0


def _list(client: Any, args: argparse.Namespace, settings: Settings) -> int:
    print_rules(client, settings.clickhouse_database, args.organization)
    print()
    return _restatements(client, args, settings)


def _restatements(client: Any, args: argparse.Namespace, settings: Settings) -> int:
    print_restatements(client, settings.clickhouse_database, args.organization)
    return 0


def _describe(entry: Any) -> str:
    rule = entry.rule
    return (f"{entry.organization_id} {entry.source or '*'} from "
            f"{entry.effective_day.isoformat()}: min {rule.min_session_seconds:g} s, "
            f"complete at {rule.completion_threshold:g}, {rule.bucket_seconds} s buckets")


def print_rules(client: Any, database: str, organization: str | None) -> None:
    from sinks.rules import list_rules

    stored = list_rules(client, database, organization)
    if not stored:
        print("no rules: every organization counts with the deployment's settings")
    for rule in stored:
        print(f"{_describe(rule.entry)} (set {rule.set_at:%Y-%m-%d %H:%M:%S} by {rule.set_by})")


def print_restatements(client: Any, database: str, organization: str | None) -> None:
    from sinks.rules import list_restatements

    logged = list_restatements(client, database, organization)
    print("restatements:" if logged else "no restatements")
    for r in logged:
        days = ", ".join(d.isoformat() for d in r.days_rebuilt) or "no built days"
        print(f"  {r.requested_at:%Y-%m-%d %H:%M:%S} by {r.requested_by}: {_describe(r.entry)}; "
              f"rebuilt {days}")
