"""The ``completeness`` view: least bound over every partition, NULL until all report.

Against the `playhead warehouse` server (the worker writes there).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from clickhouse_connect.driver.client import Client

from processors.completeness import SHARED, Bound
from processors.session import Rules, summarize
from schemas.event import EventKind, PlaybackEvent
from sinks.client import connect
from sinks.completeness import complete_through, watermarks, write_bounds
from sinks.migrate import migrate
from sinks.writer import ClickHouseSink

pytestmark = pytest.mark.integration  # the warehouse server

T = 1_800_000_000.0


@pytest.fixture
def client(warehouse_url: str) -> Client:
    return connect(warehouse_url)


@pytest.fixture
def database(client: Client) -> Iterator[str]:
    name = f"done_{uuid.uuid4().hex[:12]}"
    migrate(client, name)
    yield name
    client.command(f"DROP DATABASE IF EXISTS {name}")


def at(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, tz=UTC)


def test_the_watermark_waits_for_every_partition_and_takes_the_least(
        client: Client, database: str) -> None:
    assert complete_through(client, database, "acme") is None
    write_bounds(client, database, [Bound(0, 2, SHARED, T, T - 100),
                                    Bound(0, 2, "acme", T, T - 500)])
    assert complete_through(client, database, "acme") is None  # partition 1 said nothing
    write_bounds(client, database, [Bound(1, 2, SHARED, T + 1, T - 99)])
    assert complete_through(client, database, "acme") == at(T - 500)
    assert complete_through(client, database, "other") == at(T - 100)  # no sessions: shared
    # A later tick of partition 0 without a row for acme: its sessions there are final.
    write_bounds(client, database, [Bound(0, 2, SHARED, T + 5, T - 95)])
    assert complete_through(client, database, "acme") == at(T - 99)
    # A replay writing an older tick again changes nothing.
    write_bounds(client, database, [Bound(0, 2, SHARED, T, T - 100),
                                    Bound(0, 2, "acme", T, T - 500)])
    assert complete_through(client, database, "acme") == at(T - 99)
    client.command(f"OPTIMIZE TABLE {database}.completeness_bounds FINAL")
    assert complete_through(client, database, "acme") == at(T - 99)
    # More partitions than reported: nothing is known of the new one.
    write_bounds(client, database, [Bound(1, 3, SHARED, T + 6, T - 94)])
    assert complete_through(client, database, "acme") is None


def test_organizations_with_sessions_are_listed(client: Client, database: str) -> None:
    events = [PlaybackEvent(f"e{n}", "org-sink-test", "s1", "c1", "Web", kind, position, n,
                            T + n) for n, (kind, position) in
              enumerate([(EventKind.START, 0.0), (EventKind.STOP, 30.0)], 1)]
    ClickHouseSink(client, database).write([summarize(events, Rules())])
    write_bounds(client, database, [Bound(0, 1, SHARED, T, T - 10),
                                    Bound(0, 1, "busy", T, T - 60)])
    assert watermarks(client, database) == [
        ("busy", at(T - 60)), ("", at(T - 10)), ("org-sink-test", at(T - 10))]
