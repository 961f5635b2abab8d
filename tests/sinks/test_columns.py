"""The sink's column builders write exactly what the row builders did.

``sinks.columns`` replaced ``sinks.rows`` on the write path for speed; the
rows stay as the reference. Three levels of proof: the ticks of event
timestamps, the Native bytes clickhouse-connect builds from each, and what
the tables hold after writing the same batch both ways.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.insert import InsertContext
from clickhouse_connect.driver.transform import NativeTransform

from processors.session import Rules, SessionResult, summarize
from schemas.event import Action, EventKind, PlaybackEvent
from sinks.client import connect
from sinks.columns import content_columns, event_columns, millis_column, session_columns
from sinks.migrate import migrate
from sinks.rows import (
    CONTENT_COLUMNS,
    EVENT_COLUMNS,
    SESSION_COLUMNS,
    content_rows,
    event_rows,
    session_rows,
)
from sinks.writer import ClickHouseSink, refuses_content

TABLES = (("content_events", CONTENT_COLUMNS, content_rows, content_columns),
          ("session_events", EVENT_COLUMNS, event_rows, event_columns),
          ("session_versions", SESSION_COLUMNS, session_rows, session_columns))
STEPS = [(EventKind.START, Action.PLAY, 0.0), (EventKind.OTHER, Action.CLIP_PLAY, 0.0),
         (EventKind.OTHER, Action.STARTUP, 0.0), (EventKind.HEARTBEAT, Action.PROGRESS, 10.0),
         (EventKind.SEEK, Action.SEEK, 12.0), (EventKind.OTHER, Action.LIKE, 40.0),
         (EventKind.STOP, Action.PAUSE, 41.0), (EventKind.OTHER, Action.SHARE, 41.0),
         (EventKind.START, Action.RESUME, 90.0), (EventKind.STOP, Action.END, 160.0)]


def batch(count: int, seed: int = 7) -> list[SessionResult]:
    """Closed sessions with content, quality, seeks, attributes and sub-millisecond times."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        sid = f"s{n}-ü"
        start = rng.uniform(0, 4.1e9) if n % 3 else 1.7e9 + n + rng.choice((0.0005, 0.9995))
        steps = STEPS[: rng.randint(1, len(STEPS))]
        events = [
            PlaybackEvent(
                str(uuid.UUID(int=rng.getrandbits(128))), f"org{n % 4}", sid, f"clip{n % 3}",
                rng.choice(("Web", "MobileApp")), kind, position + rng.random(), seq,
                start + seq * rng.uniform(0.0001, 9), action=action.value,
                seek_to_seconds=position + 30 if kind == EventKind.SEEK else None,
                value_ms=rng.randint(1, 5000) if action == Action.STARTUP else None,
                clip_length_seconds=rng.choice((None, 180.0)),
                attributes=({"platform": "ios", "method": "link", "rights": "denied"}
                            if rng.random() < 0.3 else {}))
            for seq, (kind, action, position) in enumerate(steps, 1)]
        out.append(summarize(events, Rules()))
    return out


def native(column_types: Sequence[Any], names: Sequence[str], data: Sequence[Sequence[Any]],
           *, column_oriented: bool) -> bytes:
    context = InsertContext("t", list(names), list(column_types), data=data,
                            column_oriented=column_oriented)
    return b"".join(NativeTransform.build_insert(context))


@pytest.mark.parametrize("seed", range(5))
def test_event_ticks_are_the_ones_clickhouse_connect_computes_from_the_datetime(
    seed: int
) -> None:
    rng = random.Random(seed)
    stamps = [rng.uniform(0, 4.1e9) for _ in range(20_000)]
    # Half-way fractions, where rounding to microseconds and then flooring to
    # milliseconds could part ways.
    stamps += [whole + k / 2e6 for whole in (0, 1.7e9, 4.1e9) for k in range(0, 4001)]
    stamps += [round(s, 3) for s in stamps[:2000]] + [round(s, 6) for s in stamps[:2000]]
    kind = [get_from_name("DateTime64(3, 'UTC')")]
    assert native(kind, ["t"], [millis_column(stamps)], column_oriented=True) == native(
        kind, ["t"], [[datetime.fromtimestamp(s, tz=UTC) for s in stamps]],
        column_oriented=True)


EVENT_TYPES = ("String", "String", "String", "String", "UInt64", "DateTime64(3, 'UTC')",
               "LowCardinality(String)", "LowCardinality(String)", "Float64",
               "Nullable(Float64)", "Map(String, String)", "UInt64")


@pytest.mark.parametrize(("field", "value"), [
    ("event_id", "a\ud800"), ("attributes", {"k": "\udcff"}), ("action", "x\ud800"),
    ("sequence_number", 2**64), ("sequence_number", -1)])
def test_a_value_the_column_cannot_hold_is_refused_the_same_way(field: str, value: Any) -> None:
    """The flusher isolates refused sessions by the error (sinks.writer.refuses_content)."""
    results = batch(3)
    first = dataclasses.replace(results[1].timeline[0], **{field: value})
    results[1] = dataclasses.replace(results[1], timeline=(first, *results[1].timeline[1:]))
    kinds = [get_from_name(name) for name in EVENT_TYPES]
    refused = []
    for data, oriented in ((event_rows(results), False), (event_columns(results), True)):
        assert data is not None
        context = InsertContext("t", list(EVENT_COLUMNS), kinds, data=data,
                                column_oriented=oriented)
        try:
            b"".join(NativeTransform.build_insert(context))
        except Exception as err:  # noqa: BLE001 (either way of failing is compared)
            context.insert_exception = err
        refused.append(context.insert_exception)
    assert refused[0] is not None
    assert repr(refused[0]) == repr(refused[1])
    assert refuses_content(refused[0]) and refuses_content(refused[1])


@pytest.fixture
def database(warehouse_url: str) -> Iterator[tuple[Client, str]]:
    client = connect(warehouse_url)
    name = f"columns_{uuid.uuid4().hex[:12]}"
    migrate(client, name)
    yield client, name
    client.command(f"DROP DATABASE IF EXISTS {name}")


@pytest.mark.integration
def test_the_native_blocks_are_byte_for_byte_those_of_the_rows(
    database: tuple[Client, str]
) -> None:
    client, db = database
    results = batch(300)
    for table, names, rows, columns in TABLES:
        types = client.create_insert_context(f"{db}.{table}", list(names)).column_types
        built = columns(results)
        assert built is not None
        assert native(types, names, built, column_oriented=True) == native(
            types, names, rows(results), column_oriented=False), table


@pytest.mark.integration
def test_a_batch_written_both_ways_leaves_the_same_rows_in_every_table(
    database: tuple[Client, str]
) -> None:
    client, db = database
    reference = f"{db}_rows"
    migrate(client, reference)
    try:
        results = batch(200, seed=11)
        sink = ClickHouseSink(client, db)
        for part in (results[:120], results[120:], results[:50]):  # the last: a replay
            sink.write(part)
            for table, names, rows, _ in TABLES:
                if made := rows(part):
                    client.insert(f"{reference}.{table}", made, column_names=list(names))
        for table, names, _, _ in TABLES:
            order = ", ".join(names[:6])
            held = [client.query(f"SELECT * FROM {d}.{table} FINAL ORDER BY {order}").result_rows
                    for d in (db, reference)]
            assert held[0] == held[1], table
            assert held[0], table
    finally:
        client.command(f"DROP DATABASE IF EXISTS {reference}")
