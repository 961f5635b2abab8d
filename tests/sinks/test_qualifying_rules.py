"""The views apply each organization's qualifying-play rules exactly, rolled up or not (m0104).

Random sessions (older versions, a replayed newest version) go into
``session_versions`` as a worker with the default settings writes them;
random rules (for every source or one, from some day, other minimums,
thresholds and widths) go in through ``sinks.rules.set_rule``. Every curve,
drop-off and daily figure must equal a pure computation: each session's
newest version under the rule in effect for its organization, source and
day (``sinks.qualifying``), its histogram counted bucket by bucket
(tests/histogram_oracle.py), and each session's ``kept`` and ``completed``
in the per-session views (m0105). Then some days are built, a rule changes, the
same rule is set again: the figures follow the rule in effect each time, the
restatement names the rebuilt days, and the repeat changes nothing.
On the real engine: chDB in this process.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from processors.figures import furthest_seconds, unique_seconds
from processors.intervals import Interval
from sinks import rollups
from sinks.client import connect
from sinks.migrate import migrate
from sinks.qualifying import Rule, RuleEntry, qualify, rule_for
from sinks.rules import list_restatements, mark_days, set_rule, stale_days
from tests.histogram_oracle import bucket_listens

pytestmark = pytest.mark.integration  # chDB

FIRST_DAY = date(2026, 3, 1)
DAYS = 3
DEFAULT = Rule()  # what the worker wrote: PLAYHEAD_MIN_SESSION_SECONDS 10, 1 s buckets
LENGTH = 60.0
COLUMNS = ("organization_id", "clip_id", "session_id", "source", "day", "started_at",
           "ended_at", "duration_seconds", "kept", "interval_starts", "interval_ends",
           "version", "unique_seconds", "furthest_seconds", "clip_length_seconds", "edges",
           "listener_steps", "listen_steps")


@dataclass(frozen=True)
class Version:
    day: int
    intervals: tuple[Interval, ...]


@dataclass(frozen=True)
class Session:
    clip: str
    source: str
    versions: tuple[Version, ...]  # the last is the newest
    repeated: bool


def _intervals(pairs: list[tuple[float, float]]) -> tuple[Interval, ...]:
    return tuple(Interval(round(a, 3), round(a + n, 3)) for a, n in pairs)


versions = st.builds(Version, day=st.integers(0, DAYS - 1), intervals=st.lists(
    st.tuples(st.floats(0, 50, allow_nan=False), st.floats(0.5, 25, allow_nan=False)),
    max_size=3).map(_intervals))
sessions_strategy = st.lists(st.builds(
    Session, clip=st.sampled_from(["c1", "c2"]), source=st.sampled_from(["Web", "App"]),
    versions=st.lists(versions, min_size=1, max_size=2).map(tuple), repeated=st.booleans()),
    min_size=1, max_size=15)
rules_strategy = st.builds(Rule, min_session_seconds=st.sampled_from([0.0, 5.0, 10.0, 30.0]),
                           completion_threshold=st.sampled_from([0.5, 0.9, 0.95]),
                           bucket_seconds=st.sampled_from([1, 2, 5, 7]))
entries_strategy = st.lists(st.tuples(st.sampled_from(["", "Web"]), st.integers(0, DAYS - 1),
                                      rules_strategy), max_size=3)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, str]]:
    path: Path = tmp_path_factory.mktemp("rules") / "chdb"
    client = connect(f"chdb://{path}")
    migrate(client, "playhead")
    yield client, "playhead"
    client.close()


def session_rows(organization: str, generated: list[Session]) -> list[list[Any]]:
    out = []
    for n, s in enumerate(generated):
        for number, v in enumerate(s.versions, 1):
            day = FIRST_DAY + timedelta(days=v.day)
            at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
            duration = round(sum(i.length for i in v.intervals), 6)
            stored = qualify(v.intervals, duration, DEFAULT)
            row = [organization, s.clip, f"s{n}", s.source, day, at, at, duration,
                   int(stored.kept), [i.start for i in v.intervals],
                   [i.end for i in v.intervals], number, unique_seconds(v.intervals),
                   furthest_seconds(v.intervals), LENGTH, list(stored.steps.edges),
                   list(stored.steps.listener_steps), list(stored.steps.listen_steps)]
            out.append(row)
            if s.repeated and number == len(s.versions):
                out.append(row)
    return out


def expected(organization: str, generated: list[Session],
             entries: list[RuleEntry]) -> dict[str, list[tuple[Any, ...]]]:
    """Every figure the views give, computed session by session under the rules."""
    curve: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    leaving: Counter[tuple[Any, ...]] = Counter()
    ending: Counter[tuple[Any, ...]] = Counter()
    daily: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    per_session = []
    for n, s in enumerate(generated):
        v = s.versions[-1]
        day = FIRST_DAY + timedelta(days=v.day)
        rule = rule_for(entries, organization, s.source, day) or DEFAULT
        duration = round(sum(i.length for i in v.intervals), 6)
        kept = duration >= rule.min_session_seconds
        done = furthest_seconds(v.intervals) >= rule.completion_threshold * LENGTH
        per_session.append((f"s{n}", int(kept), int(done)))
        group = (s.clip, s.source, day)
        daily[group][0] += 1
        if not kept:
            continue
        daily[group][1] += 1
        daily[group][2] += done
        heard = bucket_listens(v.intervals, rule.bucket_seconds)
        for bucket, listens in heard.items():
            curve[(*group, bucket)][0] += 1
            curve[(*group, bucket)][1] += listens
        for bucket in heard:
            if bucket + 1 not in heard:
                leaving[(*group, bucket)] += 1
                ending[(*group, bucket)] += bucket == max(heard)
    return {
        "consumption_by_bucket": sorted((c, src, d, b, n, m)
                                        for (c, src, d, b), (n, m) in curve.items()),
        "drop_off": sorted((c, d, src, b, n, ending[(c, src, d, b)])
                           for (c, src, d, b), n in leaving.items()),
        "clip_daily": sorted((c, d, src, n, k, done)
                             for (c, src, d), (n, k, done) in daily.items()),
        "session_consumption": sorted(per_session),
        "sessions": sorted(row[:2] for row in per_session),
    }


def actual(client: Client, db: str, organization: str) -> dict[str, list[tuple[Any, ...]]]:
    queries = {
        "consumption_by_bucket": "SELECT clip_id, source, day, bucket, listeners, listens "
                                 "FROM {db}.consumption_by_bucket",
        "drop_off": "SELECT clip_id, day, source, bucket, leaving, ending FROM {db}.drop_off",
        "clip_daily": "SELECT clip_id, day, source, sessions, kept_sessions, completed_sessions "
                      "FROM {db}.clip_daily",
        "session_consumption": "SELECT session_id, kept, completed "
                               "FROM {db}.session_consumption",
        "sessions": "SELECT session_id, kept FROM {db}.sessions",
    }
    return {name: sorted(tuple(r) for r in client.query(
        q.format(db=db) + " WHERE organization_id = {org:String}",
        parameters={"org": organization}).result_rows) for name, q in queries.items()}


def retention_matches(client: Client, db: str, organization: str,
                      figures: dict[str, list[tuple[Any, ...]]]) -> None:
    kept = {(c, src, d): k for c, d, src, _, k, _ in figures["clip_daily"]}
    rows = client.query(f"SELECT clip_id, source, day, bucket, listeners, kept_sessions "
                        f"FROM {db}.retention_curve WHERE organization_id = {{org:String}}",
                        parameters={"org": organization}).result_rows
    assert sorted((c, src, d, b, n) for c, src, d, b, n, _ in rows) == [
        row[:5] for row in figures["consumption_by_bucket"]]
    assert all(k == kept[(c, src, d)] for c, src, d, _, _, k in rows)


@settings(max_examples=examples(12), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(generated=sessions_strategy, first=entries_strategy, change=rules_strategy,
       change_day=st.integers(0, DAYS - 1), built=st.sets(st.integers(0, DAYS - 1)))
def test_views_apply_the_rule_in_effect_and_restate_exactly(
        warehouse: tuple[Client, str], generated: list[Session],
        first: list[tuple[str, int, Rule]], change: Rule, change_day: int,
        built: set[int]) -> None:
    client, db = warehouse
    org = f"org-{uuid.uuid4().hex[:8]}"
    client.insert(f"{db}.session_versions", session_rows(org, generated),
                  column_names=list(COLUMNS))
    entries: dict[tuple[str, date], RuleEntry] = {}

    def check() -> None:
        figures = expected(org, generated, list(entries.values()))
        assert actual(client, db, org) == figures
        retention_matches(client, db, org, figures)

    check()  # no rule: exactly the stored figures
    for source, day, rule in first:
        entry = RuleEntry(org, source, FIRST_DAY + timedelta(days=day), rule)
        set_rule(client, db, entry, "test", settle_seconds=0)
        entries[(source, entry.effective_day)] = entry
    check()
    for day in sorted(built):
        rollups.build_day(client, db, org, FIRST_DAY + timedelta(days=day), settle_seconds=0)
    check()  # rollups built under the rules read the same

    entry = RuleEntry(org, "", FIRST_DAY + timedelta(days=change_day), change)
    restated = set_rule(client, db, entry, "test", settle_seconds=0)
    before = {("", entry.effective_day): entries.get(("", entry.effective_day))}
    entries[("", entry.effective_day)] = entry
    check()  # the rebuilt days and the live ones follow the new rule
    assert stale_days(client, db, org) == []
    if before[("", entry.effective_day)] != entry:
        assert restated is not None
        assert list(restated.days_rebuilt) == sorted(
            FIRST_DAY + timedelta(days=d) for d in built if d >= change_day)
    logged = len(list_restatements(client, db, org))
    assert set_rule(client, db, entry, "test", settle_seconds=0) is None  # idempotent
    assert len(list_restatements(client, db, org)) == logged
    check()


def test_an_interrupted_restatement_reads_the_day_per_session_and_is_finished_by_a_repeat(
        warehouse: tuple[Client, str]) -> None:
    """A restatement that stopped before its rebuild leaves exact figures, read per session."""
    client, db = warehouse
    org = f"org-{uuid.uuid4().hex[:8]}"
    short = [Session("c1", "Web", (Version(0, _intervals([(0.0, 20.0)])),), False)]
    client.insert(f"{db}.session_versions", session_rows(org, short), column_names=list(COLUMNS))
    rollups.build_day(client, db, org, FIRST_DAY, settle_seconds=0)
    assert actual(client, db, org)["clip_daily"] == [("c1", FIRST_DAY, "Web", 1, 1, 0)]
    # What set_rule does before its rebuild: the day's marker, then the rule.
    mark_days(client, db, org, FIRST_DAY)
    assert actual(client, db, org)["clip_daily"] == [("c1", FIRST_DAY, "Web", 1, 1, 0)]
    assert stale_days(client, db, org) == [FIRST_DAY]
    client.command(f"INSERT INTO {db}.qualifying_rules (organization_id, source, effective_day, "
                   "min_session_seconds, completion_threshold, bucket_seconds, set_at, set_by) "
                   f"SELECT '{org}', '', toDate('{FIRST_DAY}'), 30, 0.95, 1, now64(3), 'x'")
    assert actual(client, db, org)["clip_daily"] == [("c1", FIRST_DAY, "Web", 1, 0, 0)]
    # Setting it again finishes the restatement: the day is rebuilt and logged.
    again = set_rule(client, db, RuleEntry(org, "", FIRST_DAY, Rule(30.0, 0.95, 1)), "test",
                     settle_seconds=0)
    assert again is not None and again.days_rebuilt == (FIRST_DAY,)
    assert stale_days(client, db, org) == []
    assert actual(client, db, org)["clip_daily"] == [("c1", FIRST_DAY, "Web", 1, 0, 0)]
    [(newest,)] = client.query(
        f"SELECT argMax(build, (usable_from, build)) FROM {db}.rollup_days "
        "WHERE organization_id = {o:String}", parameters={"o": org}).result_rows
    assert newest == again.builds[0]


def test_a_marker_outlasts_a_build_still_settling(warehouse: tuple[Client, str]) -> None:
    client, db = warehouse
    org = f"org-{uuid.uuid4().hex[:8]}"
    short = [Session("c1", "Web", (Version(0, _intervals([(0.0, 20.0)])),), False)]
    client.insert(f"{db}.session_versions", session_rows(org, short), column_names=list(COLUMNS))
    rollups.build_day(client, db, org, FIRST_DAY, settle_seconds=0)
    rollups.build_day(client, db, org, FIRST_DAY, settle_seconds=3600)  # usable in an hour
    mark_days(client, db, org, FIRST_DAY)
    [(newest, markers)] = client.query(
        f"SELECT argMax(build, (usable_from, build)), countIf(build = 0) FROM {db}.rollup_days "
        "WHERE organization_id = {o:String}", parameters={"o": org}).result_rows
    assert (newest, markers) == (0, 2)
