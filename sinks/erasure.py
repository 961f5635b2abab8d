"""Erases a subject from the warehouse: its sessions' rows, the rollups summing them, an audit row.

``survey`` finds what belongs to the subject (sinks/erasure_plan.py says what
that is) without changing anything, which is also what a dry run shows;
``erase`` deletes it, rebuilds every built day it touched, removes the
superseded builds of those days once the new ones are in use, and records
the erasure in ``erasures`` (m0009). The caller tells the workers first (the
control topic record), so no worker writes a session back after it is gone.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from control.records import ERASURE, ErasureRecord, session_digest
from sinks.client import utc
from sinks.erasure_plan import (
    ROLLUP_TABLES,
    Audit,
    Subject,
    SubjectKind,
    base_session,
    delete_statement,
    encode_rows,
    new_salt,
    purge_statement,
    session_predicate,
    session_tables,
    subject_predicate,
    summary,
)
from sinks.identifiers import check_database
from sinks.rollups import SETTLE_SECONDS, BuiltDay, record_build, write_build

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Survey:
    subject: Subject
    sessions: tuple[str, ...]  # base session ids: personal data, kept in memory only
    rows: dict[str, int]  # per table, rows of those sessions
    built_days: tuple[tuple[date, datetime | None], ...]  # built days touched, their through
    days: tuple[date, ...] = ()  # every day the sessions were on, built or not


def _parameters(subject: Subject, sessions: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"org": subject.organization, "value": subject.value, "keys": list(subject.keys),
            "sessions": list(sessions)}


def _tables(client: Client, database: str, cluster: str = "") -> list[str]:
    # On a cluster, the Distributed tables: they count every shard's rows, and
    # their names are what the deletes add the local suffix to.
    engine = "Distributed" if cluster else "%MergeTree"
    rows = client.query(
        "SELECT table, groupArray(name) FROM system.columns WHERE database = {d:String} "
        "AND table IN (SELECT name FROM system.tables WHERE database = {d:String} "
        "AND engine LIKE {e:String}) GROUP BY table",
        parameters={"d": database, "e": engine}).result_rows
    return session_tables({row[0]: row[1] for row in rows})


def survey(client: Client, database: str, subject: Subject, cluster: str = "") -> Survey:
    """What the subject's erasure would remove; changes nothing."""
    check_database(database)
    db = database
    found = client.query(
        f"SELECT DISTINCT session_id FROM {db}.session_events WHERE {subject_predicate()}",
        parameters=_parameters(subject)).result_rows
    sessions = tuple(sorted({base_session(row[0]) for row in found}))
    parameters = _parameters(subject, sessions)
    rows: dict[str, int] = {}
    for table in _tables(client, db, cluster):
        count = client.query(f"SELECT count() FROM {db}.{table} WHERE {session_predicate()}",
                             parameters=parameters).result_rows[0][0]
        rows[table] = int(count)
    # Every day a version of a session was on: a built day summed whichever was newest.
    days = tuple(row[0] for row in client.query(
        f"SELECT DISTINCT day FROM (SELECT day FROM {db}.session_days "
        f"WHERE {session_predicate()} UNION ALL SELECT day FROM {db}.session_versions "
        f"WHERE {session_predicate()}) ORDER BY day", parameters=parameters).result_rows)
    return Survey(subject, sessions, rows, _built(client, db, subject.organization, days), days)


def _built(client: Client, db: str, organization: str, days: tuple[date, ...],
           before: int | None = None) -> tuple[tuple[date, datetime | None], ...]:
    """Which of ``days`` are built (with their newest build's through); with ``before``,
    only those whose newest build began before that instant (ns)."""
    rows = client.query(
        f"SELECT day, argMax(through, (usable_from, build)) FROM {db}.rollup_days "
        "WHERE organization_id = {org:String} AND day IN {days:Array(Date)} GROUP BY day "
        "HAVING {before:Nullable(UInt64)} IS NULL "
        "OR argMax(build, (usable_from, build)) < {before:Nullable(UInt64)} ORDER BY day",
        parameters={"org": organization, "days": list(days), "before": before}).result_rows
    return tuple((row[0], row[1]) for row in rows)


def audit_of(found: Survey, requested_by: str, requested_at: datetime,
             request_id: str | None = None, dry_run: bool = True) -> Audit:
    return Audit(request_id=request_id or uuid.uuid4().hex,
                 organization=found.subject.organization, subject_kind=found.subject.kind,
                 requested_by=requested_by, requested_at=requested_at, finished_at=None,
                 dry_run=dry_run, sessions=len(found.sessions), rows=dict(found.rows),
                 days_rebuilt=[day for day, _ in found.built_days], state_record="")


