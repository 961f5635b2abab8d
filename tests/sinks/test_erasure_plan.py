"""What an erasure deletes and records, decided without a warehouse (sinks/erasure_plan.py)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from control.records import session_digest
from sinks.erasure_plan import (
    Audit,
    InvalidSubject,
    Subject,
    SubjectKind,
    base_session,
    delete_statement,
    purge_statement,
    session_tables,
    summary,
)


def test_a_late_part_belongs_to_its_session() -> None:
    assert base_session("abc:2026-03-01~2") == "abc:2026-03-01"
    assert base_session("abc:2026-03-01") == "abc:2026-03-01"
    assert base_session("a~b") == "a~b"  # not a part number: an id of its own


def test_every_table_with_session_rows_is_covered_whatever_its_name() -> None:
    tables = {"session_events": ["organization_id", "session_id", "attributes"],
              "rollup_daily": ["organization_id", "clip_id", "day"],
              "a_table_added_later": ["session_id", "organization_id", "x"]}
    assert session_tables(tables) == ["a_table_added_later", "session_events"]


def test_a_subject_needs_an_id_and_never_shows_it() -> None:
    with pytest.raises(InvalidSubject):
        Subject("org", SubjectKind.USER, " ")
    assert "secret-id" not in repr(Subject("org", SubjectKind.USER, "secret-id"))


def test_digests_are_salted_per_request() -> None:
    one = session_digest("salt-1", "org", "client:2026-03-01")
    assert one == session_digest("salt-1", "org", "client:2026-03-01")
    assert one != session_digest("salt-2", "org", "client:2026-03-01")
    assert "client" not in one


def test_the_audit_and_its_summary_hold_counts_not_identifiers() -> None:
    audit = Audit("req-1", "org", SubjectKind.CLIENT, "operator",
                  datetime(2026, 3, 5, tzinfo=UTC), None, True, 2,
                  {"session_events": 9, "session_versions": 3}, [date(2026, 3, 1)], "")
    text = summary(audit)
    assert "would remove 2 session(s)" in text and "session_events" in text
    assert "2026-03-01" in text
    assert json.loads(json.dumps(audit.to_json()))["rows"] == {"session_events": 9,
                                                               "session_versions": 3}


def test_on_a_cluster_every_shard_mutates_its_local_table() -> None:
    one = delete_statement("playhead", "session_events")
    assert one.startswith("ALTER TABLE playhead.session_events DELETE WHERE")
    many = delete_statement("playhead", "session_events", "analytics")
    assert many.startswith("ALTER TABLE playhead.session_events_local ON CLUSTER analytics "
                           "DELETE WHERE")
    assert "mutations_sync = 2" in many
    assert "{sessions:Array(String)}" in many  # ids bound as parameters, not in the text
    assert purge_statement("playhead", "rollup_days", "analytics").startswith(
        "ALTER TABLE playhead.rollup_days_local ON CLUSTER analytics DELETE WHERE")
    with pytest.raises(ValueError):
        delete_statement("playhead", "session_events", "bad name")
