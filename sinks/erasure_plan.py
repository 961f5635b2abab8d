"""Erasure of a subject: what belongs to it, what is deleted, what is recorded (pure).

A *subject* is one user id, device id or client id within one organization.
Its *sessions* are every session of that organization in which any event
carries the id under one of the attribute names of its kind (``SUBJECT_KEYS``);
a session goes as a whole (every event, every part written after a late
event, every row derived from it), because the figures of a session are a
function of all of its events: keeping some of them would leave a session
the pipeline never saw. docs/semantics.md, "Erasure", gives the definition
and says where identifiers live.

Nothing here talks to ClickHouse or Kafka: ``sinks/erasure.py`` runs the
queries this module describes, and the CLI and the admin API call that.
"""

from __future__ import annotations

import enum
import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sinks.ddl import LOCAL_SUFFIX
from sinks.identifiers import check_cluster, check_database


class SubjectKind(enum.StrEnum):
    USER = "user"
    DEVICE = "device"
    CLIENT = "client"


# Where each dialect puts the ids (ingest/dialects): the short-video API's
# userId and deviceId go to ``user_id`` and ``device_id``, the music-clips API's
# clientId to ``clientId``; mParticle's custom attributes are passed through as
# the player named them, so both spellings of each are looked at.
SUBJECT_KEYS: Mapping[SubjectKind, tuple[str, ...]] = {
    SubjectKind.USER: ("user_id", "userId", "customer_id", "customerId"),
    SubjectKind.DEVICE: ("device_id", "deviceId"),
    SubjectKind.CLIENT: ("clientId", "client_id"),
}

# Tables with rows per session (organization_id + session_id): the subject's
# rows are deleted from each. Found from the schema, so a table added later
# with those two columns is covered without a change here.
SESSION_COLUMNS = frozenset({"organization_id", "session_id"})
# Rollup tables hold a built day's sums (no identifier): a day touched by an
# erasure is built again and the superseded builds' rows are deleted.
ROLLUP_TABLES = ("rollup_steps", "rollup_daily", "rollup_moved", "rollup_days")

_PART = re.compile(r"^(?P<base>.+)~(?P<n>[0-9]+)$")


class InvalidSubject(ValueError):
    """The request names no usable subject; the message says what is missing."""


@dataclass(frozen=True, slots=True)
class Subject:
    organization: str
    kind: SubjectKind
    value: str = field(repr=False)  # personal data: never logged, never recorded

    def __post_init__(self) -> None:
        if not self.organization:
            raise InvalidSubject("an erasure needs the organization")
        if not self.value or not self.value.strip():
            raise InvalidSubject(f"an erasure needs the {self.kind} id to erase")

    @property
    def keys(self) -> tuple[str, ...]:
        return SUBJECT_KEYS[self.kind]


def base_session(session_id: str) -> str:
    """The session a stored row belongs to: a late part ``<id>~<n>`` belongs to ``<id>``
    (processors/session.py, part_id)."""
    match = _PART.match(session_id)
    return match.group("base") if match else session_id


def session_tables(columns: Mapping[str, Iterable[str]]) -> list[str]:
    """The tables (name -> column names) whose rows belong to sessions."""
    return sorted(name for name, names in columns.items() if set(names) >= SESSION_COLUMNS)


def session_predicate() -> str:
    """The WHERE clause of a session table's rows of the subject's sessions.

    Parameters ``org`` and ``sessions`` (base ids) are bound by the server, so
    identifiers embedded in session ids never appear in the query's text.
    """
    return ("organization_id = {org:String} AND (session_id IN {sessions:Array(String)} "
            "OR arrayExists(b -> startsWith(session_id, concat(b, '~')) "
            "AND match(substring(session_id, length(b) + 2), '^[0-9]+$'), "
            "{sessions:Array(String)}))")


def subject_predicate() -> str:
    """The WHERE clause of ``session_events`` rows carrying the subject's id (``org``,
    ``value``, ``keys`` bound by the server)."""
    return ("organization_id = {org:String} "
            "AND arrayExists(k -> attributes[k] = {value:String}, {keys:Array(String)})")


def _target(database: str, table: str, cluster: str) -> str:
    # On a cluster the rows live in each shard's local table (sinks/cluster.py):
    # a mutation of the Distributed table is refused, so every replica of every
    # shard mutates its own.
    check_database(database)
    if cluster:
        check_cluster(cluster)
    return (f"{database}.{table}{LOCAL_SUFFIX} ON CLUSTER {cluster}" if cluster
            else f"{database}.{table}")


def delete_statement(database: str, table: str, cluster: str = "") -> str:
    # A mutation rewrites the parts holding the rows, so the bytes go too (a
    # lightweight DELETE only masks them until a merge); 2: wait for every replica.
    return (f"ALTER TABLE {_target(database, table, cluster)} DELETE WHERE "
            f"{session_predicate()} SETTINGS mutations_sync = 2")


def purge_statement(database: str, table: str, cluster: str = "") -> str:
    """Delete the builds of a rebuilt day other than the new one (``org``, ``day``, ``build``)."""
    return (f"ALTER TABLE {_target(database, table, cluster)} DELETE WHERE "
            "organization_id = {org:String} AND day = {day:Date} AND build != {build:UInt64} "
            "SETTINGS mutations_sync = 2")


def new_salt() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class Audit:
    """What is recorded of one erasure: who asked, when, what was removed; no identifier."""

    request_id: str
    organization: str
    subject_kind: SubjectKind
    requested_by: str
    requested_at: datetime
    finished_at: datetime | None
    dry_run: bool
    sessions: int
    rows: Mapping[str, int]
    days_rebuilt: Sequence[date]
    state_record: str  # the control topic key workers applied it from ('' on a dry run)

    def to_json(self) -> dict[str, object]:
        return {"requestId": self.request_id, "organization": self.organization,
                "subjectKind": str(self.subject_kind), "requestedBy": self.requested_by,
                "requestedAt": self.requested_at.isoformat(),
                "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
                "dryRun": self.dry_run, "sessions": self.sessions,
                "rows": dict(sorted(self.rows.items())),
                "daysRebuilt": [d.isoformat() for d in self.days_rebuilt],
                "stateRecord": self.state_record}


def summary(audit: Audit) -> str:
    """The lines a person reads after an erasure (or a dry run)."""
    verb = "would remove" if audit.dry_run else "removed"
    lines = [f"erasure {audit.request_id} of a {audit.subject_kind} id in organization "
             f"{audit.organization}: {verb} {audit.sessions} session(s)"]
    for table, count in sorted(audit.rows.items()):
        lines.append(f"  {table:<24} {count:>8} row(s)")
    if audit.days_rebuilt:
        days = ", ".join(d.isoformat() for d in audit.days_rebuilt)
        lines.append(f"  rollups {'to rebuild' if audit.dry_run else 'rebuilt'}: {days}")
    if not audit.dry_run:
        lines.append(f"  recorded in erasures (requested by {audit.requested_by}); workers "
                     f"dropped the sessions' state from control record {audit.state_record}")
    elif audit.sessions == 0:
        lines.append("  nothing carries this id in this organization")
    return "\n".join(lines)


def encode_rows(rows: Mapping[str, int]) -> str:
    return json.dumps(dict(sorted(rows.items())), sort_keys=True)