def erase(client: Client, database: str, found: Survey, audit: Audit,
          progress: Progress = lambda _: None,
          settle_seconds: float = SETTLE_SECONDS, cluster: str = "") -> Audit:
    """Delete what ``survey`` found, rebuild the built days it touched, record ``audit``."""
    check_database(database)
    db, org = database, found.subject.organization
    parameters = _parameters(found.subject, found.sessions)
    if found.sessions:
        for table in sorted(found.rows):
            progress(f"deleting {found.rows[table]} row(s) from {table}")
            client.command(delete_statement(db, table, cluster), parameters=parameters)
    deleted = time.time_ns()
    # Also a day a concurrent `playhead rollup` built from what it read before the
    # deletes (a build id is its start in ns): its build sums the erased sessions.
    late = [pair for pair in _built(client, db, org, found.days, deleted)
            if pair[0] not in {day for day, _ in found.built_days}]
    rebuilt: list[BuiltDay] = []
    for day, through in (*found.built_days, *late):
        progress(f"rebuilding the rollup of {day.isoformat()}")
        build = time.time_ns()
        sessions = write_build(client, db, org, day, build)
        built = BuiltDay(org, day, build, sessions)
        record_build(client, db, built, through, settle_seconds)
        rebuilt.append(built)
    if rebuilt:
        # The views switch to the new builds once settled (m0101); the old ones
        # summed the subject's sessions, so they go then, not before.
        progress(f"waiting {settle_seconds:.0f} s for the rebuilt days to be in use")
        time.sleep(settle_seconds)
        for built in rebuilt:
            for table in ROLLUP_TABLES:
                client.command(purge_statement(db, table, cluster),
                               parameters={"org": org, "day": built.day, "build": built.build})
    done = replace(audit, finished_at=datetime.now(UTC), dry_run=False,
                   days_rebuilt=sorted(built.day for built in rebuilt))
    client.insert(f"{db}.erasures", [[
        done.organization, done.requested_at, done.request_id, str(done.subject_kind),
        done.requested_by, done.finished_at, done.sessions, encode_rows(done.rows),
        list(done.days_rebuilt), done.state_record]],
        column_names=["organization_id", "requested_at", "request_id", "subject_kind",
                      "requested_by", "finished_at", "sessions", "rows", "days_rebuilt",
                      "state_record"])
    return done


# How long a published erasure record takes to reach every worker: the control
# follower polls twice a second; a wide margin costs the operator seconds.
GRACE_SECONDS = 5.0


def state_record(found: Survey, request_id: str, now: float, salt: str) -> ErasureRecord:
    """The control record telling workers to drop the sessions' state; no identifier in it."""
    org = found.subject.organization
    return ErasureRecord(request_id, org, salt,
                         tuple(sorted(session_digest(salt, org, s) for s in found.sessions)),
                         now)


def run(client: Client, database: str, subject: Subject, requested_by: str,
        publish: Callable[[ErasureRecord], None], *, dry_run: bool = False,
        progress: Progress = lambda _: None, grace_seconds: float = GRACE_SECONDS,
        settle_seconds: float = SETTLE_SECONDS, cluster: str = "") -> Audit:
    """A whole erasure: survey, tell the workers, delete, rebuild, record.

    The workers are told first and given ``grace_seconds``: a worker that
    closed one of the sessions after its rows were deleted would write it back.
    """
    requested_at = datetime.now(UTC)
    progress("looking for the subject's sessions")
    found = survey(client, database, subject, cluster)
    audit = audit_of(found, requested_by, requested_at, dry_run=dry_run)
    if dry_run:
        progress(summary(audit))
        return audit
    # Issued as of the deletes, not of now: a session the subject's player changes
    # during the grace time, on a worker that has not read the record yet, still
    # holds the erased events, and its rows written meanwhile are deleted below.
    record = state_record(found, audit.request_id, time.time() + grace_seconds, new_salt())
    progress(f"telling the workers to drop {len(found.sessions)} session(s) from their state")
    publish(record)
    time.sleep(grace_seconds)
    done = erase(client, database, found, replace(audit, state_record=f"{ERASURE}/"
                                                  f"{record.request_id}"), progress,
                 settle_seconds, cluster)
    progress(summary(done))
    return done


def audits(client: Client, database: str, organization: str) -> list[Audit]:
    """The organization's recorded erasures, oldest first."""
    check_database(database)
    rows = client.query(
        f"SELECT request_id, subject_kind, requested_by, requested_at, finished_at, sessions, "
        f"rows, days_rebuilt, state_record FROM {database}.erasures "
        "WHERE organization_id = {org:String} ORDER BY requested_at, request_id",
        parameters={"org": organization}).result_rows
    return [Audit(request_id=r[0], organization=organization, subject_kind=SubjectKind(r[1]),
                  requested_by=r[2], requested_at=utc(r[3]), finished_at=utc(r[4]),
                  dry_run=False, sessions=int(r[5]), rows=json.loads(r[6]),
                  days_rebuilt=list(r[7]), state_record=r[8]) for r in rows]

